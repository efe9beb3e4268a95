// See operations.hpp.
#include "modpub/admin/operations.hpp"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <vector>

#include "modpub/base/text.hpp"

namespace modpub::admin {
namespace {

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ';';
  }
  return s;
}

// RetryJob's work, audited as `action` ("retry" or "retry-failed").
Result<Requeued> Retry(const Caller& caller, const Queues& queues, const std::string& id,
                       const std::string& action) {
  std::string cluster_error;
  if (queues.cluster) {
    auto s = queues.cluster->RetryFailed(id);
    if (s) {
      Audit(caller, action, "job " + id + " re-queued (" + kClusterQueue + ")");
      return Requeued{id, kClusterQueue};
    }
    cluster_error = std::string(kClusterQueue) + ": " + s.message() + "; ";
  }
  if (auto s = queues.spool->RetryFailed(id); !s) {
    const std::string why = OneLine(cluster_error + s.message());
    Audit(caller, action, "job " + id + " not re-queued: " + why, false);
    return Fail(why);
  }
  Audit(caller, action, "job " + id + " re-queued (" + kSpoolQueue + ")");
  return Requeued{id, kSpoolQueue};
}

// The failed jobs' ids of one queue, or the error of listing them.
template <class Q>
Result<std::vector<std::string>> FailedIds(Q& queue) {
  auto list = queue.List(jobs::State::kFailed);
  if (!list) return list.error();
  std::vector<std::string> ids;
  for (const auto& e : *list) ids.push_back(e.job.id);
  return ids;
}

}  // namespace

std::string UnixPrincipal() {
  const uid_t uid = ::geteuid();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name) {
    return std::string("unix:") + found->pw_name;
  }
  return "unix:" + std::to_string(uid);
}

Caller UnixCaller(std::function<void(const std::string& line)> echo) {
  return Caller{UnixPrincipal(), std::move(echo)};
}

std::string Audit(const Caller& caller, const std::string& action, const std::string& effect,
                  bool ok) {
  const std::string line =
      "admin: " + OneLine(effect) + "; " + action + " by " + OneLine(caller.who);
  if (ok) {
    spdlog::info("{}", line);
  } else {
    spdlog::warn("{}", line);
  }
  if (caller.echo) caller.echo(line);
  return line;
}

Result<Requeued> RetryJob(const Caller& caller, const Queues& queues, const std::string& id) {
  return Retry(caller, queues, id, "retry");
}

RetryAllResult RetryAllFailed(const Caller& caller, const Queues& queues) {
  RetryAllResult out;
  std::vector<std::string> done[2];  // cluster queue, spool
  auto each = [&](Result<std::vector<std::string>> ids, const char* queue, int slot) {
    if (!ids) {
      out.errors.push_back(std::string(queue) + ": " + ids.message());
      Audit(caller, "retry-failed",
            std::string("failed jobs of the ") + queue + " not listed: " + ids.message(), false);
      return;
    }
    for (const auto& id : *ids) {
      auto r = Retry(caller, Queues{queues.spool, slot == 0 ? queues.cluster : nullptr}, id,
                     "retry-failed");
      if (!r) {
        out.errors.push_back("job " + id + ": " + r.message());
        continue;
      }
      done[slot].push_back(id);
      out.requeued.push_back(std::move(*r));
    }
  };
  if (queues.cluster) each(FailedIds(*queues.cluster), kClusterQueue, 0);
  each(FailedIds(*queues.spool), kSpoolQueue, 1);
  std::vector<std::string> where;
  if (queues.cluster) where.push_back(std::string(kClusterQueue) + ": " + Join(done[0], ", "));
  where.push_back(std::string(kSpoolQueue) + ": " + Join(done[1], ", "));
  for (auto& w : where) {
    if (w.ends_with(": ")) w += "none";
  }
  Audit(caller, "retry-failed",
        Plural(out.requeued.size(), "failed job", "failed jobs") + " re-queued (" +
            Join(where, "; ") + ")" +
            (out.errors.empty() ? "" : "; " + Plural(out.errors.size(), "error", "errors")),
        out.errors.empty());
  return out;
}

std::string DescribeSummary(const publish::BackfillSummary& summary) {
  std::vector<std::string> parts;
  for (const auto& [name, c] : summary.backends) {
    parts.push_back(name + ": " + std::to_string(c.published) + " published, " +
                    std::to_string(c.unchanged) + " unchanged, " + std::to_string(c.refused) +
                    " refused, " + std::to_string(c.failed) + " failed");
  }
  std::string invalid = Plural(summary.invalid.size(), "invalid tag", "invalid tags");
  if (!summary.invalid.empty()) invalid += " (" + Join(summary.invalid, " ") + ")";
  parts.push_back(invalid);
  if (summary.tag_failures > 0) {
    parts.push_back(
        Plural(static_cast<std::size_t>(summary.tag_failures), "tag failed", "tags failed") +
        " before reaching a storage");
  }
  parts.push_back(Plural(summary.version_tags, "version tag", "version tags") +
                  (summary.stopped ? ", stopped early" : ""));
  return Join(parts, "; ");
}

Result<publish::BackfillSummary> BackfillRepository(const Caller& caller, git::Repository& repo,
                                                    const std::string& import_path,
                                                    const std::vector<storage::Backend*>& backends,
                                                    const publish::Options& options,
                                                    const publish::BackfillObserver& observer,
                                                    publish::BackfillMode mode) {
  const std::string dry = mode == publish::BackfillMode::kDryRun ? " (dry run)" : "";
  Audit(caller, "backfill", "backfill of " + import_path + " started" + dry);
  auto summary = publish::Backfill(repo, import_path, backends, options, observer, mode);
  if (!summary) {
    Audit(caller, "backfill",
          "backfill of " + import_path + " failed" + dry + ": " + summary.message(), false);
    return summary;
  }
  Audit(caller, "backfill",
        "backfill of " + import_path + " finished" + dry + ": " + DescribeSummary(*summary));
  return summary;
}

}  // namespace modpub::admin
