// modpubd's admin API: operations over HTTP for the principals the auth file makes admins
// (http/auth.hpp: `admin = true` on a user, a token or a role; an identity provider's
// token through the roles its claim lists). The same effects as the CLI:
//   POST <prefix>/api/jobs/<id>/retry   a failed job back to the queue, attempts reset,
//                                       the workers woken (`modpub retry <id>`)
// Answers (JSON): 200 {"job": "<id>", "state": "queued"}; 404 when the job is not in
// failed/ (the message says where to look); 401 without valid credentials (with
// WWW-Authenticate); 403 for a principal that is not an admin; 403 too when the daemon has
// no auth file, since it could not tell who asks. Every request is decided by
// Auth::CheckAdmin, which logs one audit line (who, what, the rule); the effect is logged
// too. The job id is checked against the spool's id rule before it reaches the file system.
#pragma once

#include <functional>
#include <memory>

#include "modpub/http/auth.hpp"
#include "modpub/http/router.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::admin {

struct Options {
  std::shared_ptr<http::Auth> auth;  // nullptr: no auth file, the API refuses everything
  const jobs::Spool* spool = nullptr;
  std::function<void()> wake;  // wakes the workers after a retry
};

// Mounts the routes (before Server::Start). `options.spool` must outlive the router.
void Mount(http::Router& router, Options options);

}  // namespace modpub::admin
