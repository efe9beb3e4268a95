// Fuzzes what `modpub verify` does with a zip it fetched (storage/local_part.hpp HashZip,
// the h1 of the zip's entries; publish/verify.cpp compares it with the signed one), and
// the module-zip file rules (zipcheck::CheckFiles) over the entries' names and sizes.
// The input is the zip file's bytes, written to a memory file (memfd) that HashZip opens
// by name, as it opens a downloaded zip.
// Invariants: an h1 is "h1:" + 44 base64 characters; it equals the h1 of the entries read
// independently from the same bytes in memory; CheckFiles reports no path twice and only
// paths it was given.
#include <sys/mman.h>
#include <unistd.h>
#include <zip.h>

#include <set>

#include "fuzz_support.hpp"
#include "modpub/dirhash/dirhash.hpp"
#include "modpub/storage/local_part.hpp"
#include "modpub/zipcheck/zipcheck.hpp"

using namespace modpub;

namespace {

// The memory file the input is written to; its /proc/self/fd name is what HashZip opens.
int MemFile() {
  static const int fd = [] {
    int f = memfd_create("fuzz.zip", MFD_CLOEXEC);
    if (f < 0) fuzz::Broken(__FILE__, __LINE__, "memfd_create", "");
    return f;
  }();
  return fd;
}

struct Entries {
  bool ok = false;
  std::vector<dirhash::FileDigest> digests;
  std::vector<zipcheck::File> files;
};

// The entries of the zip in `bytes`, read from memory (no file involved).
Entries ReadInMemory(std::string_view bytes) {
  Entries out;
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  zip_error_fini(&err);
  if (!src) return out;
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, nullptr);
  if (!za) {
    zip_source_free(src);
    return out;
  }
  out.ok = true;
  const zip_int64_t n = zip_get_num_entries(za, 0);
  std::vector<char> buf(64 * 1024);
  for (zip_int64_t i = 0; i < n && out.ok; ++i) {
    const auto idx = static_cast<zip_uint64_t>(i);
    const char* name = zip_get_name(za, idx, ZIP_FL_ENC_RAW);
    zip_file_t* zf = name ? zip_fopen_index(za, idx, 0) : nullptr;
    if (!zf) {
      out.ok = false;
      break;
    }
    dirhash::Sha256 h;
    std::uint64_t size = 0;
    for (zip_int64_t r; (r = zip_fread(zf, buf.data(), buf.size())) != 0;) {
      if (r < 0) {
        out.ok = false;
        break;
      }
      h.Update(buf.data(), static_cast<std::size_t>(r));
      size += static_cast<std::uint64_t>(r);
    }
    zip_fclose(zf);
    out.digests.push_back({name, h.Finish()});
    out.files.push_back({name, zipcheck::FileKind::kRegular, size});
  }
  zip_discard(za);
  return out;
}

void CheckFileRules(const std::vector<zipcheck::File>& files) {
  std::set<std::string> given;
  for (const auto& f : files) given.insert(f.path);
  const zipcheck::CheckedFiles checked = zipcheck::CheckFiles(files);
  std::set<std::string> seen;
  for (const auto& p : checked.valid) {
    FUZZ_CHECK(given.count(p) && seen.insert(p).second, p);
  }
  for (const auto* list : {&checked.omitted, &checked.invalid}) {
    for (const auto& e : *list) {
      FUZZ_CHECK(given.count(e.path) && !e.reason.empty(), e.path);
    }
  }
  FUZZ_CHECK(checked.ok() == checked.Problems().empty(), std::to_string(files.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const int fd = MemFile();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, in.data(), in.size(), 0) != static_cast<ssize_t>(size)) {
    fuzz::Broken(__FILE__, __LINE__, "writing the memory file", "");
  }
  auto h1 = storage::local::HashZip("/proc/self/fd/" + std::to_string(fd));
  const Entries mem = ReadInMemory(in);
  if (h1) {
    FUZZ_CHECK(h1->starts_with("h1:") && h1->size() == 47, *h1);
    FUZZ_CHECK(mem.ok, *h1);
    auto again = dirhash::Hash1(mem.digests);
    FUZZ_CHECK(again && *again == *h1, *h1);
  }
  if (mem.ok) CheckFileRules(mem.files);
  return 0;
}
