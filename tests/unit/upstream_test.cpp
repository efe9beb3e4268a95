// sumdb/upstream: records of another checksum database, accepted only as go would accept
// them. The "upstream" here is a local log of ours served through a fetch function the
// way sumdb serves it (lookup answers with a signed tree head, tiles); each test bends one
// part of it: a changed record, another key, a forked history, a record of another module,
// an upstream that does not answer, and a restart that must remember what it saw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/object_log.hpp"
#include "modpub/sumdb/upstream.hpp"
#include "support/temp_repo.hpp"

namespace modpub::sumdb {
namespace {

using ::modpub::testing::TempDir;
using ::testing::HasSubstr;

std::string Rec(const std::string& path, const std::string& v, const std::string& h = "h1:A=") {
  return ModuleRecord(path, v, h, "h1:gomod=");
}

Log OpenLog(const std::filesystem::path& dir) {
  auto log = Log::Open(dir);
  return std::move(*log);
}

// A checksum database served from a local log and a signer key.
struct FakeUpstream {
  FakeUpstream(const std::filesystem::path& dir, const sign::KeyPair& keys)
      : log(OpenLog(dir)), signer(*sign::Signer::Parse(keys.signer)) {}

  std::string Note() {
    auto head = log.Latest();
    return *sign::SignNote(FormatTree(head->n, head->hash), signer);
  }

  Result<std::optional<std::string>> Fetch(const std::string& path) {
    ++requests;
    asked.push_back(path);
    if (down) return Fail("connection refused");
    if (path.starts_with("/tile/")) {
      auto t = ParseTilePath(path.substr(1));
      if (!t) return std::optional<std::string>();
      return log.ReadTile(*t);
    }
    for (std::int64_t id = 0; id < log.Latest()->n; ++id) {
      std::string text = *log.ReadRecord(id);
      const std::string key = RecordKey(text);
      auto name = LookupObjectName(key.substr(0, key.find('@')), key.substr(key.find('@') + 1));
      if ("/" + *name != path) continue;
      if (change_record)
        text = Rec(key.substr(0, key.find('@')), key.substr(key.find('@') + 1), "h1:CHANGED=");
      return std::optional<std::string>(*FormatRecord(id, text) + Note());
    }
    return std::optional<std::string>();
  }

  Log log;
  sign::Signer signer;
  bool down = false;
  bool change_record = false;
  int requests = 0;
  std::vector<std::string> asked;
};

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = *sign::GenerateKey("sum.example.org");
    up_ = std::make_unique<FakeUpstream>(dir_.path() / "up", keys_);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(up_->log.Append({Rec("example.org/pub" + std::to_string(i), "v1.0.0")}).ok());
    }
  }
  std::unique_ptr<Upstream> Open(FakeUpstream* up, const std::string& vkey = "",
                                 std::filesystem::path state = {}) {
    UpstreamOptions o;
    o.verifier_key = vkey.empty() ? keys_.verifier : vkey;
    o.url = "https://sum.example.org";
    o.fetch = [up](const std::string& p) { return up->Fetch(p); };
    o.state = std::move(state);
    auto u = Upstream::Open(std::move(o));
    EXPECT_TRUE(u.ok()) << u.message();
    return std::move(*u);
  }

  TempDir dir_;
  sign::KeyPair keys_;
  std::unique_ptr<FakeUpstream> up_;
};

TEST_F(UpstreamTest, AcceptsWhatProvesAndFollowsTheTreeAsItGrows) {
  auto u = Open(up_.get());
  auto r = u->Lookup("example.org/pub3", "v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(**r, Rec("example.org/pub3", "v1.0.0"));
  EXPECT_EQ(u->Seen().n, 20);
  for (int i = 20; i < 300; ++i) {  // past a tile boundary
    ASSERT_TRUE(up_->log.Append({Rec("example.org/pub" + std::to_string(i), "v1.0.0")}).ok());
  }
  auto later = u->Lookup("example.org/pub280", "v1.0.0");
  ASSERT_TRUE(later.ok()) << later.message();
  EXPECT_EQ(u->Seen().n, 300);
  auto absent = u->Lookup("example.org/none", "v1.0.0");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_F(UpstreamTest, RefusesAChangedRecordAnotherKeyAndAnotherModule) {
  up_->change_record = true;
  UpstreamFailure why{};
  auto changed = Open(up_.get());
  auto r = changed->Lookup("example.org/pub3", "v1.0.0", &why);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("the inclusion proof fails"));
  EXPECT_EQ(why, UpstreamFailure::kRefused);
  EXPECT_THAT(changed->RenderMetrics(),
              HasSubstr("modpub_sumdb_upstream_lookups_total{result=\"refused\"} 1\n"));
  EXPECT_EQ(changed->Seen().n, 0);  // nothing of that tree was taken
  up_->change_record = false;

  auto other = *sign::GenerateKey("sum.example.org");
  auto wrong = Open(up_.get(), other.verifier)->Lookup("example.org/pub3", "v1.0.0");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.message(), HasSubstr("not signed by sum.example.org's key"));

  // Asked for one module, answered with another's record.
  FakeUpstream liar(dir_.path() / "liar", keys_);
  ASSERT_TRUE(liar.log.Append({Rec("example.org/other", "v1.0.0")}).ok());
  std::string answer = **liar.Fetch("/lookup/example.org/other@v1.0.0");
  UpstreamOptions o;
  o.verifier_key = keys_.verifier;
  o.url = "https://sum.example.org";
  o.fetch = [&](const std::string& p) -> Result<std::optional<std::string>> {
    if (p.starts_with("/lookup/")) return std::optional<std::string>(answer);
    return liar.Fetch(p);
  };
  auto swapped = (*Upstream::Open(o))->Lookup("example.org/pub3", "v1.0.0");
  ASSERT_FALSE(swapped.ok());
  EXPECT_THAT(swapped.message(), HasSubstr("the record is not of example.org/pub3@v1.0.0"));
}

TEST_F(UpstreamTest, RefusesAForkEvenAfterARestart) {
  const auto state = dir_.path() / "state" / "upstream-latest";
  std::filesystem::create_directories(state.parent_path());
  ASSERT_TRUE(Open(up_.get(), "", state)->Lookup("example.org/pub1", "v1.0.0").ok());
  // Same key, another history: 20 records of which the 11th differs, then more.
  FakeUpstream fork(dir_.path() / "fork", keys_);
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(fork.log
                    .Append({Rec("example.org/pub" + std::to_string(i), "v1.0.0",
                                 i == 10 ? "h1:EVIL=" : "h1:A=")})
                    .ok());
  }
  auto restarted = Open(&fork, "", state);  // remembers tree 20 of the honest history
  EXPECT_EQ(restarted->Seen().n, 20);
  auto r = restarted->Lookup("example.org/pub22", "v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("a fork"));
  EXPECT_EQ(restarted->Seen().n, 20);  // the fork's tree was not taken
}

TEST_F(UpstreamTest, AnUpstreamThatDoesNotAnswerIsUnavailableNotRefused) {
  up_->down = true;
  UpstreamFailure why{};
  auto r = Open(up_.get())->Lookup("example.org/pub3", "v1.0.0", &why);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(why, UpstreamFailure::kUnavailable);
  EXPECT_THAT(r.message(), HasSubstr("connection refused"));
}

}  // namespace
}  // namespace modpub::sumdb
