// Records of another checksum database (sum.golang.org, or any database go could use),
// verified the way the go command verifies them, so that our own log can hold public
// modules' records too and go clients need one GOSUMDB for private and public modules.
//
// Lookup(path, version) asks upstream for "/lookup/<escaped path>@<escaped version>" and
// accepts the record only when all of this holds:
//  * the answer is "<id>\n<record>\n" followed by a tree head note signed by the
//    configured verifier key (other signatures are ignored; none by it: refused);
//  * the record is the module version's two go.sum lines ("<path> <version> h1:…" and
//    "<path> <version>/go.mod h1:…"), nothing else;
//  * id < N, the signed tree size, and the record's hash is in that tree: an inclusion
//    proof computed from upstream's tiles ("/tile/8/…") gives the signed tree hash;
//  * the tree is consistent with the newest upstream tree this process accepted before
//    (a tree proof between the two from the larger tree's tiles); the newest is then kept
//    (in `state`, a file, when given: a restart keeps checking against it).
// Anything else is refused with a message naming upstream and what failed; a tree that
// is not consistent with the one seen before is a fork and says so. Tiles are cached
// (they never change). The caller decides which paths may be asked at all: a private
// module path must never reach Lookup.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace modpub::sumdb {

struct UpstreamOptions {
  std::string verifier_key;  // "<name>+<hash>+<key>", as in GOSUMDB
  std::string url;           // for messages
  // GET of a path below the database URL ("/lookup/…", "/tile/…"): the body, nullopt for
  // 404 / 410, an error for anything else (the transport's own, upstream down).
  std::function<Result<std::optional<std::string>>(const std::string& path)> fetch;
  std::filesystem::path state;  // the newest accepted tree head's note; "" = memory only
};

// Why a Lookup failed: upstream could not be asked, or it answered something refused.
enum class UpstreamFailure { kUnavailable, kRefused };

class Upstream {
 public:
  static Result<std::unique_ptr<Upstream>> Open(UpstreamOptions options);

  // The verified record of path@version, nullopt when upstream has none. On failure,
  // *why (when given) says which kind.
  Result<std::optional<std::string>> Lookup(const std::string& path, const std::string& version,
                                            UpstreamFailure* why = nullptr);
  // The newest upstream tree accepted so far (n = 0 before any).
  TreeHead Seen() const;
  // Lookups so far, by outcome (records verified, answers refused, upstream unavailable),
  // as Prometheus series modpub_sumdb_upstream_lookups_total{result="…"}.
  std::string RenderMetrics() const;

 private:
  explicit Upstream(UpstreamOptions options);
  Result<std::string> Tile(const Tile& t);
  // Checks tree `t` against the newest seen and keeps the newer of the two.
  Status Advance(const TreeHead& t, const std::string& note);

  UpstreamOptions o_;
  std::string name_;  // the verifier key's name
  mutable std::mutex mu_;
  TreeHead seen_;
  std::map<std::string, std::string> tiles_;
  std::atomic<std::uint64_t> verified_{0}, refused_{0}, unavailable_{0};
};

}  // namespace modpub::sumdb
