// The daemon's HTTP surface, composed in one place: /healthz and /metrics (the Server's
// own), the routes of another layer such as the webhooks (given as callbacks, so that http
// depends on nobody above it), and the GOPROXY endpoint and checksum database
// (proxy.hpp).
//
// Order matters to the router, which takes the first matching route, so MountRoutes
// fixes it: the Server's own routes, then `pages`, then `extra` (the webhooks, with their header
// check: the early body-size refusal, router.hpp), then the proxy. With `serve_modules`, module
// files are answered by a pre-routing handler before the route table is searched; with
// only a checksum database (`serve_modules` false), every path outside /sumdb/ is 404.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/http/proxy.hpp"
#include "modpub/http/server.hpp"

namespace modpub::http {

struct RouteSet {
  // Routes of another layer (and its header checks), mounted before the proxy, and named
  // for the log line.
  std::function<void(Router&)> extra;
  std::string extra_names;  // e.g. "/hooks/github, /hooks/gitlab"
  // The GOPROXY endpoint and/or checksum database; none when empty.
  std::optional<ProxyConfig> proxy;
  bool serve_modules = false;  // [proxy]: the storage's modules; false: /sumdb/ only
  std::string modules_from;    // the storage URL served, for the log line
  // Pages of the daemon's own (the status page: GET / and /api/status), answered only
  // after the proxy's auth, when it has one, accepted the request as it accepts a checksum
  // database tile: 401 (with WWW-Authenticate) without valid credentials. The handler is
  // told which module paths the principal may read (always true without auth), and
  // shows only those.
  using Readable = std::function<bool(std::string_view module_path)>;
  struct Page {
    std::string path;  // exact, e.g. "/"
    std::function<void(const Request&, Response&, const Readable&)> handler;
  };
  std::vector<Page> pages;
};

// Mounts `routes` on `server` (before Start). Returns the routes served, for the log.
std::string MountRoutes(Server& server, const RouteSet& routes);

// The problems of the files a proxy would open, found without opening the storage (for
// --check-config): the signer key (readable, a signer key, named `sumdb_name`), the
// checksum database's directory when it exists (a log that opens and has a head), and the
// auth file. Each problem names the setting ("sumdb.signer_key", "sumdb.name",
// "sumdb.dir", "proxy.auth") and what is wrong.
struct SettingProblem {
  std::string setting;
  std::string what;
};
std::vector<SettingProblem> CheckProxyFiles(const ProxySettings& settings,
                                            const std::string& sumdb_name);

}  // namespace modpub::http
