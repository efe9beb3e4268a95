// libcurl, loaded with dlopen when first needed instead of linked into every program.
//
// Why: Debian's libcurl4 pulls in some 25 shared libraries (GnuTLS, Kerberos, LDAP, RTMP,
// SSH, ...) whose loading and start-up constructors cost each modpub process 5-8 ms of CPU,
// which is most of what a git receive hook costs a push -- yet only s3:// storage and
// `modpub verify --from http(s)://` talk HTTP through libcurl. Linked lazily, a hook on a
// filesystem-storage server never loads it.
//
// Contract: Load() loads libcurl.so.4 (the soname of Debian's libcurl4 and of every
// libcurl 7.x/8.x), resolves the functions below and runs curl_global_init, once per
// process and thread-safely; later calls return the same table (or the same error).
// The table's functions are libcurl's own, called exactly as documented by libcurl.
#pragma once

#include <curl/curl.h>

#include "modpub/base/result.hpp"

namespace modpub::storage::curl {

struct Api {
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// The loaded library, or an error naming the library, the reason and the package to install.
Result<const Api*> Load();

// Owns an easy handle (curl_easy_cleanup on destruction).
struct EasyDeleter {
  const Api* api;
  void operator()(CURL* c) const { api->easy_cleanup(c); }
};
// Owns a header list (curl_slist_free_all on destruction).
struct SlistDeleter {
  const Api* api;
  void operator()(curl_slist* l) const { api->slist_free_all(l); }
};

}  // namespace modpub::storage::curl
