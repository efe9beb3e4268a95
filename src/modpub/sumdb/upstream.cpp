#include "modpub/sumdb/upstream.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "modpub/fsio/atomic_file.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/object_log.hpp"

namespace modpub::sumdb {
namespace {

constexpr int kAdvanceTries = 4;

// "<path> <version>[/go.mod] h1:…\n" twice, for exactly this module version.
bool IsModuleRecord(std::string_view text, std::string_view path, std::string_view version) {
  const std::string a = std::string(path) + " " + std::string(version) + " h1:";
  const std::string b = std::string(path) + " " + std::string(version) + "/go.mod h1:";
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos || !text.substr(0, nl).starts_with(a)) return false;
  const std::string_view second = text.substr(nl + 1);
  const auto nl2 = second.find('\n');
  if (nl2 == std::string_view::npos || nl2 + 1 != second.size()) return false;
  if (!second.starts_with(b)) return false;
  // One hash each, no space after it.
  return text.substr(a.size(), nl - a.size()).find(' ') == std::string_view::npos &&
         second.substr(b.size(), nl2 - b.size()).find(' ') == std::string_view::npos;
}

}  // namespace

Upstream::Upstream(UpstreamOptions options) : o_(std::move(options)) {}

Result<std::unique_ptr<Upstream>> Upstream::Open(UpstreamOptions options) {
  auto v = sign::Verifier::Parse(options.verifier_key);
  if (!v)
    return Fail("upstream checksum database key " + options.verifier_key + ": " + v.message());
  if (!options.fetch) throw std::invalid_argument("Upstream::Open: no fetch function");
  std::unique_ptr<Upstream> u(new Upstream(std::move(options)));
  u->name_ = v->name();
  if (u->o_.state.empty()) return u;
  std::ifstream in(u->o_.state);
  if (!in) return u;  // nothing seen yet
  std::stringstream note;
  note << in.rdbuf();
  auto text = sign::OpenNote(note.str(), *v);
  auto tree = text ? ParseTree(*text) : std::nullopt;
  if (!tree) {
    return Fail(u->o_.state.string() + ": not a tree head of " + u->name_ +
                " signed by its key: remove it only if the key changed on purpose");
  }
  u->seen_ = *tree;
  return u;
}

TreeHead Upstream::Seen() const {
  std::lock_guard g(mu_);
  return seen_;
}

Result<std::string> Upstream::Tile(const sumdb::Tile& t) {
  const std::string path = TilePath(t);
  {
    std::lock_guard g(mu_);
    if (auto it = tiles_.find(path); it != tiles_.end()) return it->second;
  }
  auto data = o_.fetch("/" + path);
  if (!data) return data.error();
  if (!*data && t.w < (1 << t.h)) {  // a partial tile may be gone once the tile is full
    sumdb::Tile full = t;
    full.w = 1 << t.h;
    data = o_.fetch("/" + TilePath(full));
    if (!data) return data.error();
    if (*data && t.l >= 0) (*data)->resize(std::min((*data)->size(), std::size_t(t.w) * 32));
  }
  if (!*data) return Fail(o_.url + ": no " + path);
  std::lock_guard g(mu_);
  if (tiles_.size() > 4096) tiles_.clear();
  tiles_.emplace(path, **data);
  return std::move(**data);
}

