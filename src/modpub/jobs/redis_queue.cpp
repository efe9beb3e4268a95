#include "modpub/jobs/redis_queue.hpp"

#include <charconv>
#include <map>
#include <set>
#include <utility>

namespace modpub::jobs {
namespace {

using redis::Reply;
using std::chrono::milliseconds;

// Settles a claimed entry atomically, if this consumer still holds it: acknowledge it,
// delete it, and put the job in its next place (a stream or the delayed set).
// KEYS: S, place. ARGV: group, consumer, entry, "xadd"|"zadd", maxlen|score, fields...
constexpr char kSettle[] = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
if ARGV[4] == 'zadd' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
elseif ARGV[5] == '0' then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 6))
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(ARGV, 6))
end
return 1
)lua";

// Moves due members of the delayed set into the stream, oldest first, at most 100.
// KEYS: S, S:delayed. ARGV: now (ms).
constexpr char kPromote[] = R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', m)
  redis.call('ZREM', KEYS[2], m)
end
return #due
)lua";

std::int64_t EpochMs(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// The value of `name` in a stream entry's field list; "" when absent.
std::string Field(const Reply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  }
  return "";
}

// One stream entry [id, [field, value, ...]] as a job; the error names the entry.
Result<RedisQueue::Claimed> EntryJob(const Reply& entry) {
  if (entry.elements.size() != 2) return Fail("stream entry of unexpected shape");
  const std::string& id = entry.elements[0].str;
  auto job = FromJson(Field(entry.elements[1], "job"));
  if (!job) return Fail("stream entry " + id + ": " + job.message());
  return RedisQueue::Claimed{std::move(*job), id};
}

bool ParseInt(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Sets `field` of the URL from one query parameter; false for an unknown parameter.
bool QueryParam(RedisQueueUrl& u, std::string_view kv) {
  auto eq = kv.find('=');
  std::string_view k = kv.substr(0, eq);
  std::string v(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1));
  if (k == "stream" && !v.empty())
    u.stream = v;
  else if (k == "group" && !v.empty())
    u.group = v;
  else
    return false;
  return true;
}

}  // namespace

