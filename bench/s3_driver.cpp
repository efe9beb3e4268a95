// Driver for bench/s3: calls the s3:// backend directly (no git, no zip building), so the
// benchmark measures storage alone. Built by bench/s3 against build/libmodpub_core.a.
//
//   s3_driver big   <url> <zip> [sha256]   one Put of <zip> as corp.example/big@v1.0.0;
//                                          with sha256 (hex), the zip's hash is known, as
//                                          `modpub publish` knows it from modzip::Build
//   s3_driver small <url> <n>       n Puts of small versions of corp.example/small
// Prints one JSON line: seconds, requests, bytes.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/s3.hpp"

using namespace modpub;

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 5 && std::string(argv[1]) == "big")) {
    std::fprintf(stderr, "usage: s3_driver big <url> <zip> [sha256] | small <url> <n>\n");
    return 2;
  }
  std::string mode = argv[1];
  auto b = storage::OpenBackend(argv[2]);
  if (!b) {
    std::fprintf(stderr, "%s\n", b.message().c_str());
    return 2;
  }
  auto* s3 = dynamic_cast<storage::S3Backend*>(b->get());
  if (!s3) return 2;
  auto make = [](const std::string& path, const std::string& version,
                 const std::filesystem::path& zip) {
    storage::VersionFiles f;
    f.path = path;
    f.version = version;
    f.mod = "module " + path + "\n\ngo 1.19\n";
    f.info = R"({"Version":")" + version + R"(","Time":"2024-01-02T03:04:05Z"})";
    f.zip = zip;
    f.sum = "h1:bench";
    f.gomod_sum = dirhash::HashGoMod(f.mod);
    return f;
  };
  auto start = std::chrono::steady_clock::now();
  std::uintmax_t bytes = 0;
  if (mode == "big") {
    storage::VersionFiles f = make("corp.example/big", "v1.0.0", argv[3]);
    if (argc == 5) f.zip_sha256 = argv[4];
    auto r = (*b)->Put(f);
    if (!r || r->outcome != storage::PutOutcome::kPublished) {
      std::fprintf(stderr, "%s\n", r ? r->message.c_str() : r.message().c_str());
      return 1;
    }
    bytes = std::filesystem::file_size(argv[3]);
  } else {
    int n = std::stoi(argv[3]);
    auto zip = std::filesystem::temp_directory_path() / "modpub-bench-small.zip";
    {
      // The smallest valid zip: an end-of-central-directory record.
      std::string eocd = std::string("PK\x05\x06", 4) + std::string(18, '\0');
      std::ofstream(zip, std::ios::binary) << eocd;
    }
    for (int i = 0; i < n; ++i) {
      auto r = (*b)->Put(make("corp.example/small", "v1.0." + std::to_string(i), zip));
      if (!r || r->outcome != storage::PutOutcome::kPublished) {
        std::fprintf(stderr, "%s\n", r ? r->message.c_str() : r.message().c_str());
        return 1;
      }
    }
    std::filesystem::remove(zip);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"seconds\": %.6f, \"requests\": %llu, \"bytes\": %llu}\n", secs,
              static_cast<unsigned long long>(s3->client().requests()),
              static_cast<unsigned long long>(bytes));
  return 0;
}