Status Upstream::Advance(const TreeHead& t, const std::string& note) {
  auto reader = [this](std::int64_t n) {
    return TileHashReader(n, [this](const sumdb::Tile& tile) { return Tile(tile); });
  };
  for (int i = 0; i < kAdvanceTries; ++i) {
    const TreeHead old = Seen();
    if (old.n == 0 || old.n == t.n) {
      if (old.n == t.n && old.hash != t.hash) {
        return Fail("two different trees of size " + std::to_string(t.n) +
                    " signed by the same key: a fork");
      }
      if (old.n == t.n) return Ok();
    } else {
      const TreeHead& big = t.n > old.n ? t : old;
      const TreeHead& small = t.n > old.n ? old : t;
      auto p = ProveTree(big.n, small.n, reader(big.n));
      if (!p) return p.error();
      if (!CheckTree(*p, big.n, big.hash, small.n, small.hash)) {
        return Fail("its tree " + std::to_string(t.n) +
                    " does not extend (or is not a prefix of) " + "tree " + std::to_string(old.n) +
                    " seen before: a fork");
      }
      if (t.n < old.n) return Ok();
    }
    std::lock_guard g(mu_);
    if (seen_.n != old.n) continue;  // another lookup moved it meanwhile: check again
    seen_ = t;
    if (o_.state.empty()) return Ok();
    auto file = fsio::AtomicFile::Create(o_.state.parent_path());
    if (!file) return file.error();
    if (auto st = file->Append(note); !st) return st;
    return file->CommitReplace(o_.state);
  }
  return Fail("its tree head keeps moving; try again");
}

Result<std::optional<std::string>> Upstream::Lookup(const std::string& path,
                                                    const std::string& version,
                                                    UpstreamFailure* why) {
  using Record = std::optional<std::string>;
  const std::string mv = path + "@" + version;
  auto unavailable = [&](const std::string& m) {
    ++unavailable_;
    if (why) *why = UpstreamFailure::kUnavailable;
    return Fail(o_.url + ": " + mv + ": " + m);
  };
  auto refused = [&](const std::string& m) {
    ++refused_;
    if (why) *why = UpstreamFailure::kRefused;
    return Fail(o_.url + ": " + mv + ": " + m + "; refused, nothing logged");
  };
  auto name = LookupObjectName(path, version);
  if (!name) return refused(name.message());
  auto body = o_.fetch("/" + *name);
  if (!body) return unavailable(body.message());
  if (!*body) return Record();
  const std::string& b = **body;
  const auto nl = b.find('\n');
  const auto end = b.find("\n\n");
  std::int64_t id = -1;
  if (nl == std::string::npos || end == std::string::npos || end < nl ||
      std::from_chars(b.data(), b.data() + nl, id).ptr != b.data() + nl || id < 0) {
    return refused("not a lookup answer");
  }
  const std::string text = b.substr(nl + 1, end - nl);
  if (!IsModuleRecord(text, path, version)) return refused("the record is not of " + mv);
  auto v = sign::Verifier::Parse(o_.verifier_key);
  auto tree_text = sign::OpenNote(std::string_view(b).substr(end + 2), *v);
  if (!tree_text) return refused("its tree head is not signed by " + name_ + "'s key");
  auto tree = ParseTree(*tree_text);
  if (!tree) return refused("its signed note is not a tree head");
  if (id >= tree->n) return refused("record " + std::to_string(id) + " is beyond its tree");
  auto proof = ProveRecord(
      tree->n, id, TileHashReader(tree->n, [this](const sumdb::Tile& t) { return Tile(t); }));
  if (!proof) return unavailable("reading its tiles: " + proof.message());
  if (!CheckRecord(*proof, tree->n, tree->hash, id, RecordHash(text))) {
    return refused("the record is not in its signed tree " + std::to_string(tree->n) +
                   " (the inclusion proof fails)");
  }
  if (auto st = Advance(*tree, std::string(std::string_view(b).substr(end + 2))); !st) {
    return refused(st.message());
  }
  ++verified_;
  return Record(text);
}

std::string Upstream::RenderMetrics() const {
  std::string out =
      "# HELP modpub_sumdb_upstream_lookups_total Lookups asked of the upstream checksum "
      "database, by result (refused: a bad signature, proof or fork; alert on it).\n"
      "# TYPE modpub_sumdb_upstream_lookups_total counter\n";
  for (auto [name, n] :
       {std::pair{"verified", verified_.load()}, std::pair{"refused", refused_.load()},
        std::pair{"unavailable", unavailable_.load()}}) {
    out += "modpub_sumdb_upstream_lookups_total{result=\"" + std::string(name) + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace modpub::sumdb
