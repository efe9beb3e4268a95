// http::MountProxy over a GOPROXY tree and a sumdb log, through a real http::Server and a
// cpp-httplib client; and the optional signatures of storage (backend.hpp).
#include "modpub/http/proxy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <random>
#include <thread>

#include "modpub/http/server.hpp"
#include "modpub/storage/athens_disk.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "support/temp_repo.hpp"

namespace modpub::http {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;

storage::VersionFiles Version(const fs::path& dir, const std::string& path, const std::string& v,
                              std::size_t zip_size, const std::string& sig = "") {
  fs::path zip = dir / (v + "-" + std::to_string(zip_size) + ".zip");
  std::mt19937 rng(static_cast<unsigned>(zip_size));
  std::string data(zip_size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(zip, std::ios::binary) << data;
  return {path,   v,  "{\"Version\":\"" + v + "\"}", "module " + path + "\n", zip, "h1:z",
          "h1:m", sig};
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "tree";
    auto tree = std::make_shared<storage::FsTree>("file://" + root_.string(), root_);
    for (auto [v, size] : {std::pair{"v1.0.0", 100}, {"v1.1.0", 300000}, {"v1.2.0-rc.1", 50}}) {
      auto r =
          tree->Put(Version(dir_.path(), "corp.example/Lib", v, static_cast<std::size_t>(size)));
      ASSERT_TRUE(r.ok()) << r.message();
    }
    auto kp = sign::GenerateKey("sumdb.test");
    verifier_ = kp->verifier;
    auto log = sumdb::Log::Open(dir_.path() / "sumdb");
    ASSERT_TRUE(log->AppendModule("corp.example/Lib", "v1.0.0", "h1:z", "h1:m").ok());
    ProxyConfig c;
    c.backend = tree;
    c.log = std::make_shared<sumdb::Log>(std::move(*log));
    c.signer = std::make_shared<const sign::Signer>(*sign::Signer::Parse(kp->signer));
    MountProxy(server_.router(), c);
    ASSERT_TRUE(server_.Start("127.0.0.1", 0).ok());
    port_ = server_.port();
    ASSERT_GT(port_, 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  void TearDown() override { server_.Stop(); }

  TempDir dir_;
  fs::path root_;
  std::string verifier_;
  Server server_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ProxyTest, ServesTheGoproxyProtocol) {
  auto list = client_->Get("/corp.example/%21lib/@v/list");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->body, "v1.0.0\nv1.1.0\nv1.2.0-rc.1\n");
  auto info = client_->Get("/corp.example/!lib/@v/v1.0.0.info");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200);
  EXPECT_EQ(info->body, "{\"Version\":\"v1.0.0\"}");
  EXPECT_EQ(info->get_header_value("Content-Type"), "application/json");
  auto latest = client_->Get("/corp.example/!lib/@latest");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->body, "{\"Version\":\"v1.1.0\"}");          // a release before a pre-release
  auto zip = client_->Get("/corp.example/!lib/@v/v1.1.0.zip");  // streamed in chunks
  ASSERT_TRUE(zip);
  EXPECT_EQ(zip->status, 200);
  std::ifstream f(root_ / "corp.example/!lib/@v/v1.1.0.zip", std::ios::binary);
  std::string stored((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(zip->body.size(), 300000u);
  EXPECT_EQ(zip->body, stored);
  // Conditional GET.
  std::string etag = zip->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_THAT(zip->get_header_value("Cache-Control"), HasSubstr("immutable"));
  auto again = client_->Get("/corp.example/!lib/@v/v1.1.0.zip", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto other = client_->Get("/corp.example/!lib/@v/v1.1.0.zip", {{"If-None-Match", "\"x\""}});
  EXPECT_EQ(other->status, 200);
}

// Small files are answered from memory after the first request (http/file_cache.hpp),
// with the same headers, and a stored file changed or removed afterwards is noticed at
// the very next request.
TEST_F(ProxyTest, RepeatedSmallFilesFollowTheStoredFile) {
  const std::string url = "/corp.example/!lib/@v/v1.0.0.mod";
  auto first = client_->Get(url);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "module corp.example/Lib\n");
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  for (int i = 0; i < 3; ++i) {
    auto again = client_->Get(url);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
    EXPECT_EQ(again->body, first->body);
    EXPECT_EQ(again->get_header_value("ETag"), etag);
    EXPECT_EQ(again->get_header_value("Content-Type"), first->get_header_value("Content-Type"));
    EXPECT_EQ(again->get_header_value("Cache-Control"), first->get_header_value("Cache-Control"));
  }
  auto cond = client_->Get(url, {{"If-None-Match", etag}});
  ASSERT_TRUE(cond);
  EXPECT_EQ(cond->status, 304);
  EXPECT_TRUE(cond->body.empty());
  EXPECT_EQ(cond->get_header_value("ETag"), etag);

  // Damaged in storage (same size): the damaged bytes are what is served now, as before.
  const fs::path stored = root_ / "corp.example/!lib/@v/v1.0.0.mod";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(stored, std::ios::binary | std::ios::trunc) << "module corp.example/XYZ\n";
  auto damaged = client_->Get(url);
  ASSERT_TRUE(damaged);
  EXPECT_EQ(damaged->status, 200);
  EXPECT_EQ(damaged->body, "module corp.example/XYZ\n");
  fs::remove(stored);
  auto gone = client_->Get(url);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  // Other small parts and zips are unaffected.
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/v1.0.0.info")->status, 200);
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/v1.0.0.info")->body, "{\"Version\":\"v1.0.0\"}");
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/v1.0.0.zip")->status, 200);
}

TEST_F(ProxyTest, NotFoundAndBadRequests) {
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/v9.9.9.info")->status, 404);
  EXPECT_EQ(client_->Get("/corp.example/other/@v/list")->status, 404);
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/master.info")->status, 404);
  EXPECT_EQ(client_->Get("/corp.example/Lib/@v/list")->status, 400);  // unescaped upper case
  EXPECT_EQ(client_->Get("/corp.example/!!lib/@v/list")->status, 400);
  EXPECT_EQ(client_->Get("/corp.example/%2e%2e/%2e%2e/@v/list")->status, 400);
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/..%2F..%2Fx.info")->status, 400);
  EXPECT_EQ(client_->Get("/corp.example/!lib/@v/v1.0.0.tar")->status, 404);
  EXPECT_EQ(client_->Get("/nothing")->status, 404);
}

TEST_F(ProxyTest, ServesTheChecksumDatabase) {
  auto v = sign::Verifier::Parse(verifier_);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/supported")->status, 200);
  EXPECT_EQ(client_->Get("/sumdb/other.db/supported")->status, 404);
  auto latest = client_->Get("/sumdb/sumdb.test/latest");
  ASSERT_TRUE(latest);
  auto text = sign::OpenNote(latest->body, *v);
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_THAT(*text, ::testing::StartsWith("go.sum database tree\n1\n"));
  auto lookup = client_->Get("/sumdb/sumdb.test/lookup/corp.example/!lib@v1.0.0");
  ASSERT_TRUE(lookup);
  EXPECT_EQ(lookup->status, 200);
  EXPECT_THAT(lookup->body, ::testing::StartsWith("0\ncorp.example/Lib v1.0.0 h1:z\n"
                                                  "corp.example/Lib v1.0.0/go.mod h1:m\n\n"
                                                  "go.sum database tree\n1\n"));
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/lookup/corp.example/!lib@v1.1.0")->status, 404);
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/lookup/corp.example/!lib@master")->status, 400);
  auto tile = client_->Get("/sumdb/sumdb.test/tile/8/0/000.p/1");
  ASSERT_TRUE(tile);
  EXPECT_EQ(tile->status, 200);
  EXPECT_EQ(tile->body.size(), 32u);
  EXPECT_THAT(tile->get_header_value("Cache-Control"), HasSubstr("immutable"));
  auto data = client_->Get("/sumdb/sumdb.test/tile/8/data/000.p/1");
  EXPECT_THAT(data->body, ::testing::StartsWith("0\ncorp.example/Lib v1.0.0 h1:z\n"));
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/tile/8/0/000.p/2")->status, 404);
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/tile/8/0/000")->status, 404);
  EXPECT_EQ(client_->Get("/sumdb/sumdb.test/tile/8/0/0")->status, 400);
}

// Auth is asked at every request, also for answers the small-file cache holds.
TEST(ProxyAuth, CachedAnswersAreStillAuthorized) {
  TempDir dir;
  const fs::path root = dir.path() / "tree";
  auto tree = std::make_shared<storage::FsTree>("file://" + root.string(), root);
  ASSERT_TRUE(tree->Put(Version(dir.path(), "corp.example/Lib", "v1.0.0", 100)).ok());
  auto auth = Auth::FromToml(
      "realm = \"corp\"\n"
      "[[token]]\nname = \"all\"\nsha256 = \"" +
          HashToken("all-token") +
          "\"\nallow = [\"*\"]\n"
          "[[token]]\nname = \"few\"\nsha256 = \"" +
          HashToken("few-token") + "\"\nallow = [\"corp.example/other\"]\n",
      "test.toml");
  ASSERT_TRUE(auth.ok()) << auth.message();
  ProxyConfig c;
  c.backend = tree;
  c.auth = *auth;
  Server server;
  MountProxy(server.router(), c);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const int port = server.port();
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  const std::string url = "/corp.example/!lib/@v/v1.0.0.info";
  for (int round = 0; round < 2; ++round) {  // the second round is answered from memory
    auto ok = client.Get(url, {{"Authorization", "Bearer all-token"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "{\"Version\":\"v1.0.0\"}");
    EXPECT_THAT(ok->get_header_value("Cache-Control"), HasSubstr("private"));
    auto anonymous = client.Get(url);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401);
    EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Basic realm=\"corp\"");
    auto few = client.Get(url, {{"Authorization", "Bearer few-token"}});
    ASSERT_TRUE(few);
    EXPECT_EQ(few->status, 403);
  }
  server.Stop();
}

TEST(Signature, StoredOnceBesideTheVersionNeverOverwritten) {
  TempDir dir;
  const fs::path tree_root = dir.path() / "tree";
  const fs::path athens_root = dir.path() / "athens";
  storage::FsTree tree("file://" + tree_root.string(), tree_root);
  storage::AthensDisk athens("athens-disk://" + athens_root.string(), athens_root);
  for (storage::Backend* b : std::vector<storage::Backend*>{&tree, &athens}) {
    SCOPED_TRACE(b->Name());
    // Without a signature first (an older publish), then signed: the signature is added.
    auto plain = b->Put(Version(dir.path(), "corp.example/a", "v1.0.0", 64));
    ASSERT_TRUE(plain.ok());
    EXPECT_FALSE(b->LocalFile("corp.example/a", "v1.0.0", storage::VersionPart::kSig)->has_value());
    auto signed1 = b->Put(Version(dir.path(), "corp.example/a", "v1.0.0", 64, "SIG1\n"));
    ASSERT_TRUE(signed1.ok()) << signed1.message();
    EXPECT_EQ(signed1->outcome, storage::PutOutcome::kPublished);
    EXPECT_EQ(signed1->message, "added its signature");
    auto sig = b->LocalFile("corp.example/a", "v1.0.0", storage::VersionPart::kSig);
    ASSERT_TRUE(sig.ok() && sig->has_value());
    auto same = b->Put(Version(dir.path(), "corp.example/a", "v1.0.0", 64, "SIG1\n"));
    EXPECT_EQ(same->outcome, storage::PutOutcome::kUnchanged);
    auto other = b->Put(Version(dir.path(), "corp.example/a", "v1.0.0", 64, "SIG2\n"));
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other->outcome, storage::PutOutcome::kRefused);
    EXPECT_THAT(other->message, HasSubstr("signature"));
    std::ifstream in(**sig);
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, "SIG1\n");
    // The version itself is still complete and served.
    auto st = b->Stat("corp.example/a", "v1.0.0");
    ASSERT_TRUE(st.ok() && st->has_value());
    EXPECT_EQ((*st)->state, storage::VersionState::kComplete);
    EXPECT_TRUE(b->LocalFile("corp.example/a", "v1.0.0", storage::VersionPart::kZip)->has_value());
  }
  // Athens: nothing but the 3 files in the version directory.
  int entries = 0;
  for ([[maybe_unused]] const auto& e :
       fs::directory_iterator(athens_root / "corp.example/a/v1.0.0")) {
    ++entries;
  }
  EXPECT_EQ(entries, 3);
  EXPECT_TRUE(fs::exists(athens_root / ".modpub-sig/corp.example/a/v1.0.0.sig"));
  auto modules = athens.ListModules();
  ASSERT_TRUE(modules.ok());
  EXPECT_EQ(*modules, std::vector<std::string>{"corp.example/a"});
}

}  // namespace
}  // namespace modpub::http

namespace modpub::http {
namespace {

// Private prefixes decide what may be asked of an upstream checksum database: whole path
// elements only, and any ASCII case (a case variant would still name the private host).
TEST(PrivatePaths, MatchWholeElementsInAnyCase) {
  const std::vector<std::string> prefixes = {"corp.example", "git.corp.example/team"};
  for (const char* p : {"corp.example", "corp.example/x", "Corp.Example/x/v2",
                        "git.corp.example/team/lib", "GIT.corp.example/Team"}) {
    EXPECT_TRUE(IsPrivatePath(p, prefixes)) << p;
  }
  for (const char* p : {"corp.example2/x", "example.org/corp.example", "git.corp.example/teams",
                        "git.corp.example", "corp.exampl"}) {
    EXPECT_FALSE(IsPrivatePath(p, prefixes)) << p;
  }
  EXPECT_FALSE(IsPrivatePath("corp.example/x", {}));
}

}  // namespace
}  // namespace modpub::http
