// Test support: a throwaway git repository built with the real git CLI.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace modpub::testing {

// Runs a shell command; fails the current test if it exits non-zero.
inline void Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "command failed: " << cmd;
}

// Runs a shell command and returns its standard output; fails the test on error.
inline std::string Capture(const std::string& cmd) {
  std::string out;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run: " << cmd;
    return out;
  }
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << "command failed: " << cmd;
  return out;
}

inline std::string Quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// A temporary directory removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "modpub-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A non-bare repository: write files, commit, tag.
class TempRepo {
 public:
  TempRepo() {
    Sh("git init -q -b main " + Quoted(dir_.path()));
    Git("config user.email t@example.com");
    Git("config user.name test");
  }
  const std::filesystem::path& path() const { return dir_.path(); }

  void Git(const std::string& args) {
    Sh("GIT_CONFIG_NOSYSTEM=1 GIT_COMMITTER_DATE='2024-01-02T03:04:05Z' "
       "GIT_AUTHOR_DATE='2024-01-02T03:04:05Z' git -C " +
       Quoted(dir_.path()) + " " + args + " >/dev/null");
  }
  void Write(const std::string& rel, const std::string& content) {
    auto p = dir_.path() / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  // The file at `rel` as `git archive` of HEAD writes it, run as the go command runs it
  // (no system or global configuration, `-c core.autocrlf=input -c core.eol=lf`).
  std::string Archived(const std::string& rel) {
    return Capture("GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C " +
                   Quoted(dir_.path()) +
                   " -c core.autocrlf=input -c core.eol=lf archive --format=tar HEAD -- '" + rel +
                   "' | tar -xOf -");
  }
  void Commit(const std::string& msg = "commit") {
    Git("add -A");
    Git("commit -q --allow-empty -m '" + msg + "'");
  }
  void Tag(const std::string& name, bool annotated = false) {
    Git(annotated ? "tag -a -m '" + name + "' " + name : "tag " + name);
  }

 private:
  TempDir dir_;
};

}  // namespace modpub::testing
