// The status page of modpubd drawn from a status::Snapshot (status.hpp): HTML for people
// (GET /) and JSON for programs (GET /api/status). Pure functions: no I/O, no HTTP.
//
// HTML: one self-contained document (inline CSS, no script, no external asset; light and
// dark colours), laid out in one column that wraps every long word (module paths, tags,
// errors), so that it reads on a 390 px wide phone without horizontal scrolling. Every
// text that comes from outside (module paths, tags, job errors, repository paths, the
// storage URL) goes through HtmlEscape: tags and errors are chosen by whoever can push.
// Empty states say so: "No repositories configured.", "Nothing pending.", "No failed
// tags.", "No published versions yet."
//
// JSON (GET /api/status), "format": "modpub-status/1"; times are RFC 3339 UTC, null when
// unknown; fields are only ever added within a format version:
//   {"format": "modpub-status/1",
//    "generated": time,
//    "daemon": {"version": "0.1.0", "started": time, "uptime_seconds": 42},
//    "queue_depth": 3 | null,              // jobs waiting (queue/ + the webhook journal,
//                                          //   or the cluster queue); null: unknown
//    "last_publish": time | null,          // the newest module's last_published
//    "storage": {"url": "file:///srv/goproxy", "listed": time | null, "error": ""},
//    "jobs": {"listed": time | null, "error": ""},
//    "proxy": {"prefix": ""} | null,       // [proxy] on: modules are served below prefix
//    "repositories": [REPO, ...],          // configuration order
//    "unconfigured": REPO | null}          // modules/jobs of no configured repository
//   REPO = {"path": "/srv/git/lib.git", "import_path": "corp.example/lib",
//           "modules": [{"path": "corp.example/lib", "latest": "v1.2.0" | null,
//                        "latest_time": ".info Time" | null, "versions": 3,
//                        "last_published": time | null,
//                        "list_url": "/corp.example/lib/@v/list" | null}],  // null: no proxy
//           "pending": [JOB, ...], "pending_total": 1,   // oldest first, at most 20 listed
//           "failed": [JOB, ...], "failed_total": 0}     // newest first, at most 20 listed
//   JOB = {"id": "...", "repo": "/srv/git/lib.git", "tag": "v1.2.3",
//          "state": "queued" | "claimed" | "failed", "attempts": 1, "created": time,
//          "error": ""}                    // failed: why; queued: the last attempt's error
// Strings that are not UTF-8 (a tag's bytes) are written with U+FFFD in place of the
// invalid bytes.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "modpub/status/status.hpp"

namespace modpub::status {

struct PageContext {
  std::string daemon_version;  // e.g. "0.1.0"
  Clock::time_point started{};
  Clock::time_point now{};
  bool proxy = false;        // [proxy] is on: each module links to its @v/list ...
  std::string proxy_prefix;  // ... below this prefix ("" or "/path")
};

// & < > " ' as character references: safe in element content and in quoted attributes.
std::string HtmlEscape(std::string_view text);

std::string RenderHtml(const Snapshot& snapshot, const PageContext& page);
std::string RenderJson(const Snapshot& snapshot, const PageContext& page);

// What a principal that may read only some module paths sees (the proxy's auth rules,
// http/auth.hpp): the modules it may read; a repository's jobs when it may read the
// repository's import path; a repository only when it shows either.
Snapshot Visible(const Snapshot& snapshot,
                 const std::function<bool(std::string_view module_path)>& readable);

// "3d 4h", "2h 5m", "4m 10s", "12s".
std::string FormatDuration(std::chrono::seconds d);

}  // namespace modpub::status
