// See admin.hpp.
#include "modpub/admin/admin.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "modpub/admin/operations.hpp"
#include "modpub/base/text.hpp"

namespace modpub::admin {
namespace {

void Json(http::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void Error(http::Response& res, int status, const std::string& message) {
  Json(res, status, {{"error", message}});
}

// The admin decision for `action`: who is allowed, or nullopt with the refusal answered.
std::optional<std::string> Allowed(const Options& o, const http::Request& req, http::Response& res,
                                   const std::string& action) {
  if (!o.auth) {
    spdlog::warn("admin: refused {} from {}: no auth file, so nobody is an admin", action,
                 req.remote_addr);
    Error(res, 403, "the admin API needs an auth file ([proxy] auth) naming admins");
    return std::nullopt;
  }
  const auto d = o.auth->CheckAdmin(req, action);
  if (d.verdict == http::Auth::Verdict::kAllow) return d.who;
  if (d.verdict == http::Auth::Verdict::kUnauthenticated) {
    o.auth->Challenge(req, res);  // WWW-Authenticate, as the proxy's 401s
    Error(res, 401, "credentials missing or refused");
  } else {
    Error(res, 403, "not an admin");
  }
  return std::nullopt;
}

// The request's parameters (ParseQuery), with an empty body; nullopt with a 400 answered.
std::optional<std::map<std::string, std::string>> Parameters(
    const http::Request& req, http::Response& res, const std::vector<std::string>& allowed) {
  if (!req.body.empty()) {
    Error(res, 400,
          req.method + " " + req.path +
              " takes no body: parameters go in the query string (?repo=...&dry_run=1)");
    return std::nullopt;
  }
  auto q = ParseQuery(req.target, allowed);
  if (!q) {
    Error(res, 400, q.message());
    return std::nullopt;
  }
  return std::move(*q);
}

Result<std::string> Unescape(std::string_view s) {
  auto out = PercentDecode(s, /*strict=*/true);  // '+' too: a path may hold one
  if (!out) return Fail("a '%' in the query must be followed by two hex digits");
  if (out->find('\0') != std::string::npos) return Fail("the query must not contain NUL");
  return std::move(*out);
}

std::string AllowedNames(const std::vector<std::string>& allowed) {
  if (allowed.empty()) return "this route takes no parameters";
  std::string names;
  for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
  return "this route takes only " + names;
}

void RetryOne(const std::shared_ptr<const Options>& o, const http::Request& req,
              http::Response& res) {
  static const std::regex kRoute(R"(/api/jobs/([A-Za-z0-9._-]{1,128})/retry)");
  std::smatch m;
  if (!std::regex_match(req.path, m, kRoute)) {
    Error(res, 400, "a job id is [A-Za-z0-9._-]{1,128} (from `modpub jobs --failed`)");
    return;
  }
  if (!Parameters(req, res, {})) return;
  const std::string id = m[1];
  auto who = Allowed(*o, req, res, "retry job " + id);
  if (!who) return;
  auto r = RetryJob(Caller{*who, {}}, Queues{o->spool, o->cluster.get()}, id);
  if (!r) return Error(res, 404, r.message());
  if (o->wake) o->wake();
  Json(res, 200, {{"job", id}, {"state", "queued"}});
}

void RetryAll(const std::shared_ptr<const Options>& o, const http::Request& req,
              http::Response& res) {
  if (!Parameters(req, res, {})) return;
  auto who = Allowed(*o, req, res, "retry every failed job");
  if (!who) return;
  auto r = RetryAllFailed(Caller{*who, {}}, Queues{o->spool, o->cluster.get()});
  if (!r.requeued.empty() && o->wake) o->wake();
  nlohmann::json all = nlohmann::json::array(), cluster = all, spool = all;
  for (const auto& q : r.requeued) {
    all.push_back(q.id);
    (q.where == kClusterQueue ? cluster : spool).push_back(q.id);
  }
  nlohmann::json body = {{"requeued", all}, {"cluster", cluster}, {"spool", spool}};
  if (!r.errors.empty()) body["errors"] = r.errors;
  Json(res, r.errors.empty() ? 200 : 500, body);
}

void StartBackfill(const std::shared_ptr<const Options>& o, const http::Request& req,
                   http::Response& res) {
  auto q = Parameters(req, res, {"repo", "dry_run"});
  if (!q) return;
  bool dry_run = false;
  if (auto it = q->find("dry_run"); it != q->end()) {
    const std::string& v = it->second;
    if (v != "0" && v != "1" && v != "true" && v != "false") {
      return Error(res, 400, "dry_run is 0, 1, true or false (not \"" + v + "\")");
    }
    dry_run = v == "1" || v == "true";
  }
  std::optional<std::string> repo;
  if (auto it = q->find("repo"); it != q->end()) repo = it->second;
  const std::string action = "backfill " + (repo ? *repo : std::string("every repository")) +
                             (dry_run ? " (dry run)" : "");
  auto who = Allowed(*o, req, res, action);
  if (!who) return;
  auto repos = o->backfills->Select(repo);
  if (!repos) return Error(res, 400, repos.message());
  nlohmann::json names = nlohmann::json::array();
  for (const auto& r : *repos) names.push_back(r.import_path);
  auto started = o->backfills->Start(Caller{*who, {}}, std::move(*repos), dry_run);
  if (!started.started && started.run == 0) {
    return Error(res, 503, "modpubd is stopping: no backfill starts now");
  }
  if (!started.started) {
    return Json(res, 409,
                {{"error", "backfill run " + std::to_string(started.run) +
                               " is still going on: GET /api/backfill shows its progress; "
                               "start another when it has finished"},
                 {"run", started.run}});
  }
  res.set_header("Location", "/api/backfill");
  Json(res, 202,
       {{"run", started.run}, {"state", "running"}, {"dry_run", dry_run}, {"repositories", names}});
}

void ShowBackfill(const std::shared_ptr<const Options>& o, const http::Request& req,
                  http::Response& res) {
  if (!Parameters(req, res, {})) return;
  if (!Allowed(*o, req, res, "view the backfill runs")) return;
  res.set_header("Cache-Control", "no-store");
  Json(res, 200, o->backfills->State());
}

}  // namespace

Result<std::map<std::string, std::string>> ParseQuery(const std::string& target,
                                                      const std::vector<std::string>& allowed) {
  std::map<std::string, std::string> out;
  const auto mark = target.find('?');
  if (mark == std::string::npos) return out;
  std::string_view rest = std::string_view(target).substr(mark + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2", a trailing '&'
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Fail("query parameter \"" + std::string(pair) + "\" has no value (name=value)");
    }
    auto name = Unescape(pair.substr(0, eq));
    auto value = Unescape(pair.substr(eq + 1));
    if (!name || !value) return Fail(!name ? name.message() : value.message());
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
      return Fail("unknown query parameter \"" + *name + "\": " + AllowedNames(allowed));
    }
    if (!out.emplace(*name, *value).second) {
      return Fail("query parameter \"" + *name + "\" is given twice: give it once");
    }
  }
  return out;
}

void Mount(http::Router& router, Options options) {
  auto o = std::make_shared<const Options>(std::move(options));
  // Before the <id>/retry route, whose pattern does not match it anyway ("retry-failed"
  // has no "/retry" after it): kept first so that no future pattern can shadow it.
  router.Post("/api/jobs/retry-failed",
              [o](const http::Request& req, http::Response& res) { RetryAll(o, req, res); });
  router.Post(R"(/api/jobs/([^/]+)/retry)",
              [o](const http::Request& req, http::Response& res) { RetryOne(o, req, res); });
  if (!o->backfills) return;
  router.Post("/api/backfill",
              [o](const http::Request& req, http::Response& res) { StartBackfill(o, req, res); });
  router.Get("/api/backfill",
             [o](const http::Request& req, http::Response& res) { ShowBackfill(o, req, res); });
}

}  // namespace modpub::admin
