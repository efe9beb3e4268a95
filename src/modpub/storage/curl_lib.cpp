#include "modpub/storage/curl_lib.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace modpub::storage::curl {
namespace {

constexpr char kSoname[] = "libcurl.so.4";

struct Loaded {
  Api api{};
  std::string error;  // empty: api is usable
};

template <typename F>
bool Resolve(void* lib, const char* name, F& out, std::string& error) {
  out = reinterpret_cast<F>(::dlsym(lib, name));
  if (out) return true;
  error = std::string(kSoname) + " has no " + name;
  return false;
}

Loaded LoadOnce() {
  Loaded l;
  // RTLD_LOCAL: libcurl's dependencies stay out of the global symbol scope. The handle is
  // never closed: the functions are used until the process ends.
  void* lib = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    l.error = std::string("cannot load ") + kSoname +
              " (needed for S3 storage and HTTP fetches): " + (why ? why : "unknown error") +
              "; install Debian's libcurl4 package";
    return l;
  }
  Api& a = l.api;
  decltype(&::curl_global_init) global_init = nullptr;
  if (!Resolve(lib, "curl_global_init", global_init, l.error) ||
      !Resolve(lib, "curl_easy_init", a.easy_init, l.error) ||
      !Resolve(lib, "curl_easy_cleanup", a.easy_cleanup, l.error) ||
      !Resolve(lib, "curl_easy_reset", a.easy_reset, l.error) ||
      !Resolve(lib, "curl_easy_setopt", a.easy_setopt, l.error) ||
      !Resolve(lib, "curl_easy_perform", a.easy_perform, l.error) ||
      !Resolve(lib, "curl_easy_getinfo", a.easy_getinfo, l.error) ||
      !Resolve(lib, "curl_easy_strerror", a.easy_strerror, l.error) ||
      !Resolve(lib, "curl_slist_append", a.slist_append, l.error) ||
      !Resolve(lib, "curl_slist_free_all", a.slist_free_all, l.error)) {
    return l;
  }
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    l.error = std::string(kSoname) + ": curl_global_init failed (" + a.easy_strerror(rc) + ")";
  }
  return l;
}

}  // namespace

Result<const Api*> Load() {
  static const Loaded loaded = LoadOnce();  // thread-safe initialisation (C++11)
  if (!loaded.error.empty()) return Fail(loaded.error);
  return &loaded.api;
}

}  // namespace modpub::storage::curl