std::string RedactedUrl(const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

Result<RedisQueueUrl> ParseRedisQueueUrl(const std::string& url) {
  const std::string shown = "queue URL \"" + RedactedUrl(url) + "\"";
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind(kScheme, 0) != 0) return Fail(shown + ": must start with redis://");
  RedisQueueUrl u;
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    u.endpoint.password = std::string(auth.substr(auth.find(':') == 0 ? 1 : 0));
    rest = rest.substr(at + 1);
  }
  std::string_view hostport = rest.substr(0, rest.find('/'));
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!ParseInt(db, u.endpoint.db) || u.endpoint.db < 0)) {
      return Fail(shown + ": the database after '/' must be a number, not \"" + std::string(db) +
                  "\"");
    }
  }
  auto colon = hostport.rfind(':');
  u.endpoint.host = std::string(hostport.substr(0, colon));
  if (colon != std::string_view::npos && (!ParseInt(hostport.substr(colon + 1), u.endpoint.port) ||
                                          u.endpoint.port < 1 || u.endpoint.port > 65535)) {
    return Fail(shown + ": the port must be 1..65535");
  }
  if (u.endpoint.host.empty()) return Fail(shown + ": no host");
  for (std::size_t start = 0; !query.empty() && start <= query.size();) {
    auto amp = query.find('&', start);
    std::string_view kv = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
    if (!QueryParam(u, kv)) {
      return Fail(shown + ": unknown or empty parameter \"" + std::string(kv) +
                  "\" (accepted: stream, group)");
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return u;
}

RedisQueue::RedisQueue(RedisQueueUrl url, RedisQueueOptions options)
    : url_(std::move(url)), options_(std::move(options)), conn_(url_.endpoint) {}

Result<std::unique_ptr<RedisQueue>> RedisQueue::Open(const RedisQueueUrl& url,
                                                     RedisQueueOptions options) {
  if (options.consumer.empty()) return Fail("a Redis queue consumer needs a name");
  return std::unique_ptr<RedisQueue>(new RedisQueue(url, std::move(options)));
}

Result<Reply> RedisQueue::Run(const std::vector<std::string>& argv, milliseconds timeout) {
  return conn_.Command(argv, timeout);
}

Result<std::string> RedisQueue::Enqueue(Job job) {
  if (auto s = PrepareJob(job); !s) return s.error();
  std::lock_guard g(mu_);
  auto r = Run({"XADD", url_.stream, "*", "job", ToJson(job)});
  if (!r) return r.error();
  return job.id;
}

Result<int> RedisQueue::Promote(Clock::time_point now) {
  std::lock_guard g(mu_);
  auto r = Run(
      {"EVAL", kPromote, "2", url_.stream, url_.stream + ":delayed", std::to_string(EpochMs(now))});
  if (!r) return r.error();
  return static_cast<int>(r->integer);
}

Result<std::optional<RedisQueue::Claimed>> RedisQueue::Claim(milliseconds wait) {
  if (auto p = Promote(); !p) return p.error();
  std::lock_guard g(mu_);
  for (int round = 0;; ++round) {
    if (auto s = EnsureGroup(); !s) return s.error();
    auto taken = TakeOver();
    if (taken && !*taken) taken = ReadNew(wait);
    // The group vanished since it was made (a Redis that lost its data): made again once.
    if (!taken && round == 0 && taken.message().find("NOGROUP") != std::string::npos) {
      group_ready_ = false;
      continue;
    }
    return taken;
  }
}

Status RedisQueue::EnsureGroup() {
  if (group_ready_) return Ok();
  auto made = Run({"XGROUP", "CREATE", url_.stream, url_.group, "0", "MKSTREAM"});
  if (!made && made.message().find("BUSYGROUP") == std::string::npos) return made.error();
  group_ready_ = true;
  return Ok();
}

Result<std::optional<RedisQueue::Claimed>> RedisQueue::TakeOver() {
  auto r = Run({"XAUTOCLAIM", url_.stream, url_.group, options_.consumer,
                std::to_string(options_.claim_idle.count()), "0-0", "COUNT", "1"});
  if (!r) return r.error();
  if (r->elements.size() < 2 || r->elements[1].elements.empty()) return std::optional<Claimed>();
  auto c = Readable(r->elements[1].elements[0]);
  if (c && *c) (*c)->taken_over = true;
  return c;
}

// A delivered entry as a job; one that is no job is dead-lettered with its raw text (else
// it would be delivered or taken over again and again) and the error names it.
Result<std::optional<RedisQueue::Claimed>> RedisQueue::Readable(const Reply& entry) {
  auto c = EntryJob(entry);
  if (c) return std::optional<Claimed>(std::move(*c));
  const std::string id = entry.elements.empty() ? "" : entry.elements[0].str;
  const std::string raw = entry.elements.size() < 2 ? "" : Field(entry.elements[1], "job");
  Claimed bad{Job{}, id};
  bad.job.id = id;
  auto s =
      SettleLocked(bad, {url_.stream + ":dead", "xadd", "0", "job", raw, "reason", c.message()});
  if (!s) return s.error();
  return Fail(c.message() + " (moved to " + url_.stream + ":dead)");
}

Result<std::optional<RedisQueue::Claimed>> RedisQueue::ReadNew(milliseconds wait) {
  auto r = Run({"XREADGROUP", "GROUP", url_.group, options_.consumer, "COUNT", "1", "BLOCK",
                std::to_string(std::max<long long>(1, wait.count())), "STREAMS", url_.stream, ">"},
               wait + url_.endpoint.timeout);
  if (!r) return r.error();
  if (r->nil() || r->elements.empty() || r->elements[0].elements.size() < 2 ||
      r->elements[0].elements[1].elements.empty()) {
    return std::optional<Claimed>();
  }
  return Readable(r->elements[0].elements[1].elements[0]);
}

Status RedisQueue::Touch(const Claimed& c) {
  std::lock_guard g(mu_);
  auto r = Run({"XCLAIM", url_.stream, url_.group, options_.consumer, "0", c.entry, "JUSTID"});
  if (!r) return r.error();
  if (r->elements.empty()) return Fail(c.job.id + ": entry " + c.entry + " is no longer pending");
  return Ok();
}

Status RedisQueue::Settle(const Claimed& c, const std::vector<std::string>& place) {
  std::lock_guard g(mu_);
  return SettleLocked(c, place);
}

Status RedisQueue::SettleLocked(const Claimed& c, const std::vector<std::string>& place) {
  std::vector<std::string> argv = {"EVAL",     kSettle,           "2",    url_.stream, place[0],
                                   url_.group, options_.consumer, c.entry};
  argv.insert(argv.end(), place.begin() + 1, place.end());
  auto r = Run(argv);
  if (!r) return r.error();
  if (r->integer != 1) {
    return Fail("job " + c.job.id + " (entry " + c.entry + ") is no longer held by " +
                options_.consumer + ": another worker took it over");
  }
  return Ok();
}

Status RedisQueue::Complete(const Claimed& c, Job job) {
  if (job.finished == Clock::time_point{}) job.finished = Clock::now();
  return Settle(
      c, {url_.stream + ":done", "xadd", std::to_string(options_.done_kept), "job", ToJson(job)});
}

Status RedisQueue::Retry(const Claimed& c, Job job, Clock::time_point when) {
  job.next_attempt = when;
  return Settle(c, {url_.stream + ":delayed", "zadd", std::to_string(EpochMs(when)), ToJson(job)});
}

Status RedisQueue::MarkFailed(const Claimed& c, Job job, const std::string& reason) {
  job.last_error = reason;
  job.finished = Clock::now();
  return Settle(c, {url_.stream + ":dead", "xadd", "0", "job", ToJson(job), "reason", reason});
}

Result<std::vector<RedisQueue::Entry>> RedisQueue::List(State state) {
  std::lock_guard g(mu_);
  std::vector<Entry> out;
  auto add = [&](const Reply& entry, State st, std::string owner) {
    auto c = EntryJob(entry);
    Entry e{st, c ? std::move(c->job) : Job{}, std::move(owner)};
    if (!c) {
      e.state = State::kCorrupt;
      e.job.id = entry.elements.empty() ? "" : entry.elements[0].str;
      e.job.last_error = c.message();
    }
    if (st == State::kFailed && entry.elements.size() == 2) {
      std::string reason = Field(entry.elements[1], "reason");
      if (!reason.empty()) e.job.last_error = reason;
    }
    out.push_back(std::move(e));
  };
  if (state == State::kFailed || state == State::kDone) {
    auto r = state == State::kFailed ? Run({"XRANGE", url_.stream + ":dead", "-", "+"})
                                     : Run({"XREVRANGE", url_.stream + ":done", "+", "-", "COUNT",
                                            std::to_string(options_.done_kept)});
    if (!r) return r.error();
    for (const auto& entry : r->elements) add(entry, state, "");
    return out;
  }
  auto owners = PendingOwners();
  if (!owners) return owners.error();
  auto all = Run({"XRANGE", url_.stream, "-", "+"});
  if (!all) return all.error();
  for (const auto& entry : all->elements) {
    if (entry.elements.empty()) continue;
    auto it = owners->find(entry.elements[0].str);
    const bool pending = it != owners->end();
    if (pending == (state == State::kClaimed)) add(entry, state, pending ? it->second : "");
  }
  if (state == State::kQueued) {
    auto delayed = Run({"ZRANGE", url_.stream + ":delayed", "0", "-1"});
    if (!delayed) return delayed.error();
    for (const auto& m : delayed->elements) {
      auto job = FromJson(m.str);
      if (job) out.push_back(Entry{State::kQueued, std::move(*job), ""});
    }
  }
  return out;
}

// Pending entry id -> the consumer holding it (an absent group: none pending).
Result<std::map<std::string, std::string>> RedisQueue::PendingOwners() {
  std::map<std::string, std::string> out;
  auto r = Run({"XPENDING", url_.stream, url_.group, "-", "+", "100000"});
  if (!r) {
    if (r.message().find("NOGROUP") != std::string::npos) return out;
    return r.error();
  }
  for (const auto& p : r->elements) {
    if (p.elements.size() >= 2) out.emplace(p.elements[0].str, p.elements[1].str);
  }
  return out;
}

Status RedisQueue::RetryFailed(const std::string& id) {
  std::lock_guard g(mu_);
  const std::string dead = url_.stream + ":dead";
  // Optimistic: another node retrying the same job at once makes EXEC answer nil; then
  // the job is looked for again (and is gone).
  for (int round = 0; round < 5; ++round) {
    if (auto w = Run({"WATCH", dead}); !w) return w.error();
    auto r = Run({"XRANGE", dead, "-", "+"});
    if (!r) return r.error();
    std::optional<std::pair<std::string, Job>> found;
    for (const auto& entry : r->elements) {
      auto c = EntryJob(entry);
      if (c && c->job.id == id) found.emplace(c->entry, std::move(c->job));
    }
    if (!found) {
      (void)Run({"UNWATCH"});
      return Fail("job " + id + " is not among the failed jobs of " + dead);
    }
    Job& job = found->second;
    job.attempts = 0;
    job.next_attempt = Clock::now();
    job.finished = {};
    if (auto m = Run({"MULTI"}); !m) return m.error();
    (void)Run({"XDEL", dead, found->first});
    (void)Run({"XADD", url_.stream, "*", "job", ToJson(job)});
    auto done = Run({"EXEC"});
    if (!done) return done.error();
    if (!done->nil()) return Ok();
  }
  return Fail("job " + id + ": " + dead + " kept changing; try again");
}

Result<RedisQueue::Depth> RedisQueue::Stats() {
  std::lock_guard g(mu_);
  Depth d;
  auto len = Run({"XLEN", url_.stream});
  auto delayed = Run({"ZCARD", url_.stream + ":delayed"});
  auto dead = Run({"XLEN", url_.stream + ":dead"});
  for (auto* r : {&len, &delayed, &dead}) {
    if (!*r) return r->error();
  }
  auto pending = Run({"XPENDING", url_.stream, url_.group});
  if (pending && !pending->elements.empty()) d.pending = pending->elements[0].integer;
  if (!pending && pending.message().find("NOGROUP") == std::string::npos) return pending.error();
  d.queued = len->integer - d.pending;
  d.delayed = delayed->integer;
  d.dead = dead->integer;
  return d;
}

Result<bool> RedisQueue::FirstDelivery(const std::string& provider, const std::string& id,
                                       std::chrono::seconds ttl) {
  std::lock_guard g(mu_);
  auto r = Run({"SET", url_.stream + ":delivery:" + provider + ":" + id, "1", "NX", "EX",
                std::to_string(std::max<long long>(1, ttl.count()))});
  if (!r) return r.error();
  return !r->nil();
}

Status RedisQueue::ForgetDelivery(const std::string& provider, const std::string& id) {
  std::lock_guard g(mu_);
  auto r = Run({"DEL", url_.stream + ":delivery:" + provider + ":" + id});
  if (!r) return r.error();
  return Ok();
}

}  // namespace modpub::jobs
