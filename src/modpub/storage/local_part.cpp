#include "modpub/storage/local_part.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/fsio/env.hpp"

namespace modpub::storage::local {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 1 << 20;

std::string Errno(const fs::path& p, std::string_view what, int err) {
  return p.string() + ": " + std::string(what) + ": " + std::strerror(err);
}

// Reads up to n bytes, fewer only at end of file.
Result<std::size_t> ReadFull(int fd, char* buf, std::size_t n, const fs::path& p) {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno(p, "read", errno));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

// Opens a stored part for comparison: nullopt if absent; the fd and size otherwise. A
// non-regular file (directory, socket, symlink) is reported through `is_regular`.
struct Opened {
  fsio::UniqueFd fd;
  std::uint64_t size = 0;
  bool is_regular = false;
};
Result<std::optional<Opened>> OpenStored(const fs::path& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<Opened>();
    return Fail(Errno(p, "stat", errno));
  }
  Opened o;
  if (!S_ISREG(st.st_mode)) return std::optional<Opened>(std::move(o));
  o.fd = fsio::UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!o.fd) return Fail(Errno(p, "open", errno));
  o.size = static_cast<std::uint64_t>(st.st_size);
  o.is_regular = true;
  return std::optional<Opened>(std::move(o));
}

std::string Sha256OfFile(const fs::path& p) {
  fsio::UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::string("unreadable (") + std::strerror(errno) + ")";
  dirhash::Sha256 h;
  std::vector<char> buf(kChunk);
  for (;;) {
    auto n = ReadFull(fd.get(), buf.data(), buf.size(), p);
    if (!n) return "unreadable (" + n.message() + ")";
    if (*n == 0) break;
    h.Update(buf.data(), *n);
  }
  return "sha256:" + dirhash::Hex(h.Finish());
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

}  // namespace

// dirhash.HashZip: h1 over the files of a zip, named as stored.
Result<std::string> HashZip(const fs::path& p) {
  int zerr = 0;
  std::unique_ptr<zip_t, ZipCloser> za(zip_open(p.c_str(), ZIP_RDONLY, &zerr));
  if (!za) {
    zip_error_t e;
    zip_error_init_with_code(&e, zerr);
    std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    return Fail(msg);
  }
  std::vector<dirhash::FileDigest> files;
  std::vector<char> buf(kChunk);
  zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    auto idx = static_cast<zip_uint64_t>(i);
    const char* name = zip_get_name(za.get(), idx, ZIP_FL_ENC_RAW);
    std::unique_ptr<zip_file_t, ZipFileCloser> zf(zip_fopen_index(za.get(), idx, 0));
    if (!name || !zf) return Fail(zip_strerror(za.get()));
    dirhash::Sha256 h;
    for (;;) {
      zip_int64_t r = zip_fread(zf.get(), buf.data(), buf.size());
      if (r < 0) return Fail(zip_file_strerror(zf.get()));
      if (r == 0) break;
      h.Update(buf.data(), static_cast<std::size_t>(r));
    }
    files.push_back({name, h.Finish()});
  }
  return dirhash::Hash1(std::move(files));
}

Result<SignatureWrite> PutSignature(const fs::path& target, std::string_view sig,
                                    std::string_view module_version) {
  auto state = CompareBytes(target, sig);
  if (!state) return state.error();
  if (*state == PartState::kSame) return SignatureWrite{SignatureWrite::kAlreadyStored, ""};
  if (*state == PartState::kDifferent) {
    return SignatureWrite{SignatureWrite::kDifferent, DescribeBytesDifference(target, sig)};
  }
  if (auto st = fsio::MakeDirs(target.parent_path()); !st) return st.error();
  auto tmp = fsio::AtomicFile::Create(target.parent_path());
  if (!tmp) return tmp.error();
  if (auto st = tmp->Append(sig); !st) return st.error();
  auto committed = tmp->CommitNoReplace(target);
  if (!committed) return committed.error();
  if (!*committed) {
    return Fail(target.string() + ": appeared while " + std::string(module_version) +
                " was being signed although its writers are serialized; nothing was overwritten");
  }
  return SignatureWrite{SignatureWrite::kWritten, ""};
}

Result<std::vector<StoredPart>> CompareVersionFiles(const VersionFiles& files, const fs::path& zip,
                                                    const fs::path& mod, const fs::path& info,
                                                    const std::vector<std::string>& names) {
  std::vector<StoredPart> parts(3);
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i].name = names[i];
  auto zs = CompareFile(zip, files.zip);
  if (!zs) return zs.error();
  auto ms = CompareBytes(mod, files.mod);
  if (!ms) return ms.error();
  auto is = CompareBytes(info, files.info);
  if (!is) return is.error();
  parts[0].state = *zs;
  parts[1].state = *ms;
  parts[2].state = *is;
  if (*zs == PartState::kDifferent) parts[0].difference = DescribeZipDifference(zip, files.sum);
  if (*ms == PartState::kDifferent) {
    parts[1].difference = DescribeModDifference(mod, files.path, files.version, files.gomod_sum);
  }
  if (*is == PartState::kDifferent) parts[2].difference = DescribeBytesDifference(info, files.info);
  return parts;
}

