// modpubd's admin API: operations over HTTP for the principals the auth file makes admins
// (http/auth.hpp: `admin = true` on a user, a token or a role; an identity provider's
// token through the roles its claim lists). Each route does what its command-line twin
// does, through the same function of operations.hpp, which writes the same audit lines
// ("admin: <effect>; <action> by <who>", who = the admin principal):
//
//   POST /api/jobs/<id>/retry       `modpub retry <id>`: a failed job back to the queue,
//                                   attempts reset -- from the cluster queue's dead
//                                   letters when the daemon has a cluster queue and they
//                                   hold it, else from the spool's failed/ -- and the
//                                   workers woken.
//        200 {"job": "<id>", "state": "queued"}; 404 {"error"} when no queue holds it as
//        failed (the message says where it looked).
//   POST /api/jobs/retry-failed     `modpub retry --all-failed`: every failed job back
//                                   (cluster queue, then spool), the workers woken.
//        200 {"requeued": [ids], "cluster": [ids], "spool": [ids]} (lists may be empty);
//        500 with the same and {"errors": [...]} when a queue could not be listed or a job
//        not moved (what could be moved was).
//   POST /api/backfill[?repo=<path or import_path>][&dry_run=1]
//                                   `modpub backfill --config <toml> --repo <r>` for the
//                                   repository named, else each configured one in order,
//                                   in the background (backfill_runs.hpp).
//        202 {"run": <id>, "state": "running", "dry_run": bool, "repositories": [...]};
//        409 {"error", "run"} while a run is going on; 503 when the daemon is stopping.
//   GET  /api/backfill              the newest run: {"running": bool, "run": null | {"id",
//                                   "by", "dry_run", "state": "running" | "finished" |
//                                   "stopped", "started", "finished" (when not running),
//                                   "repositories": [import paths], "current": null |
//                                   {"repository", "tag", "index", "of"}, "summary": [one
//                                   per repository done: {"repository", "path", and
//                                   "error", or "version_tags", "skipped", "invalid",
//                                   "tag_failures", "stopped", "storages": {<url>:
//                                   {"published", "unchanged", "refused", "failed"}}}]}}.
//
// Input: parameters only in the query string (percent-encoded; '+' is a plus sign, not a
// space), each at most once; the routes above take no others and no body: anything else
// is 400 naming the rule, checked before the credentials (a job id: [A-Za-z0-9._-]{1,128};
// dry_run: 0, 1, true or false).
// A repo= that names no configured repository is 400 too, after the credentials (the
// message lists the configured ones, for admins only).
// Refusals: 401 without valid credentials (WWW-Authenticate: Auth::Challenge's, as the
// proxy's); 403 for a principal that is not an admin; 403 too when the daemon has no
// auth file, since it could not tell who asks. Every request that passes the input checks
// is decided by Auth::CheckAdmin, which logs one audit line itself (who, the action, the
// rule).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modpub/admin/backfill_runs.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/http/router.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::admin {

struct Options {
  std::shared_ptr<http::Auth> auth;  // nullptr: no auth file, the API refuses everything
  const jobs::Spool* spool = nullptr;
  std::shared_ptr<jobs::RedisQueue> cluster;  // the cluster queue, when configured
  std::function<void()> wake;                 // wakes the workers after a retry
  BackfillRuns* backfills = nullptr;          // nullptr: the backfill routes are not mounted
};

// Mounts the routes (before Server::Start). `options.spool` and `options.backfills` must
// outlive the router.
void Mount(http::Router& router, Options options);

// The route names, for the daemon's "HTTP on ..." line.
inline constexpr char kRouteNames[] = "/api/jobs/<id>/retry, /api/jobs/retry-failed, /api/backfill";

// The query string of `target` ("/p?a=1&b=x%20y") as name -> value, percent-decoded; an
// error names the rule broken: a parameter not in `allowed`, one given twice, a bad
// escape, a missing '='.
Result<std::map<std::string, std::string>> ParseQuery(const std::string& target,
                                                      const std::vector<std::string>& allowed);

}  // namespace modpub::admin
