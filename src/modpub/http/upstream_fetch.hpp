// The HTTP side of sumdb::Upstream (sumdb/upstream.hpp): GETs below another checksum
// database's URL, through an optional HTTP proxy, with cpp-httplib's client (https via
// OpenSSL, certificates checked against the system's store).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/sumdb/upstream.hpp"

namespace modpub::http {

struct UpstreamHttp {
  std::string url;    // "https://sum.golang.org" or "http://host:port/path"
  std::string proxy;  // "http://host:port" or ""
  std::chrono::milliseconds timeout{15000};
};

// Checks the URLs (scheme http or https, a host); the error names the setting's value.
Status CheckUpstreamHttp(const UpstreamHttp& u);

// GET <url><path>: the body for 200, nullopt for 404 and 410, an error for anything else.
std::function<Result<std::optional<std::string>>(const std::string& path)> UpstreamFetcher(
    UpstreamHttp u);

// Opens the upstream database of `spec`, "<verifier key> <url>", reached through `proxy`
// ("" = directly), remembering its newest proven tree in `state` ("" = memory only).
Result<std::shared_ptr<sumdb::Upstream>> OpenUpstream(const std::string& spec,
                                                      const std::string& proxy,
                                                      const std::string& state);

}  // namespace modpub::http