Result<bool> WriteNewFile(const fs::path& dir, const fs::path& target,
                          const std::function<Status(fsio::AtomicFile&)>& fill) {
  auto tmp = fsio::AtomicFile::Create(dir);
  if (!tmp) return tmp.error();
  if (auto st = fill(*tmp); !st) return st.error();
  fsio::StepBoundary();
  auto committed = tmp->CommitNoReplace(target);
  if (!committed) return committed.error();
  if (*committed) fsio::StepBoundary();
  return *committed;
}

Result<bool> Exists(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return Fail(Errno(path, "stat", errno));
}

Result<PartState> CompareBytes(const fs::path& stored, std::string_view expected) {
  auto o = OpenStored(stored);
  if (!o) return o.error();
  if (!*o) return PartState::kAbsent;
  if (!(*o)->is_regular || (*o)->size != expected.size()) return PartState::kDifferent;
  std::vector<char> buf(std::min(kChunk, expected.size()) + 1);
  std::size_t off = 0;
  for (;;) {
    auto n = ReadFull((*o)->fd.get(), buf.data(), buf.size(), stored);
    if (!n) return n.error();
    if (*n == 0) break;
    if (off + *n > expected.size() || expected.compare(off, *n, buf.data(), *n) != 0) {
      return PartState::kDifferent;
    }
    off += *n;
  }
  return off == expected.size() ? PartState::kSame : PartState::kDifferent;
}

Result<PartState> CompareFile(const fs::path& stored, const fs::path& expected) {
  auto o = OpenStored(stored);
  if (!o) return o.error();
  if (!*o) return PartState::kAbsent;
  struct stat st;
  if (::stat(expected.c_str(), &st) != 0) return Fail(Errno(expected, "stat", errno));
  if (!(*o)->is_regular || (*o)->size != static_cast<std::uint64_t>(st.st_size)) {
    return PartState::kDifferent;
  }
  fsio::UniqueFd e(::open(expected.c_str(), O_RDONLY | O_CLOEXEC));
  if (!e) return Fail(Errno(expected, "open", errno));
  std::vector<char> a(kChunk), b(kChunk);
  for (;;) {
    auto na = ReadFull((*o)->fd.get(), a.data(), a.size(), stored);
    if (!na) return na.error();
    auto nb = ReadFull(e.get(), b.data(), b.size(), expected);
    if (!nb) return nb.error();
    if (*na != *nb || std::memcmp(a.data(), b.data(), *na) != 0) return PartState::kDifferent;
    if (*na == 0) return PartState::kSame;
  }
}

std::string DescribeZipDifference(const fs::path& stored, std::string_view new_sum) {
  auto sum = HashZip(stored);
  if (sum) return "stored " + *sum + ", new " + std::string(new_sum);
  std::error_code ec;
  auto size = fs::file_size(stored, ec);
  return "stored file is not a readable zip (" + sum.message() + "; " +
         (ec ? std::string("size unknown") : std::to_string(size) + " bytes") + ", " +
         Sha256OfFile(stored) + "), new " + std::string(new_sum);
}

std::string DescribeModDifference(const fs::path& stored, std::string_view module_path,
                                  std::string_view version, std::string_view new_sum) {
  auto data = ReadFile(stored, 16u << 20);
  if (!data) return "stored file unreadable (" + data.message() + "), new " + std::string(new_sum);
  return "stored " + dirhash::HashGoMod(module_path, version, *data) + ", new " +
         std::string(new_sum);
}

std::string DescribeBytesDifference(const fs::path& stored, std::string_view expected) {
  return "stored " + Sha256OfFile(stored) +
         ", new sha256:" + dirhash::Hex(dirhash::Sha256::Of(expected));
}

Result<std::string> ReadFile(const fs::path& path, std::size_t limit) {
  fsio::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(Errno(path, "open", errno));
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    auto n = ReadFull(fd.get(), buf, sizeof buf, path);
    if (!n) return n.error();
    if (*n == 0) return out;
    if (out.size() + *n > limit) {
      return Fail(path.string() + ": larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buf, *n);
  }
}

Result<std::optional<std::uint64_t>> RegularFileSize(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<std::uint64_t>();
    return Fail(Errno(path, "stat", errno));
  }
  if (!S_ISREG(st.st_mode)) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.st_size));
}

Result<std::vector<std::string>> FindModules(
    const std::filesystem::path& root,
    const std::function<std::string(const std::filesystem::path& rel, int depth)>& module_of) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  fs::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(".")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory(ec)) continue;
    std::string module = module_of(it->path().lexically_relative(root), it.depth());
    if (module.empty()) continue;
    it.disable_recursion_pending();
    out.push_back(std::move(module));
  }
  if (ec) return Fail(root.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace modpub::storage::local
