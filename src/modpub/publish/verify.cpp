#include "modpub/publish/verify.hpp"

#include <curl/curl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/module.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/storage/curl_lib.hpp"
#include "modpub/storage/local_part.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace modpub::publish {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxSmall = 16u << 20;

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A fetched part: its bytes, or nullopt when the source does not have it.
using Fetched = Result<std::optional<std::string>>;

std::size_t ToFile(char* data, std::size_t size, std::size_t n, void* out) {
  return std::fwrite(data, size, n, static_cast<std::FILE*>(out)) * size;
}

// GETs <base>/<escaped path>/@v/<file>: the body, or nullopt for 404/410. With `to`, the
// body is written to that file instead (zips are not held in memory) and "" returned.
Fetched FetchHttp(const std::string& base, const std::string& escaped_path, const std::string& file,
                  const std::string& ca_file, std::FILE* to = nullptr) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/" + escaped_path + "/@v/" + file;
  auto loaded = storage::curl::Load();
  if (!loaded) return loaded.error();
  const storage::curl::Api& api = **loaded;
  std::unique_ptr<CURL, storage::curl::EasyDeleter> c(api.easy_init(),
                                                      storage::curl::EasyDeleter{&api});
  if (!c) throw std::bad_alloc();
  std::string body;
  api.easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  if (to) {
    api.easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, ToFile);
    api.easy_setopt(c.get(), CURLOPT_WRITEDATA, to);
  } else {
    api.easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, Collect);
    api.easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  }
  api.easy_setopt(c.get(), CURLOPT_NETRC, static_cast<long>(CURL_NETRC_OPTIONAL));
  if (!ca_file.empty()) api.easy_setopt(c.get(), CURLOPT_CAINFO, ca_file.c_str());
  api.easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  api.easy_setopt(c.get(), CURLOPT_TIMEOUT, 300L);
  CURLcode rc = api.easy_perform(c.get());
  if (rc != CURLE_OK) return Fail(url + ": " + api.easy_strerror(rc));
  long status = 0;
  api.easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status == 404 || status == 410) return std::optional<std::string>();
  if (status != 200) return Fail(url + ": HTTP " + std::to_string(status));
  if (to && std::fflush(to) != 0) return Fail(url + ": cannot write the download");
  return std::optional<std::string>(std::move(body));
}

Fetched FetchLocal(storage::Backend& b, const std::string& path, const std::string& version,
                   storage::VersionPart part) {
  auto f = b.LocalFile(path, version, part);
  if (!f) return f.error();
  if (!*f) return std::optional<std::string>();
  auto data = storage::local::ReadFile(**f, kMaxSmall);
  if (!data) return data.error();
  return std::optional<std::string>(std::move(*data));
}

// An empty temporary file for a downloaded zip (HashZip reads a file), removed with the
// object.
class TempFile {
 public:
  static Result<TempFile> Create() {
    std::error_code ec;
    std::string tmpl = (fs::temp_directory_path(ec) / "modpub-verify-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return Fail(tmpl + ": " + std::strerror(errno));
    std::FILE* f = ::fdopen(fd, "wb");
    if (!f) {
      ::close(fd);
      ::unlink(tmpl.c_str());
      return Fail(tmpl + ": " + std::strerror(errno));
    }
    return TempFile(tmpl, f);
  }
  TempFile(TempFile&& o) noexcept
      : path_(std::exchange(o.path_, fs::path())), file_(std::exchange(o.file_, nullptr)) {}
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_) std::fclose(file_);
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::FILE* file() const { return file_; }

 private:
  TempFile(fs::path p, std::FILE* f) : path_(std::move(p)), file_(f) {}
  fs::path path_;
  std::FILE* file_;
};

}  // namespace

