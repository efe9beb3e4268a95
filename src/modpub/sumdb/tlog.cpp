#include "modpub/sumdb/tlog.hpp"

#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/gotext.hpp"
#include "modpub/sign/sign.hpp"

namespace modpub::sumdb {
namespace {

// The largest power of two smaller than n (n >= 2), and its log2.
std::pair<std::int64_t, int> MaxPow2(std::int64_t n) {
  int l = 0;
  while ((std::int64_t{1} << (l + 1)) < n) ++l;
  return {std::int64_t{1} << l, l};
}

// Indexes of the stored hashes covering [lo, hi), largest subtrees first.
void SubTreeIndex(std::int64_t lo, std::int64_t hi, std::vector<std::int64_t>* need) {
  while (lo < hi) {
    auto [k, level] = MaxPow2(hi - lo + 1);
    if ((lo & (k - 1)) != 0) throw std::logic_error("tlog: bad math in SubTreeIndex");
    need->push_back(StoredHashIndex(level, lo >> level));
    lo += k;
  }
}

bool ParseInt(std::string_view s, std::int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Hash RecordHash(std::string_view data) {
  dirhash::Sha256 h;
  const char zero = 0;
  h.Update(&zero, 1);
  h.Update(data);
  return h.Finish();
}

Hash NodeHash(const Hash& left, const Hash& right) {
  dirhash::Sha256 h;
  const char one = 1;
  h.Update(&one, 1);
  h.Update(left.data(), left.size());
  h.Update(right.data(), right.size());
  return h.Finish();
}

std::string HashBase64(const Hash& h) {
  return dirhash::Base64(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

std::int64_t StoredHashIndex(int level, std::int64_t n) {
  for (int l = level; l > 0; --l) n = 2 * n + 1;
  std::int64_t i = 0;
  for (; n > 0; n >>= 1) i += n;
  return i + level;
}

std::pair<int, std::int64_t> SplitStoredHashIndex(std::int64_t index) {
  // Record n's hash is stored at StoredHashIndex(0, n) <= 2n, so n >= index / 2; each
  // record n adds 1 + trailing_zeros(n + 1) hashes. Walk up to the record whose hashes
  // hold `index`; the hashes after it are its completed subtrees, one per level.
  std::int64_t n = index / 2;
  std::int64_t at = StoredHashIndex(0, n);
  if (at > index) throw std::logic_error("tlog: bad math in SplitStoredHashIndex");
  for (;;) {
    std::int64_t next = at + 1 + std::countr_zero(static_cast<std::uint64_t>(n + 1));
    if (next > index) break;
    ++n;
    at = next;
  }
  const int level = static_cast<int>(index - at);
  return {level, n >> level};
}

std::int64_t StoredHashCount(std::int64_t n) {
  if (n == 0) return 0;
  std::int64_t num = StoredHashIndex(0, n - 1) + 1;
  for (auto i = static_cast<std::uint64_t>(n - 1); (i & 1) != 0; i >>= 1) ++num;
  return num;
}

Result<std::vector<Hash>> StoredHashes(std::int64_t n, const Hash& record_hash,
                                       const HashReader& r) {
  std::vector<Hash> hashes{record_hash};
  const int m = std::countr_zero(static_cast<std::uint64_t>(n + 1));
  std::vector<std::int64_t> indexes(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) indexes[m - 1 - i] = StoredHashIndex(i, (n >> i) - 1);
  auto old = r(indexes);
  if (!old) return old.error();
  if (old->size() != indexes.size()) throw std::logic_error("tlog: HashReader returned too few");
  Hash h = record_hash;
  for (int i = 0; i < m; ++i) {
    h = NodeHash((*old)[m - 1 - i], h);
    hashes.push_back(h);
  }
  return hashes;
}

Result<Hash> TreeHash(std::int64_t n, const HashReader& r) {
  if (n == 0) return Hash{};
  std::vector<std::int64_t> indexes;
  SubTreeIndex(0, n, &indexes);
  auto hashes = r(indexes);
  if (!hashes) return hashes.error();
  if (hashes->size() != indexes.size()) throw std::logic_error("tlog: HashReader returned too few");
  Hash h = hashes->back();
  for (std::size_t i = hashes->size() - 1; i-- > 0;) h = NodeHash((*hashes)[i], h);
  return h;
}

std::string TilePath(const Tile& t) {
  std::int64_t n = t.n;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%03lld", static_cast<long long>(n % 1000));
  std::string n_str = buf;
  while (n >= 1000) {
    n /= 1000;
    std::snprintf(buf, sizeof buf, "x%03lld/", static_cast<long long>(n % 1000));
    n_str = buf + n_str;
  }
  std::string p = "tile/" + std::to_string(t.h) + "/" + (t.l == -1 ? "data" : std::to_string(t.l)) +
                  "/" + n_str;
  if (t.w != (1 << t.h)) p += ".p/" + std::to_string(t.w);
  return p;
}

Result<Tile> ParseTilePath(std::string_view path) {
  auto bad = [&] { return Fail("malformed tile path " + module::Quote(path)); };
  std::vector<std::string_view> f;
  for (std::size_t start = 0;;) {
    auto slash = path.find('/', start);
    f.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (f.size() < 4 || f[0] != "tile" || f.size() > 12) return bad();
  std::int64_t h = 0, l = 0;
  bool is_data = f[2] == "data";
  if (!ParseInt(f[1], &h) || (!is_data && !ParseInt(f[2], &l)) || h < 1 || l < 0 || h > 30) {
    return bad();
  }
  std::int64_t w = std::int64_t{1} << h;
  std::string last_n;
  if (f[f.size() - 2].ends_with(".p")) {
    std::int64_t ww = 0;
    if (!ParseInt(f.back(), &ww) || ww <= 0 || ww >= w) return bad();
    w = ww;
    f[f.size() - 2].remove_suffix(2);
    f.pop_back();
  }
  std::int64_t n = 0;
  for (std::size_t i = 3; i < f.size(); ++i) {
    std::string_view s = f[i];
    if (s.starts_with('x')) s.remove_prefix(1);
    std::int64_t nn = 0;
    if (!ParseInt(s, &nn) || nn < 0 || nn >= 1000) return bad();
    if (n > (INT64_MAX - nn) / 1000) return bad();
    n = n * 1000 + nn;
  }
  Tile t{static_cast<int>(h), is_data ? -1 : l, n, static_cast<int>(w)};
  if (TilePath(t) != path) return bad();
  return t;
}

std::vector<Tile> NewTiles(int h, std::int64_t old_n, std::int64_t new_n) {
  std::vector<Tile> tiles;
  for (int level = 0; (new_n >> (h * level)) > 0; ++level) {
    std::int64_t o = old_n >> (h * level);
    std::int64_t nw = new_n >> (h * level);
    for (std::int64_t n = o >> h; n < (nw >> h); ++n) tiles.push_back({h, level, n, 1 << h});
    std::int64_t n = nw >> h;
    int max_w = static_cast<int>(nw - (n << h));
    int min_w = 1;
    if (o > (n << h)) min_w = static_cast<int>(o - (n << h));
    for (int w = min_w; w <= max_w; ++w) tiles.push_back({h, level, n, w});
  }
  return tiles;
}

bool TileInTree(const Tile& t, std::int64_t tree_n) {
  if (t.h < 1 || t.h > 30 || t.w < 1 || t.w > (1 << t.h) || t.n < 0) return false;
  if (t.n > (INT64_MAX >> t.h) - t.w) return false;
  std::int64_t end = (t.n << t.h) + t.w;  // one past the last index at the tile's level
  if (t.l == -1) return end <= tree_n;
  if (t.l < 0 || t.l > 63 || t.l * t.h >= 63) return false;
  const int shift = static_cast<int>(t.l) * t.h;
  if (end > (tree_n >> shift)) return false;
  return true;
}

Result<std::string> ReadTileData(const Tile& t, const HashReader& r) {
  if (t.l < 0) throw std::logic_error("ReadTileData: a data tile has no hashes");
  std::vector<std::int64_t> indexes;
  const std::int64_t start = t.n << t.h;
  const int level = static_cast<int>(t.l) * t.h;  // callers checked TileInTree
  for (int i = 0; i < t.w; ++i) indexes.push_back(StoredHashIndex(level, start + i));
  auto hashes = r(indexes);
  if (!hashes) return hashes.error();
  std::string out;
  out.reserve(hashes->size() * 32);
  for (const auto& h : *hashes) out.append(reinterpret_cast<const char*>(h.data()), h.size());
  return out;
}

namespace {

// The hash of subtree [lo, hi) from the stored hashes SubTreeIndex(lo, hi) asked for, taken
// from the front of `hashes` (advanced past them).
Hash SubTreeHash(std::int64_t lo, std::int64_t hi, const Hash*& hashes, const Hash* end) {
  int count = 0;
  for (std::int64_t at = lo; at < hi; ++count) at += MaxPow2(hi - at + 1).first;
  if (end - hashes < count) throw std::logic_error("tlog: too few hashes in SubTreeHash");
  Hash h = hashes[count - 1];
  for (int i = count - 2; i >= 0; --i) h = NodeHash(hashes[i], h);
  hashes += count;
  return h;
}

// The hashes proving leaf n in [lo, hi): the subtree beside each step down.
void LeafProofIndex(std::int64_t lo, std::int64_t hi, std::int64_t n,
                    std::vector<std::int64_t>* need) {
  if (lo + 1 == hi) return;
  const std::int64_t k = MaxPow2(hi - lo).first;
  if (n < lo + k) {
    LeafProofIndex(lo, lo + k, n, need);
    SubTreeIndex(lo + k, hi, need);
  } else {
    SubTreeIndex(lo, lo + k, need);
    LeafProofIndex(lo + k, hi, n, need);
  }
}

void LeafProof(std::int64_t lo, std::int64_t hi, std::int64_t n, const Hash*& hashes,
               const Hash* end, Proof* p) {
  if (lo + 1 == hi) return;
  const std::int64_t k = MaxPow2(hi - lo).first;
  Hash sibling{};
  if (n < lo + k) {
    LeafProof(lo, lo + k, n, hashes, end, p);
    sibling = SubTreeHash(lo + k, hi, hashes, end);
  } else {
    sibling = SubTreeHash(lo, lo + k, hashes, end);
    LeafProof(lo + k, hi, n, hashes, end, p);
  }
  p->push_back(sibling);
}

// The root of [lo, hi) from leaf n's hash and the proof's last `len` hashes (innermost
// first); nullopt when the proof has the wrong length.
std::optional<Hash> RunRecordProof(const Proof& p, std::size_t len, std::int64_t lo,
                                   std::int64_t hi, std::int64_t n, const Hash& leaf) {
  if (lo + 1 == hi) return len == 0 ? std::optional<Hash>(leaf) : std::nullopt;
  if (len == 0) return std::nullopt;
  const std::int64_t k = MaxPow2(hi - lo).first;
  const Hash& sibling = p[len - 1];
  if (n < lo + k) {
    auto h = RunRecordProof(p, len - 1, lo, lo + k, n, leaf);
    return h ? std::optional<Hash>(NodeHash(*h, sibling)) : std::nullopt;
  }
  auto h = RunRecordProof(p, len - 1, lo + k, hi, n, leaf);
  return h ? std::optional<Hash>(NodeHash(sibling, *h)) : std::nullopt;
}

void TreeProofIndex(std::int64_t lo, std::int64_t hi, std::int64_t n,
                    std::vector<std::int64_t>* need) {
  if (n == hi) {
    if (lo != 0) SubTreeIndex(lo, hi, need);
    return;
  }
  const std::int64_t k = MaxPow2(hi - lo).first;
  if (n <= lo + k) {
    TreeProofIndex(lo, lo + k, n, need);
    SubTreeIndex(lo + k, hi, need);
  } else {
    SubTreeIndex(lo, lo + k, need);
    TreeProofIndex(lo + k, hi, n, need);
  }
}

void TreeProof(std::int64_t lo, std::int64_t hi, std::int64_t n, const Hash*& hashes,
               const Hash* end, Proof* p) {
  if (n == hi) {
    if (lo != 0) p->push_back(SubTreeHash(lo, hi, hashes, end));
    return;
  }
  const std::int64_t k = MaxPow2(hi - lo).first;
  Hash sibling{};
  if (n <= lo + k) {
    TreeProof(lo, lo + k, n, hashes, end, p);
    sibling = SubTreeHash(lo + k, hi, hashes, end);
  } else {
    sibling = SubTreeHash(lo, lo + k, hashes, end);
    TreeProof(lo + k, hi, n, hashes, end, p);
  }
  p->push_back(sibling);
}

// {hash of the old tree's part of [lo, hi), hash of [lo, hi)} from the proof's first `len`
// hashes and the old tree hash; nullopt when the proof does not fit.
std::optional<std::pair<Hash, Hash>> RunTreeProof(const Proof& p, std::size_t len, std::int64_t lo,
                                                  std::int64_t hi, std::int64_t n,
                                                  const Hash& old) {
  using Pair = std::optional<std::pair<Hash, Hash>>;
  if (n == hi) {
    if (lo == 0) return len == 0 ? Pair({old, old}) : std::nullopt;
    return len == 1 ? Pair({p[0], p[0]}) : std::nullopt;
  }
  if (len == 0) return std::nullopt;
  const std::int64_t k = MaxPow2(hi - lo).first;
  const Hash& sibling = p[len - 1];
  if (n <= lo + k) {
    auto r = RunTreeProof(p, len - 1, lo, lo + k, n, old);
    if (!r) return std::nullopt;
    return Pair({r->first, NodeHash(r->second, sibling)});
  }
  auto r = RunTreeProof(p, len - 1, lo + k, hi, n, old);
  if (!r) return std::nullopt;
  return Pair({NodeHash(sibling, r->first), NodeHash(sibling, r->second)});
}

// Reads the hashes at `need` and runs `build` over them.
template <class Build>
Result<Proof> Prove(const std::vector<std::int64_t>& need, const HashReader& r, Build build) {
  Proof p;
  if (need.empty()) return p;
  auto hashes = r(need);
  if (!hashes) return hashes.error();
  if (hashes->size() != need.size()) throw std::logic_error("tlog: HashReader returned too few");
  const Hash* at = hashes->data();
  const Hash* end = at + hashes->size();
  build(at, end, &p);
  if (at != end) throw std::logic_error("tlog: bad math in a proof");
  return p;
}

}  // namespace

Result<Proof> ProveRecord(std::int64_t t, std::int64_t n, const HashReader& r) {
  if (t < 0 || n < 0 || n >= t) return Fail("tlog: invalid inputs in ProveRecord");
  std::vector<std::int64_t> need;
  LeafProofIndex(0, t, n, &need);
  return Prove(need, r,
               [&](const Hash*& at, const Hash* end, Proof* p) { LeafProof(0, t, n, at, end, p); });
}

bool CheckRecord(const Proof& p, std::int64_t t, const Hash& tree_hash, std::int64_t n,
                 const Hash& record_hash) {
  if (t < 0 || n < 0 || n >= t) return false;
  auto root = RunRecordProof(p, p.size(), 0, t, n, record_hash);
  return root && *root == tree_hash;
}

Result<Proof> ProveTree(std::int64_t t, std::int64_t n, const HashReader& r) {
  if (t < 1 || n < 1 || n > t) return Fail("tlog: invalid inputs in ProveTree");
  std::vector<std::int64_t> need;
  TreeProofIndex(0, t, n, &need);
  return Prove(need, r,
               [&](const Hash*& at, const Hash* end, Proof* p) { TreeProof(0, t, n, at, end, p); });
}

bool CheckTree(const Proof& p, std::int64_t t, const Hash& t_hash, std::int64_t n,
               const Hash& n_hash) {
  if (t < 1 || n < 1 || n > t) return false;
  auto r = RunTreeProof(p, p.size(), 0, t, n, n_hash);
  return r && r->first == n_hash && r->second == t_hash;
}

HashReader TileHashReader(std::int64_t tree_n, TileFetcher fetch) {
  return [tree_n, fetch = std::move(fetch)](
             const std::vector<std::int64_t>& idx) -> Result<std::vector<Hash>> {
    std::vector<Hash> out;
    out.reserve(idx.size());
    for (std::int64_t i : idx) {
      auto [level, index] = SplitStoredHashIndex(i);
      const int tile_level = level / kTileHeight;
      const int sub = level % kTileHeight;
      const std::int64_t first = index << sub;  // at the tile's bottom level
      const std::int64_t count = std::int64_t{1} << sub;
      const std::int64_t tile_n = first >> kTileHeight;
      const std::int64_t in_tree = (tree_n >> (tile_level * kTileHeight)) - (tile_n << kTileHeight);
      const std::int64_t w = std::min<std::int64_t>(in_tree, std::int64_t{1} << kTileHeight);
      const std::int64_t offset = first - (tile_n << kTileHeight);
      if (offset + count > w) {
        return Fail("tlog: hash (" + std::to_string(level) + ", " + std::to_string(index) +
                    ") is not in a tree of " + std::to_string(tree_n));
      }
      const Tile t{kTileHeight, tile_level, tile_n, static_cast<int>(w)};
      auto data = fetch(t);
      if (!data) return data.error();
      if (data->size() != static_cast<std::size_t>(w) * 32) {
        return Fail(TilePath(t) + ": " + std::to_string(data->size()) + " bytes, not " +
                    std::to_string(w * 32));
      }
      std::vector<Hash> hs(static_cast<std::size_t>(count));
      for (std::int64_t k = 0; k < count; ++k) {
        std::memcpy(hs[k].data(), data->data() + (offset + k) * 32, 32);
      }
      while (hs.size() > 1) {
        std::vector<Hash> up(hs.size() / 2);
        for (std::size_t k = 0; k < up.size(); ++k) up[k] = NodeHash(hs[2 * k], hs[2 * k + 1]);
        hs = std::move(up);
      }
      out.push_back(hs[0]);
    }
    return out;
  };
}

std::string FormatTree(std::int64_t n, const Hash& h) {
  return "go.sum database tree\n" + std::to_string(n) + "\n" + HashBase64(h) + "\n";
}

std::optional<TreeHead> ParseTree(std::string_view text) {
  constexpr std::string_view kPrefix = "go.sum database tree\n";
  if (!text.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = text.substr(kPrefix.size());
  auto nl = rest.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  TreeHead t;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + nl, t.n);
  if (ec != std::errc() || p != rest.data() + nl || t.n < 0) return std::nullopt;
  rest = rest.substr(nl + 1);
  nl = rest.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  auto hash = sign::Base64Decode(rest.substr(0, nl));
  if (!hash || hash->size() != t.hash.size()) return std::nullopt;
  std::memcpy(t.hash.data(), hash->data(), t.hash.size());
  return t;
}

bool IsValidRecordText(std::string_view text) {
  char32_t last = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto d = module::DecodeRune(text.substr(i));
    if ((d.rune < 0x20 && d.rune != '\n') || (d.rune == module::kRuneError && d.width == 1) ||
        (last == '\n' && d.rune == '\n')) {
      return false;
    }
    i += d.width;
    last = d.rune;
  }
  return last == '\n';
}

Result<std::string> FormatRecord(std::int64_t id, std::string_view text) {
  if (!IsValidRecordText(text)) return Fail("malformed record data");
  std::string out = std::to_string(id) + "\n";
  out += text;
  out += '\n';
  return out;
}

std::string ModuleRecord(std::string_view path, std::string_view version, std::string_view sum,
                         std::string_view gomod_sum) {
  std::string out;
  out.append(path).append(" ").append(version).append(" ").append(sum).append("\n");
  out.append(path).append(" ").append(version).append("/go.mod ").append(gomod_sum).append("\n");
  return out;
}

std::string RecordKey(std::string_view text) {
  auto nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return "";
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return "";
  std::string key(line.substr(0, sp1));
  key += '@';
  key += line.substr(sp1 + 1, sp2 - sp1 - 1);
  return key;
}

}  // namespace modpub::sumdb
