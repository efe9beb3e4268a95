// Fuzzes the checksum database's tile paths and record texts (sumdb/tlog.hpp): tile paths
// come from go clients' requests, record texts from the log's files.
// Invariants: a tile path that parses is canonical (TilePath prints it back, byte for
// byte); a record text that FormatRecord accepts is valid and comes back framed as
// "<id>\n<text>\n"; RecordKey is "<path>@<version>" of the first line, or ""; a small hash
// tile is read from exactly the stored hashes a tree holding it has.
#include "fuzz_support.hpp"
#include "modpub/sumdb/tlog.hpp"

using namespace modpub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  if (auto tile = sumdb::ParseTilePath(in)) {
    FUZZ_CHECK(sumdb::TilePath(*tile) == in, sumdb::TilePath(*tile));
    FUZZ_CHECK(
        tile->h >= 1 && tile->n >= 0 && tile->l >= -1 && tile->w >= 1 && tile->w <= (1 << tile->h),
        std::string(in));
    // A small hash tile read from stored hashes: exactly its width in hashes, every
    // index asked for exists in a tree that holds the tile.
    if (tile->l >= 0 && tile->h == sumdb::kTileHeight && tile->l <= 2 && tile->n < 4) {
      const std::int64_t need = (tile->n * (std::int64_t{1} << tile->h) + tile->w)
                                << (tile->h * tile->l);
      FUZZ_CHECK(sumdb::TileInTree(*tile, need), std::string(in));
      const std::int64_t stored = sumdb::StoredHashCount(need);
      auto bytes = sumdb::ReadTileData(
          *tile, [&](const std::vector<std::int64_t>& idx) -> Result<std::vector<sumdb::Hash>> {
            std::vector<sumdb::Hash> out;
            for (std::int64_t i : idx) {
              FUZZ_CHECK(i >= 0 && i < stored, std::to_string(i));
              out.push_back(sumdb::RecordHash(std::to_string(i)));
            }
            return out;
          });
      FUZZ_CHECK(bytes && bytes->size() == static_cast<std::size_t>(tile->w) * 32, std::string(in));
    }
  }

  const bool valid = sumdb::IsValidRecordText(in);
  auto record = sumdb::FormatRecord(42, in);
  FUZZ_CHECK(record.ok() == valid, std::string(in));
  if (record) FUZZ_CHECK(*record == "42\n" + std::string(in) + "\n", *record);
  const std::string key = sumdb::RecordKey(in);
  if (!key.empty()) {
    FUZZ_CHECK(key.find('@') != std::string::npos && key.find('\n') == std::string::npos, key);
  }
  return 0;
}
