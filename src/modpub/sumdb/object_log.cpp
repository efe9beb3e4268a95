#include "modpub/sumdb/object_log.hpp"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "modpub/module/module.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log_impl.hpp"

namespace modpub::sumdb {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kHashSize = 32;
constexpr std::size_t kMaxBatch = 512;  // records per head: bounds the head object's size
constexpr int kMaxTries = 400;          // lost swaps before an append gives up
constexpr std::size_t kMaxCached = 4096;
constexpr auto kLatestTtl = std::chrono::milliseconds(1000);
constexpr std::string_view kHeadFormat = "modpub checksum database head 1";

// The commit point, as stored in `head`.
struct Head {
  bool exists = false;
  std::string etag;
  std::int64_t n = 0;
  Hash hash{};
  std::int64_t prev = 0;
  std::vector<std::string> records;  // prev .. n-1
  std::string verifier;
  std::string note;  // signed tree head of n
  std::string writer;
};

std::string RandomId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// The tree of a signed tree head.
Result<TreeHead> ParseTreeNote(std::string_view note, const std::string& what) {
  auto t = ParseTree(note);
  if (!t) return Fail(what + ": not a signed tree head: the database is damaged");
  return *t;
}

std::string FormatHead(const Head& h) {
  nlohmann::json j = {{"format", kHeadFormat},
                      {"n", h.n},
                      {"hash", HashBase64(h.hash)},
                      {"prev", h.prev},
                      {"records", h.records},
                      {"verifier", h.verifier},
                      {"note", h.note},
                      {"writer", h.writer}};
  return j.dump() + "\n";
}

Result<Head> ParseHead(const StoredObject& o, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Fail(where + "/head: " + why + ": the database is damaged");
  };
  auto j = nlohmann::json::parse(o.data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not JSON");
  Head h;
  h.exists = true;
  h.etag = o.etag;
  try {
    if (j.at("format").get<std::string>() != kHeadFormat) return bad("unknown format");
    h.n = j.at("n").get<std::int64_t>();
    h.prev = j.at("prev").get<std::int64_t>();
    h.records = j.at("records").get<std::vector<std::string>>();
    h.verifier = j.at("verifier").get<std::string>();
    h.note = j.at("note").get<std::string>();
    h.writer = j.at("writer").get<std::string>();
    auto tree = ParseTreeNote(h.note, where + "/head");
    if (!tree) return tree.error();
    h.hash = tree->hash;
    if (tree->n != h.n || HashBase64(h.hash) != j.at("hash").get<std::string>()) {
      return bad("its note is not of its tree");
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  if (h.prev < 0 || h.n != h.prev + static_cast<std::int64_t>(h.records.size())) {
    return bad("its size is not prev + its records");
  }
  return h;
}

// "<id>\n<text>\n" records, concatenated (a data tile, or a lookup's first part).
Result<std::vector<std::pair<std::int64_t, std::string>>> ParseRecords(std::string_view data,
                                                                       const std::string& what) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  while (!data.empty()) {
    auto nl = data.find('\n');
    auto end = data.find("\n\n");
    if (nl == std::string_view::npos || end == std::string_view::npos || end < nl) {
      return Fail(what + ": malformed records: the database is damaged");
    }
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(data.data(), data.data() + nl, id);
    if (ec != std::errc() || p != data.data() + nl) {
      return Fail(what + ": malformed record id: the database is damaged");
    }
    out.emplace_back(id, std::string(data.substr(nl + 1, end + 1 - (nl + 1))));
    data.remove_prefix(end + 2);
  }
  return out;
}

// Runs fn(0..count-1), kParallel at a time: a commit's writes (and a batch's lookups) are
// independent, and a remote store answers each in tens of milliseconds, so they cost a
// round trip or two rather than one each. The first failure is returned (after the rest
// of its group finished).
Status InParallel(std::size_t count, const std::function<Status(std::size_t)>& fn) {
  constexpr std::size_t kParallel = 8;
  for (std::size_t i = 0; i < count; i += kParallel) {
    std::vector<std::future<Status>> group;
    for (std::size_t k = i; k < std::min(count, i + kParallel); ++k) {
      group.push_back(std::async(std::launch::async, [&fn, k] { return fn(k); }));
    }
    Status first = Ok();
    for (auto& f : group) {
      Status st = f.get();
      if (!st && first) first = st;
    }
    if (!first) return first;
  }
  return Ok();
}

// One caller's records, waiting for a commit (group commit: one thread commits for all).
struct Request {
  const std::vector<std::string>* texts = nullptr;
  std::vector<AppendResult> results;
  std::optional<Error> error;
  bool decided = false;  // results final (present, or conflict): nothing to append
  bool done = false;
};

class ObjectLog final : public Log::Impl {
 public:
  ObjectLog(std::shared_ptr<ObjectStore> store, std::shared_ptr<const sign::Signer> signer)
      : store_(std::move(store)), signer_(std::move(signer)), where_(store_->Where()) {}

  const std::string& Where() const override { return where_; }
  Result<std::vector<AppendResult>> Append(const std::vector<std::string>& texts) override;
  Status BindVerifier(const std::string& verifier_key) override;
  Result<TreeHead> Latest() override;
  Result<std::optional<std::int64_t>> Lookup(const std::string& key) override;
  Result<std::string> ReadRecord(std::int64_t id) override;
  Result<std::optional<std::string>> ReadTile(const Tile& t) override;

 private:
  Error Damaged(const std::string& what) const {
    return Error{where_ + ": " + what + ": the database is damaged (nothing was overwritten)"};
  }
  Result<Head> ReadHead();
  // The tree `latest` says (n = 0 when there is none yet).
  Result<TreeHead> ReadLatest(bool fresh);
  Result<std::string> FetchTile(const Tile& t);
  // The stored hashes of tree `base` (tiles) with `fresh` ones laid over them.
  HashReader Overlay(std::int64_t base, const std::map<std::int64_t, Hash>& fresh);
  // Computes the stored hashes `records` add to tree `prev`; returns the new tree hash.
  Result<Hash> Extend(std::int64_t prev, const std::vector<std::string>& records,
                      std::map<std::int64_t, Hash>* fresh);
  Status PutImmutable(const std::string& name, const std::string& data);
  Status PutAll(const std::vector<std::pair<std::string, std::string>>& files);
  Result<std::string> DataTile(const Tile& t, const Head& h);
  // Writes the files of `h` (tiles, lookups), then moves `latest` to it. `fresh`: the
  // stored hashes its records add, when the caller computed them (its own commit).
  Status RollForward(const Head& h, std::map<std::int64_t, Hash> fresh = {});
  Status AdvanceLatest(std::int64_t n, const std::string& note);
  // Remembers `latest` as read or written (never going back to an older tree).
  void NoteLatest(const TreeHead& t, const std::string& etag);
  // Reads `head` (unless given one just read), rolls it forward if needed; the head an
  // append builds on.
  Result<Head> Settle(std::optional<Head> known = std::nullopt);
  // `h`, unless it was written with another key than this object's signer.
  Result<Head> CheckKey(Head h) const;
  // The lookup answer of `key` (id and text) or nullopt; cached when found.
  Result<std::optional<std::pair<std::int64_t, std::string>>> Find(const std::string& key);
  void Observe(const Head& h);
  // Finds `keys` (lookup objects, in parallel): each ends up in known_ or absent_.
  Status Prefetch(const std::vector<std::string>& keys);
  // Decides every undecided request against tree `h`; the records left to append.
  Status Decide(const Head& h, std::vector<Request*>& reqs, std::vector<std::string>* fresh,
                std::vector<std::pair<Request*, std::size_t>>* where);
  Status Commit(std::vector<Request*>& reqs);
  // One try; false when another appender won the swap (*seen: the head it wrote).
  Result<bool> TryCommit(std::vector<Request*>& reqs, std::optional<Head>* seen);
  Result<bool> SeenByReaders(const std::vector<Request*>& reqs);

  std::shared_ptr<ObjectStore> store_;
  std::shared_ptr<const sign::Signer> signer_;
  std::string where_;

  std::mutex mu_;  // caches and the append queue
  std::condition_variable cv_;
  std::deque<Request*> queue_;
  bool committing_ = false;
  std::unordered_map<std::string, std::string> tiles_;  // full tiles and tree-bound partials
  std::unordered_map<std::string, std::pair<std::int64_t, std::string>> known_;  // key → record
  std::set<std::string> absent_;  // keys absent from tree seen_n_ (asked since continuity)
  std::int64_t seen_n_ = -1;
  TreeHead latest_;
  std::string latest_etag_;  // "" when unknown
  Clock::time_point latest_at_{};
  // The head this object committed last, with its tag: the next commit swaps on it
  // without reading `head` first (a stale one only costs a failed swap).
  std::optional<Head> mine_;
  bool latest_valid_ = false;
};

Result<Head> ObjectLog::ReadHead() {
  auto o = store_->Get("head");
  if (!o) return o.error();
  if (!*o) return Head{};
  return ParseHead(**o, where_);
}

Result<TreeHead> ObjectLog::ReadLatest(bool fresh) {
  {
    std::lock_guard g(mu_);
    if (!fresh && latest_valid_ && Clock::now() - latest_at_ < kLatestTtl) return latest_;
  }
  auto o = store_->Get("latest");
  if (!o) return o.error();
  TreeHead t;
  if (*o) {
    auto parsed = ParseTreeNote((*o)->data, where_ + "/latest");
    if (!parsed) return parsed.error();
    t = *parsed;
  }
  NoteLatest(t, *o ? (*o)->etag : "");
  std::lock_guard g(mu_);
  return latest_;
}

Result<std::string> ObjectLog::FetchTile(const Tile& t) {
  const std::string name = TilePath(t);
  {
    std::lock_guard g(mu_);
    if (auto it = tiles_.find(name); it != tiles_.end()) return it->second;
  }
  auto o = store_->Get(name);
  if (!o) return o.error();
  if (!*o) return Damaged(name + " is missing");
  if (t.l >= 0 && (*o)->data.size() != static_cast<std::size_t>(t.w) * kHashSize) {
    return Damaged(name + " has " + std::to_string((*o)->data.size()) + " bytes");
  }
  std::lock_guard g(mu_);
  if (tiles_.size() >= kMaxCached) tiles_.clear();
  tiles_.emplace(name, (*o)->data);
  return std::move((*o)->data);
}

HashReader ObjectLog::Overlay(std::int64_t base, const std::map<std::int64_t, Hash>& fresh) {
  HashReader tiles = TileHashReader(base, [this](const Tile& t) { return FetchTile(t); });
  return [tiles, &fresh](const std::vector<std::int64_t>& idx) -> Result<std::vector<Hash>> {
    std::vector<Hash> out(idx.size());
    std::vector<std::int64_t> old;  // what the tiles of tree `base` hold
    for (std::size_t i = 0; i < idx.size(); ++i) {
      if (auto it = fresh.find(idx[i]); it != fresh.end()) {
        out[i] = it->second;
      } else {
        old.push_back(idx[i]);
      }
    }
    if (old.empty()) return out;
    auto read = tiles(old);
    if (!read) return read.error();
    for (std::size_t i = 0, k = 0; i < idx.size(); ++i) {
      if (!fresh.count(idx[i])) out[i] = (*read)[k++];
    }
    return out;
  };
}

Result<Hash> ObjectLog::Extend(std::int64_t prev, const std::vector<std::string>& records,
                               std::map<std::int64_t, Hash>* fresh) {
  HashReader r = Overlay(prev, *fresh);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::int64_t id = prev + static_cast<std::int64_t>(i);
    auto hs = StoredHashes(id, RecordHash(records[i]), r);
    if (!hs) return hs.error();
    const std::int64_t at = StoredHashIndex(0, id);
    for (std::size_t k = 0; k < hs->size(); ++k) {
      (*fresh)[at + static_cast<std::int64_t>(k)] = (*hs)[k];
    }
  }
  return TreeHash(prev + static_cast<std::int64_t>(records.size()), r);
}

Status ObjectLog::PutImmutable(const std::string& name, const std::string& data) {
  auto created = store_->Create(name, data);
  if (!created) return created.error();
  if (created->has_value()) return Ok();
  auto o = store_->Get(name);  // there already: rolled forward by another, or our retry
  if (!o) return o.error();
  if (!*o) return Damaged(name + " exists and does not");
  if ((*o)->data != data) return Damaged(name + " holds other bytes than its tree gives");
  return Ok();
}

Status ObjectLog::PutAll(const std::vector<std::pair<std::string, std::string>>& files) {
  return InParallel(files.size(),
                    [&](std::size_t k) { return PutImmutable(files[k].first, files[k].second); });
}

Result<std::string> ObjectLog::DataTile(const Tile& t, const Head& h) {
  const std::int64_t start = t.n << kTileHeight;
  std::string out;
  if (h.prev > start) {  // the tile's records before this head: its partial tile at prev
    const Tile before{kTileHeight, -1, t.n, static_cast<int>(h.prev - start)};
    auto data = FetchTile(before);
    if (!data) return data.error();
    out = std::move(*data);
  }
  for (std::int64_t id = std::max(start, h.prev); id < start + t.w; ++id) {
    auto f = FormatRecord(id, h.records[static_cast<std::size_t>(id - h.prev)]);
    if (!f) return Damaged("record " + std::to_string(id) + ": " + f.message());
    out += *f;
  }
  return out;
}

Status ObjectLog::RollForward(const Head& h, std::map<std::int64_t, Hash> fresh) {
  if (fresh.empty() && !h.records.empty()) {  // another's head: recompute and check it
    auto th = Extend(h.prev, h.records, &fresh);
    if (!th) return th.error();
    if (*th != h.hash) {
      return Damaged("head says tree " + std::to_string(h.n) + " is " + HashBase64(h.hash) +
                     " but its records on tree " + std::to_string(h.prev) + " give " +
                     HashBase64(*th));
    }
  }
  HashReader r = Overlay(h.prev, fresh);
  std::vector<std::pair<std::string, std::string>> files;  // name, bytes
  for (const Tile& t : NewTiles(kTileHeight, h.prev, h.n)) {
    // NewTiles repeats the partial tiles of tree prev itself; they were written with it.
    if (TileInTree(t, h.prev)) continue;
    auto data = ReadTileData(t, r);
    if (!data) return data.error();
    files.emplace_back(TilePath(t), std::move(*data));
    if (t.l != 0) continue;
    const Tile d{kTileHeight, -1, t.n, t.w};
    auto records = DataTile(d, h);
    if (!records) return records.error();
    files.emplace_back(TilePath(d), std::move(*records));
  }
  for (std::size_t i = 0; i < h.records.size(); ++i) {
    const std::int64_t id = h.prev + static_cast<std::int64_t>(i);
    const std::string& text = h.records[i];
    const std::string key = RecordKey(text);
    const auto at = key.rfind('@');
    auto name = LookupObjectName(key.substr(0, at), key.substr(at + 1));
    if (!name) return Damaged("record " + std::to_string(id) + ": " + name.message());
    auto f = FormatRecord(id, text);
    if (!f) return Damaged("record " + std::to_string(id) + ": " + f.message());
    files.emplace_back(std::move(*name), *f + h.note);
  }
  if (auto st = PutAll(files); !st) return st;
  {
    // The next commit extends this tree from these very tiles: no need to read them back.
    std::lock_guard g(mu_);
    if (tiles_.size() + files.size() >= kMaxCached) tiles_.clear();
    for (const auto& [name, data] : files) {
      if (name.starts_with("tile/")) tiles_.emplace(name, data);
    }
  }
  return AdvanceLatest(h.n, h.note);
}

void ObjectLog::NoteLatest(const TreeHead& t, const std::string& etag) {
  std::lock_guard g(mu_);
  if (latest_valid_ && t.n < latest_.n) return;
  latest_ = t;
  latest_etag_ = etag;
  latest_valid_ = true;
  latest_at_ = Clock::now();
}

Status ObjectLog::AdvanceLatest(std::int64_t n, const std::string& note) {
  auto tree = ParseTreeNote(note, where_ + "/head");
  if (!tree) return tree.error();
  std::string etag;  // `latest` as this object last saw it: a swap needs no read first
  {
    std::lock_guard g(mu_);
    if (latest_valid_ && latest_.n < n) etag = latest_etag_;
  }
  for (int i = 0; i < kMaxTries; ++i) {
    if (etag.empty()) {
      auto o = store_->Get("latest");
      if (!o) return o.error();
      if (*o) {
        auto cur = ParseTreeNote((*o)->data, where_ + "/latest");
        if (!cur) return cur.error();
        NoteLatest(*cur, (*o)->etag);
        if (cur->n >= n) return Ok();
        etag = (*o)->etag;
      }
    }
    auto done = etag.empty() ? store_->Create("latest", note) : store_->Swap("latest", note, etag);
    if (!done) return done.error();
    if (done->has_value()) {
      NoteLatest(*tree, **done);
      return Ok();
    }
    etag.clear();  // moved meanwhile (or our retried write landed): read it
  }
  return Fail(where_ + "/latest: could not move it to tree " + std::to_string(n) + " in " +
              std::to_string(kMaxTries) + " tries");
}

Result<Head> ObjectLog::Settle(std::optional<Head> known) {
  // A head read (here, or by the failed swap that sent us here) is rolled forward unless
  // this object already saw `latest` at its tree. `latest` <= head at every instant and
  // both only grow: a `latest` beyond the head read means the head moved on since, so it
  // is read again, now after `latest` (that order makes latest > head damage).
  std::int64_t rolled = 0;
  {
    std::lock_guard g(mu_);
    rolled = latest_valid_ ? latest_.n : 0;
  }
  Result<Head> h = known ? Result<Head>(std::move(*known)) : ReadHead();
  if (!h) return h.error();
  if (!h->exists) return h;
  if (h->n <= rolled) return CheckKey(std::move(*h));
  auto latest = ReadLatest(true);
  if (!latest) return latest.error();
  if (latest->n > h->n) {
    h = ReadHead();
    if (!h) return h.error();
    if (latest->n > h->n) {
      return Damaged("latest is tree " + std::to_string(latest->n) + ", head only " +
                     std::to_string(h->n));
    }
  }
  if (latest->n < h->n) {
    if (auto st = RollForward(*h); !st) return st.error();
  }
  return CheckKey(std::move(*h));
}

Result<Head> ObjectLog::CheckKey(Head h) const {
  if (signer_ && h.verifier != signer_->VerifierKey()) {
    return Fail(where_ + " is the checksum database of key " + h.verifier + ", not of " +
                signer_->VerifierKey() + ": go clients pinned to the first key would reject it");
  }
  return h;
}

Result<std::optional<std::pair<std::int64_t, std::string>>> ObjectLog::Find(
    const std::string& key) {
  using Found = std::optional<std::pair<std::int64_t, std::string>>;
  {
    std::lock_guard g(mu_);
    if (auto it = known_.find(key); it != known_.end()) return Found(it->second);
  }
  const auto at = key.rfind('@');
  auto name = LookupObjectName(key.substr(0, at), key.substr(at + 1));
  if (!name) return name.error();
  auto o = store_->Get(*name);
  if (!o) return o.error();
  if (!*o) return Found();
  const std::string& data = (*o)->data;
  auto end = data.find("\n\n");
  if (end == std::string::npos) return Damaged(*name + ": not a lookup answer");
  auto recs = ParseRecords(std::string_view(data).substr(0, end + 2), where_ + "/" + *name);
  if (!recs) return recs.error();
  if (recs->size() != 1 || RecordKey(recs->front().second) != key) {
    return Damaged(*name + ": not the record of " + key);
  }
  std::lock_guard g(mu_);
  if (known_.size() >= 16 * kMaxCached) known_.clear();
  known_.emplace(key, recs->front());
  return Found(recs->front());
}

void ObjectLog::Observe(const Head& h) {
  std::lock_guard g(mu_);
  if (h.n == seen_n_) return;
  if (h.prev != seen_n_) absent_.clear();  // commits we did not see: ask again
  seen_n_ = h.n;
  for (std::size_t i = 0; i < h.records.size(); ++i) {
    const std::string key = RecordKey(h.records[i]);
    absent_.erase(key);
    known_[key] = {h.prev + static_cast<std::int64_t>(i), h.records[i]};
  }
}

Status ObjectLog::Prefetch(const std::vector<std::string>& keys) {
  return InParallel(keys.size(), [&](std::size_t k) -> Status {
    auto found = Find(keys[k]);
    if (!found) return found.error();
    if (!*found) {
      std::lock_guard g(mu_);
      absent_.insert(keys[k]);
    }
    return Ok();
  });
}

Status ObjectLog::Decide(const Head& h, std::vector<Request*>& reqs,
                         std::vector<std::string>* fresh,
                         std::vector<std::pair<Request*, std::size_t>>* slots) {
  Observe(h);
  std::vector<std::string> unknown;
  {
    std::lock_guard g(mu_);
    for (const Request* req : reqs) {
      if (req->decided) continue;
      for (const std::string& t : *req->texts) {
        std::string key = RecordKey(t);
        if (!known_.count(key) && !absent_.count(key)) unknown.push_back(std::move(key));
      }
    }
  }
  if (auto st = Prefetch(unknown); !st) return st;
  std::unordered_map<std::string, std::size_t> batch;  // key → index in *fresh
  for (Request* req : reqs) {
    if (req->decided) continue;
    const std::vector<std::string>& texts = *req->texts;
    std::vector<AppendResult> res(texts.size());
    std::vector<std::size_t> adds;
    bool conflict = false;
    for (std::size_t i = 0; i < texts.size() && !conflict; ++i) {
      const std::string& t = texts[i];
      const std::string key = RecordKey(t);
      bool absent = false;
      {
        std::lock_guard g(mu_);
        absent = absent_.count(key) != 0;
      }
      std::optional<std::pair<std::int64_t, std::string>> logged;
      if (!absent) {
        auto found = Find(key);
        if (!found) return found.error();
        logged = std::move(*found);
        if (!logged) {
          std::lock_guard g(mu_);
          absent_.insert(key);
        }
      }
      if (!logged) {
        if (auto it = batch.find(key); it != batch.end()) {
          logged = std::pair{h.n + static_cast<std::int64_t>(it->second), (*fresh)[it->second]};
        }
      }
      if (logged && logged->second == t) {
        res[i] = {AppendOutcome::kPresent, logged->first, ""};
      } else if (logged) {
        res[i] = {AppendOutcome::kConflict, logged->first,
                  key + " is already logged (record " + std::to_string(logged->first) +
                      ") with other hashes: logged\n" + logged->second + "new\n" + t +
                      "a record is never rewritten"};
        conflict = true;
      } else {
        adds.push_back(i);
      }
    }
    if (conflict) {  // all or nothing: only the conflict is reported
      AppendResult c;
      for (const AppendResult& r : res) {
        if (r.outcome == AppendOutcome::kConflict) c = r;
      }
      req->results.assign(texts.size(), AppendResult{});
      for (std::size_t i = 0; i < texts.size(); ++i) {
        if (res[i].outcome == AppendOutcome::kConflict) req->results[i] = c;
      }
      req->decided = true;
      continue;
    }
    if (!fresh->empty() && fresh->size() + adds.size() > kMaxBatch) continue;  // next commit
    for (std::size_t i : adds) {
      const std::string key = RecordKey(texts[i]);
      if (auto it = batch.find(key); it != batch.end()) {  // twice in one call
        res[i] = {AppendOutcome::kPresent, h.n + static_cast<std::int64_t>(it->second), ""};
        continue;
      }
      batch.emplace(key, fresh->size());
      res[i] = {AppendOutcome::kAppended, h.n + static_cast<std::int64_t>(fresh->size()), ""};
      slots->push_back({req, i});
      fresh->push_back(texts[i]);
    }
    req->results = std::move(res);
    if (adds.empty())
      req->decided = true;
    else
      slots->push_back({req, texts.size()});  // marks the request as in this commit
  }
  return Ok();
}

Result<bool> ObjectLog::TryCommit(std::vector<Request*>& reqs, std::optional<Head>* seen) {
  Result<Head> h = Head{};
  {
    std::lock_guard g(mu_);
    if (mine_) h = *mine_;
  }
  if (!h->exists) h = Settle(std::exchange(*seen, std::nullopt));
  if (!h) return h.error();
  std::vector<std::string> fresh;
  std::vector<std::pair<Request*, std::size_t>> slots;
  if (auto st = Decide(*h, reqs, &fresh, &slots); !st) return st.error();
  if (fresh.empty()) return SeenByReaders(reqs);
  Head next;
  next.prev = h->n;
  next.n = h->n + static_cast<std::int64_t>(fresh.size());
  next.records = std::move(fresh);
  std::map<std::int64_t, Hash> hashes;
  auto th = Extend(next.prev, next.records, &hashes);
  if (!th) return th.error();
  next.hash = *th;
  next.verifier = signer_->VerifierKey();
  auto note = sign::SignNote(FormatTree(next.n, next.hash), *signer_);
  if (!note) return note.error();
  next.note = std::move(*note);
  next.writer = RandomId();
  const std::string data = FormatHead(next);
  auto swapped = h->exists ? store_->Swap("head", data, h->etag) : store_->Create("head", data);
  if (!swapped) return swapped.error();
  if (swapped->has_value()) {
    next.etag = **swapped;
  } else {
    {
      std::lock_guard g(mu_);
      mine_.reset();
    }
    auto now = ReadHead();  // a retried swap may have been applied: then it is ours
    if (!now) return now.error();
    if (!now->exists || now->writer != next.writer) {
      *seen = std::move(*now);  // the next try builds on it without reading it again
      return false;
    }
    next.etag = now->etag;
  }
  next.exists = true;
  Observe(next);
  if (auto st = RollForward(next, std::move(hashes)); !st) {
    // The next try must read head and roll it forward: the records just committed are
    // known here but not yet in any file a reader sees.
    std::lock_guard g(mu_);
    mine_.reset();
    return Fail(where_ + ": tree " + std::to_string(next.n) +
                " is committed but its files are not all written (" + st.message() +
                "); the next append completes them");
  }
  for (auto [req, i] : slots) {
    if (i == req->texts->size()) req->decided = true;
  }
  std::lock_guard g(mu_);
  mine_ = std::move(next);
  return true;
}

// Every record found logged is below `latest` before its append returns: a lookup object
// can be there while the appender that wrote it has not moved `latest` yet (or died).
Result<bool> ObjectLog::SeenByReaders(const std::vector<Request*>& reqs) {
  std::int64_t top = -1;
  for (const Request* r : reqs) {
    for (const AppendResult& a : r->results) {
      if (a.outcome == AppendOutcome::kPresent) top = std::max(top, a.id);
    }
  }
  std::int64_t seen = 0;
  {
    std::lock_guard g(mu_);
    seen = latest_valid_ ? latest_.n : 0;
  }
  if (top < seen) return true;
  auto h = Settle();  // rolls the newest head forward when `latest` lags
  if (!h) return h.error();
  return true;
}

Status ObjectLog::Commit(std::vector<Request*>& reqs) {
  thread_local std::mt19937 rng(std::random_device{}());
  std::optional<Head> seen;
  for (int tries = 1; tries <= kMaxTries; ++tries) {
    auto done = TryCommit(reqs, &seen);
    if (!done) return done.error();
    if (*done) return Ok();
    // Lost the swap to another appender: pause a little, at random, and try again.
    std::uniform_int_distribution<int> pause(0, std::min(50, 2 + tries));
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
  }
  return Fail(where_ + "/head: other appenders won " + std::to_string(kMaxTries) +
              " compare-and-swaps in a row; try again");
}

Result<std::vector<AppendResult>> ObjectLog::Append(const std::vector<std::string>& texts) {
  if (!signer_) return Fail(where_ + ": cannot append without the signer key");
  for (const std::string& t : texts) {
    const std::string key = RecordKey(t);
    const auto at = key.rfind('@');
    if (auto name = LookupObjectName(key.substr(0, at), key.substr(at + 1)); !name) {
      return Fail("sumdb: record of " + key + ": " + name.message());
    }
  }
  Request me;
  me.texts = &texts;
  std::unique_lock lk(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (committing_) {
      cv_.wait(lk);
      continue;
    }
    committing_ = true;
    std::vector<Request*> batch(queue_.begin(), queue_.end());
    lk.unlock();
    Status st = Commit(batch);
    lk.lock();
    committing_ = false;
    for (Request* r : batch) {
      if (!st) r->error = st.error();
      r->done = !st || r->decided;
    }
    std::erase_if(queue_, [](Request* r) { return r->done; });
    cv_.notify_all();
  }
  if (me.error) return *me.error;
  return std::move(me.results);
}

Status ObjectLog::BindVerifier(const std::string& verifier_key) {
  if (signer_ && signer_->VerifierKey() != verifier_key) {
    return Fail(where_ + ": the signer key is not the key " + verifier_key);
  }
  auto h = ReadHead();
  if (!h) return h.error();
  if (h->exists && h->verifier != verifier_key) {
    return Fail(where_ + " is the checksum database of key " + h->verifier + ", not of " +
                verifier_key + ": go clients pinned to the first key would reject it");
  }
  return Ok();
}

// Always asked of the store (one GET): what go fetches first must be the newest tree.
Result<TreeHead> ObjectLog::Latest() { return ReadLatest(true); }

Result<std::optional<std::int64_t>> ObjectLog::Lookup(const std::string& key) {
  using Id = std::optional<std::int64_t>;
  const auto at = key.rfind('@');
  if (at == std::string::npos) return Id();
  if (!LookupObjectName(key.substr(0, at), key.substr(at + 1))) return Id();
  auto found = Find(key);
  if (!found) return found.error();
  if (!*found) return Id();
  auto latest = ReadLatest(false);
  if (latest && (*found)->first >= latest->n) latest = ReadLatest(true);
  if (!latest) return latest.error();
  if ((*found)->first >= latest->n) return Id();  // its tree is still being written
  return Id((*found)->first);
}

Result<std::string> ObjectLog::ReadRecord(std::int64_t id) {
  auto latest = ReadLatest(false);
  if (latest && id >= latest->n) latest = ReadLatest(true);
  if (!latest) return latest.error();
  if (id < 0 || id >= latest->n) {
    return Fail("sumdb: no record " + std::to_string(id) + " in a log of " +
                std::to_string(latest->n));
  }
  const std::int64_t n = id >> kTileHeight;
  const auto w = std::min<std::int64_t>(latest->n - (n << kTileHeight), 1 << kTileHeight);
  const Tile t{kTileHeight, -1, n, static_cast<int>(w)};
  auto data = FetchTile(t);
  if (!data) return data.error();
  auto recs = ParseRecords(*data, where_ + "/" + TilePath(t));
  if (!recs) return recs.error();
  for (auto& [rid, text] : *recs) {
    if (rid == id) return std::move(text);
  }
  return Damaged(TilePath(t) + " lacks record " + std::to_string(id));
}

Result<std::optional<std::string>> ObjectLog::ReadTile(const Tile& t) {
  using Data = std::optional<std::string>;
  if (t.h != kTileHeight) return Data();
  auto latest = ReadLatest(false);
  if (latest && !TileInTree(t, latest->n)) latest = ReadLatest(true);
  if (!latest) return latest.error();
  if (!TileInTree(t, latest->n)) return Data();
  auto data = FetchTile(t);
  if (!data) return data.error();
  return Data(std::move(*data));
}

}  // namespace

Result<std::string> LookupObjectName(std::string_view path, std::string_view version) {
  auto p = module::EscapePath(path);
  if (!p) return p.error();
  auto v = module::EscapeVersion(version);
  if (!v) return v.error();
  return "lookup/" + *p + "@" + *v;
}

Log Log::OpenObjects(std::shared_ptr<ObjectStore> store,
                     std::shared_ptr<const sign::Signer> signer) {
  return Log(std::make_unique<ObjectLog>(std::move(store), std::move(signer)));
}

}  // namespace modpub::sumdb
