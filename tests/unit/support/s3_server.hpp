// Test support: ../shared/s3-test-server (a strict S3 server: SigV4, conditional writes,
// fault injection) started on a free loopback port for the duration of an object, and
// stopped by its PID. Absent server or python → Available() is false and tests skip.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_repo.hpp"

extern char** environ;

namespace modpub::testing {

inline constexpr char kS3AccessKey[] = "modpub-test-access";
inline constexpr char kS3SecretKey[] = "modpub-test-secret";
inline constexpr char kS3Bucket[] = "modules";

// Where s3d.py is: $MODPUB_S3D, else ../shared/s3-test-server beside the source tree
// (or /work/shared); empty when absent.
inline std::filesystem::path S3dScript() {
  // Set (even to a missing file, to test the skip): that one only.
  if (const char* e = std::getenv("MODPUB_S3D")) {
    return std::filesystem::exists(e) ? std::filesystem::path(e) : std::filesystem::path();
  }
  auto repo =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  for (const auto& p : {repo.parent_path() / "shared/s3-test-server/s3d.py",
                        std::filesystem::path("/work/shared/s3-test-server/s3d.py")}) {
    if (std::filesystem::exists(p)) return p;
  }
  return {};
}

inline std::filesystem::path Python() {
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

// Why S3 tests cannot run here, or "" when they can.
inline std::string S3Unavailable() {
  if (S3dScript().empty()) return "../shared/s3-test-server/s3d.py is absent";
  if (Python().empty()) return "python3 is missing";
  return "";
}

class S3TestServer {
 public:
  // Extra flags such as {"--fail-rate", "0.2"}.
  explicit S3TestServer(std::vector<std::string> extra = {}) {
    if (!S3Unavailable().empty()) return;
    auto port_file = dir_.path() / "port";
    std::vector<std::string> args = {Python().string(), S3dScript().string(),
                                     "--root",          (dir_.path() / "data").string(),
                                     "--port",          "0",
                                     "--port-file",     port_file.string(),
                                     "--access-key",    kS3AccessKey,
                                     "--secret-key",    kS3SecretKey,
                                     "--bucket",        kS3Bucket};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(port_file);
    in >> port_;
  }
  ~S3TestServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;

  bool running() const { return pid_ > 0 && port_ > 0; }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Sets the AWS_* variables the backend reads (process-wide: tests only).
  static void UseTestCredentials() {
    ::setenv("AWS_ACCESS_KEY_ID", kS3AccessKey, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", kS3SecretKey, 1);
    ::unsetenv("AWS_SESSION_TOKEN");
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace modpub::testing
