// The transparency log arithmetic of Go's checksum database (golang.org/x/mod
// sumdb/tlog), pure functions:
//  * record hash = SHA-256(0x00 || record), node hash = SHA-256(0x01 || left || right)
//    (RFC 6962); the tree hash of n records is the RFC 6962 Merkle tree hash.
//  * "stored hashes": the hashes of every complete subtree, in the order tlog writes
//    them (record n's hash, then the hashes of the subtrees it completes), so that the
//    hash at (level, index) has the fixed position StoredHashIndex(level, index) in an
//    append-only file.
//  * tiles: tile (H, L, N, W) holds the W hashes at tree level L*H with indices
//    N*2^H .. N*2^H+W-1, concatenated; W < 2^H is a partial tile, path
//    "tile/H/L/NNN[.p/W]" with N in groups of three digits ("x001/x234/067"); L = -1
//    ("data") means the records themselves, each as "<id>\n<text>\n" (sumdb's format).
//  * a tree head is the note text "go.sum database tree\n<N>\n<base64 hash>\n"; a record
//    is "<id>\n<text>\n" in lookups, where text is lines ending in "\n", no blank line,
//    no control character but newline, valid UTF-8.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::sumdb {

using Hash = std::array<std::uint8_t, 32>;
inline constexpr int kTileHeight = 8;

Hash RecordHash(std::string_view data);
Hash NodeHash(const Hash& left, const Hash& right);
std::string HashBase64(const Hash& h);  // Hash.String()

std::int64_t StoredHashIndex(int level, std::int64_t n);
// The inverse of StoredHashIndex: the level and index of the hash stored at `index`.
std::pair<int, std::int64_t> SplitStoredHashIndex(std::int64_t index);
std::int64_t StoredHashCount(std::int64_t n);

// Reads stored hashes by index; must return exactly one hash per index or fail.
using HashReader = std::function<Result<std::vector<Hash>>(const std::vector<std::int64_t>&)>;

// The hashes to store after record n (record_hash first, then completed subtrees).
Result<std::vector<Hash>> StoredHashes(std::int64_t n, const Hash& record_hash,
                                       const HashReader& r);
// The tree hash of the first n records (all zeros for n = 0, as tlog).
Result<Hash> TreeHash(std::int64_t n, const HashReader& r);

// Proofs (RFC 6962, as tlog): a record proof shows that record n is in the tree of t
// records; a tree proof that the tree of n records is a prefix of the tree of t. Both are
// lists of hashes read through a HashReader (which need not be trusted: Check* recompute
// the tree hashes from them and compare with hashes the caller trusts, such as the ones
// in signed tree heads).
using Proof = std::vector<Hash>;
Result<Proof> ProveRecord(std::int64_t t, std::int64_t n, const HashReader& r);
bool CheckRecord(const Proof& p, std::int64_t t, const Hash& tree_hash, std::int64_t n,
                 const Hash& record_hash);
Result<Proof> ProveTree(std::int64_t t, std::int64_t n, const HashReader& r);
bool CheckTree(const Proof& p, std::int64_t t, const Hash& t_hash, std::int64_t n,
               const Hash& n_hash);

struct Tile {
  int h = kTileHeight;
  std::int64_t l = 0;  // -1: data tile (any level parses; TileInTree bounds it)
  std::int64_t n = 0;
  int w = 0;
  bool operator==(const Tile&) const = default;
};
std::string TilePath(const Tile& t);  // "tile/8/0/001.p/5"
// Parses a tile path exactly as tlog.ParseTilePath (the path must be canonical).
Result<Tile> ParseTilePath(std::string_view path);
// tlog.NewTiles: the tiles that change when a tree grows from old_n to new_n records.
std::vector<Tile> NewTiles(int h, std::int64_t old_n, std::int64_t new_n);
// Does the tree of tree_n records hold every hash (or record) of tile t?
bool TileInTree(const Tile& t, std::int64_t tree_n);
// The data of hash tile t (l >= 0).
Result<std::string> ReadTileData(const Tile& t, const HashReader& r);

// The stored hashes of the tree of `tree_n` records, read from its tiles of height
// kTileHeight (full ones, and the partial ones of that tree size) through `fetch`; a
// hash above a tile's level is computed from the tile. `fetch` must return W*32 bytes.
using TileFetcher = std::function<Result<std::string>(const Tile&)>;
HashReader TileHashReader(std::int64_t tree_n, TileFetcher fetch);

struct TreeHead {
  std::int64_t n = 0;
  Hash hash{};
};
std::string FormatTree(std::int64_t n, const Hash& h);
// Parses the tree of a tree head text (FormatTree's form; further lines are ignored, as
// tlog.ParseTree does, so a whole signed note parses too); nullopt when it is not one.
std::optional<TreeHead> ParseTree(std::string_view text);
bool IsValidRecordText(std::string_view text);
// "<id>\n<text>\n"; fails for invalid record text.
Result<std::string> FormatRecord(std::int64_t id, std::string_view text);

// The record of one module version, as the go command expects from a lookup:
// "<path> <version> <h1>\n<path> <version>/go.mod <h1>\n".
std::string ModuleRecord(std::string_view path, std::string_view version, std::string_view sum,
                         std::string_view gomod_sum);
// "<path>@<version>" from the first line of a module record; empty if it has no two fields.
std::string RecordKey(std::string_view text);

}  // namespace modpub::sumdb