Result<std::vector<Check>> VerifyVersion(const std::string& from, const std::string& path,
                                         const std::string& version, const sign::Verifier& key,
                                         const std::string& ca_file) {
  if (auto st = storage::ValidateModuleVersion(path, version); !st) return st.error();
  auto ep = module::EscapePath(path);
  if (!ep) return ep.error();
  auto ev = module::EscapeVersion(version);
  if (!ev) return ev.error();
  const bool http = from.starts_with("http://") || from.starts_with("https://");
  std::unique_ptr<storage::Backend> backend;
  if (!http) {
    auto b = storage::OpenBackend(from);
    if (!b) return b.error();
    backend = std::move(*b);
  }
  auto fetch = [&](storage::VersionPart part, const char* ext) -> Fetched {
    if (http) return FetchHttp(from, *ep, *ev + ext, ca_file);
    return FetchLocal(*backend, path, version, part);
  };

  std::vector<Check> checks;
  const std::string mv = path + "@" + version;
  // 1. The signature, and the two h1 lines it vouches for.
  std::string signed_zip, signed_mod;
  Check sig{"signature", false, ""};
  auto note = fetch(storage::VersionPart::kSig, ".sig");
  if (!note) {
    sig.detail = "cannot fetch: " + note.message();
  } else if (!*note) {
    sig.detail = "no signature stored for " + mv;
  } else {
    auto text = sign::OpenNote(**note, key);
    if (!text) {
      sig.detail = "not signed by " + key.name() + ": " + text.message();
    } else {
      const std::string zip_prefix = path + " " + version + " ";
      const std::string mod_prefix = path + " " + version + "/go.mod ";
      std::size_t start = 0;
      while (start < text->size()) {
        auto nl = text->find('\n', start);
        std::string line = text->substr(start, nl - start);
        if (line.starts_with(zip_prefix)) signed_zip = line.substr(zip_prefix.size());
        if (line.starts_with(mod_prefix)) signed_mod = line.substr(mod_prefix.size());
        start = nl + 1;
      }
      if (signed_zip.empty() || signed_mod.empty()) {
        sig.detail = "the signed note does not name " + mv + ": " + *text;
      } else {
        sig.ok = true;
        sig.detail = "signed by " + key.name();
      }
    }
  }
  checks.push_back(sig);

  // 2. The zip: hashed where it is stored, or downloaded into a temporary file.
  Check zip{"zip", false, ""};
  std::optional<TempFile> download;
  Result<std::optional<fs::path>> zip_file = std::optional<fs::path>();
  if (http) {
    auto tmp = TempFile::Create();
    if (!tmp) return tmp.error();
    download.emplace(std::move(*tmp));
    auto got = FetchHttp(from, *ep, *ev + ".zip", ca_file, download->file());
    if (!got) {
      zip_file = got.error();
    } else if (*got) {
      zip_file = std::optional<fs::path>(download->path());
    }
  } else {
    zip_file = backend->LocalFile(path, version, storage::VersionPart::kZip);
  }
  if (!zip_file) {
    zip.detail = "cannot fetch: " + zip_file.message();
  } else if (!*zip_file) {
    zip.detail = "not stored";
  } else {
    auto h1 = storage::local::HashZip(**zip_file);
    if (!h1) {
      zip.detail = "stored zip is not readable: " + h1.message();
    } else if (signed_zip.empty()) {
      zip.detail = "stored " + *h1 + ", no valid signature to compare with";
    } else if (*h1 != signed_zip) {
      zip.detail = "stored " + *h1 + " but signed " + signed_zip + ": the zip was altered";
    } else {
      zip.ok = true;
      zip.detail = *h1;
    }
  }
  checks.push_back(zip);

  // 3. The go.mod.
  Check mod{"mod", false, ""};
  auto mod_data = fetch(storage::VersionPart::kMod, ".mod");
  if (!mod_data) {
    mod.detail = "cannot fetch: " + mod_data.message();
  } else if (!*mod_data) {
    mod.detail = "not stored";
  } else {
    std::string h1 = dirhash::HashGoMod(**mod_data);
    if (signed_mod.empty()) {
      mod.detail = "stored " + h1 + ", no valid signature to compare with";
    } else if (h1 != signed_mod) {
      mod.detail = "stored " + h1 + " but signed " + signed_mod + ": the go.mod was altered";
    } else {
      mod.ok = true;
      mod.detail = h1;
    }
  }
  checks.push_back(mod);
  return checks;
}

}  // namespace modpub::publish
