// See admin.hpp.
#include "modpub/admin/admin.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <regex>

namespace modpub::admin {
namespace {

void Json(http::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void Error(http::Response& res, int status, const std::string& message) {
  Json(res, status, {{"error", message}});
}

// The admin decision for `action`, answered here unless allowed; true when allowed.
bool Allowed(const Options& o, const http::Request& req, http::Response& res,
             const std::string& action) {
  if (!o.auth) {
    spdlog::warn("admin: refused {} from {}: no auth file, so nobody is an admin", action,
                 req.remote_addr);
    Error(res, 403, "the admin API needs an auth file ([proxy] auth) naming admins");
    return false;
  }
  const auto d = o.auth->CheckAdmin(req, action);
  if (d.verdict == http::Auth::Verdict::kAllow) return true;
  if (d.verdict == http::Auth::Verdict::kUnauthenticated) {
    res.set_header("WWW-Authenticate", "Basic realm=\"" + o.auth->realm() + "\"");
    Error(res, 401, "credentials missing or refused");
  } else {
    Error(res, 403, "not an admin");
  }
  return false;
}

}  // namespace

void Mount(http::Router& router, Options options) {
  auto o = std::make_shared<const Options>(std::move(options));
  router.Post(R"(/api/jobs/([^/]+)/retry)", [o](const http::Request& req, http::Response& res) {
    static const std::regex kRoute(R"(/api/jobs/([A-Za-z0-9._-]{1,128})/retry)");
    std::smatch m;
    if (!std::regex_match(req.path, m, kRoute)) {
      Error(res, 400, "a job id is [A-Za-z0-9._-]{1,128} (from `modpub jobs --failed`)");
      return;
    }
    const std::string id = m[1];
    if (!Allowed(*o, req, res, "retry job " + id)) return;
    if (auto s = o->spool->RetryFailed(id); !s) {
      Error(res, 404, s.message());
      return;
    }
    spdlog::info("admin: job {} re-queued (retry over HTTP)", id);
    if (o->wake) o->wake();
    Json(res, 200, {{"job", id}, {"state", "queued"}});
  });
}

}  // namespace modpub::admin
