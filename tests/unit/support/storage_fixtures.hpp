// Test support for the storage tests: module version files as modzip hands them over
// (with a real zip), and small file helpers.
#pragma once

#include <gtest/gtest.h>
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::testing {

namespace storage_fs = std::filesystem;
using storage::VersionFiles;

inline std::string ReadAll(const storage_fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void WriteAll(const storage_fs::path& p, const std::string& data) {
  storage_fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// A real zip holding `files` (name -> contents), written with libzip.
inline void MakeZip(const storage_fs::path& p, const std::map<std::string, std::string>& files) {
  int err = 0;
  storage_fs::remove(p);
  zip_t* z = zip_open(p.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, data] : files) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    zip_int64_t idx = zip_file_add(z, name.c_str(), s, 0);
    ASSERT_GE(idx, 0);
    // A fixed time, so that the same files always give the same bytes.
    ASSERT_EQ(zip_file_set_dostime(z, static_cast<zip_uint64_t>(idx), 0, (1 << 5) | 1, 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

// Module files as modzip would hand them over; the zip is real, its sum made up (the
// storage layer only reports it).
class Fabricator {
 public:
  explicit Fabricator(const storage_fs::path& dir) : dir_(dir) {}
  VersionFiles Make(const std::string& path, const std::string& version,
                    const std::string& flavor = "") {
    VersionFiles f;
    f.path = path;
    f.version = version;
    f.mod = "module " + path + "\n\ngo 1.19\n" + flavor;
    f.info = R"({"Version":")" + version + R"(","Time":"2024-01-02T03:04:05Z"})";
    f.zip = dir_ / (std::to_string(counter_++) + ".zip");
    MakeZip(f.zip, {{path + "@" + version + "/go.mod", f.mod},
                    {path + "@" + version + "/x.go", "package x\n// " + flavor + "\n"}});
    f.sum = "h1:fake-zip-" + version + "-" + flavor;
    f.gomod_sum = dirhash::HashGoMod(path, version, f.mod);
    return f;
  }

 private:
  storage_fs::path dir_;
  int counter_ = 0;
};

// Files under `root`, relative, sorted; modpub's lock files left out.
inline std::vector<std::string> Tree(const storage_fs::path& root) {
  std::vector<std::string> out;
  if (!storage_fs::exists(root)) return out;
  for (const auto& e : storage_fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().filename() == ".modpub.lock") continue;
    out.push_back(e.path().lexically_relative(root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace modpub::testing
