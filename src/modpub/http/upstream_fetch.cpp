#include "modpub/http/upstream_fetch.hpp"

#include <httplib.h>

#include <charconv>

namespace modpub::http {
namespace {

struct Parsed {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "" or "/path" (no trailing slash)
  std::string host;
  int port = 0;
};

std::optional<Parsed> ParseUrl(const std::string& url) {
  Parsed p;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
    p.port = 443;
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
    p.port = 80;
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  p.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!p.path.empty() && p.path.back() == '/') p.path.pop_back();
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  const auto colon = authority.rfind(':');
  p.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p.port);
    if (ec != std::errc() || end != port.data() + port.size() || p.port <= 0 || p.port > 65535) {
      return std::nullopt;
    }
  }
  if (p.host.empty()) return std::nullopt;
  p.origin = url.substr(0, url.size() - rest.size()) + authority;
  return p;
}

}  // namespace

Status CheckUpstreamHttp(const UpstreamHttp& u) {
  if (!ParseUrl(u.url)) {
    return Fail("\"" + u.url +
                "\": the upstream checksum database URL must be http(s)://host[:port][/path]");
  }
  if (!u.proxy.empty() && (!u.proxy.starts_with("http://") || !ParseUrl(u.proxy))) {
    return Fail("\"" + u.proxy + "\": the HTTP proxy must be http://host:port");
  }
  return Ok();
}

std::function<Result<std::optional<std::string>>(const std::string& path)> UpstreamFetcher(
    UpstreamHttp u) {
  return [u](const std::string& path) -> Result<std::optional<std::string>> {
    auto where = ParseUrl(u.url);
    if (!where) return Fail(u.url + ": not an http(s) URL");
    httplib::Client client(where->origin);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(u.timeout).count();
    client.set_connection_timeout(static_cast<time_t>(secs), 0);
    client.set_read_timeout(static_cast<time_t>(secs), 0);
    client.set_write_timeout(static_cast<time_t>(secs), 0);
    if (auto proxy = ParseUrl(u.proxy); !u.proxy.empty() && proxy) {
      client.set_proxy(proxy->host, proxy->port);
    }
    auto res = client.Get(where->path + path);
    if (!res) return Fail("GET " + u.url + path + ": " + httplib::to_string(res.error()));
    if (res->status == 404 || res->status == 410) return std::optional<std::string>();
    if (res->status != 200) {
      return Fail("GET " + u.url + path + ": HTTP " + std::to_string(res->status));
    }
    return std::optional<std::string>(std::move(res->body));
  };
}

Result<std::shared_ptr<sumdb::Upstream>> OpenUpstream(const std::string& spec,
                                                      const std::string& proxy,
                                                      const std::string& state) {
  const auto sp = spec.find(' ');
  if (sp == std::string::npos) {
    return Fail("upstream \"" + spec + "\": must be \"<verifier key> <url>\"");
  }
  UpstreamHttp http{spec.substr(sp + 1), proxy};
  if (auto st = CheckUpstreamHttp(http); !st) return st.error();
  sumdb::UpstreamOptions u;
  u.verifier_key = spec.substr(0, sp);
  u.url = http.url;
  u.fetch = UpstreamFetcher(http);
  u.state = state;
  auto opened = sumdb::Upstream::Open(std::move(u));
  if (!opened) return opened.error();
  return std::shared_ptr<sumdb::Upstream>(std::move(*opened));
}

}  // namespace modpub::http
