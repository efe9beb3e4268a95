#include "modpub/mirror/mirror.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "support/temp_repo.hpp"

namespace modpub::mirror {
namespace {

using modpub::testing::Capture;
using modpub::testing::TempDir;
using modpub::testing::TempRepo;

TEST(Mirror, RedactUrl) {
  EXPECT_EQ(RedactUrl("https://u:secret@host/x.git"), "https://host/x.git");
  EXPECT_EQ(RedactUrl("https://host/a@b"), "https://host/a@b");
  EXPECT_EQ(RedactUrl("git@host:x.git"), "git@host:x.git");
}

TEST(Mirror, FetchValidateAndFailures) {
  TempRepo src;
  src.Write("go.mod", "module corp.example/lib\n\ngo 1.19\n");
  src.Write("lib.go", "package lib\n");
  src.Commit();
  src.Tag("v1.0.0", /*annotated=*/true);
  src.Write("go.mod", "module other.example/x\n");
  src.Commit();
  src.Tag("v1.1.0");
  TempDir state;
  config::RepoConfig repo;
  repo.path = (state.path() / "mirrors" / "lib.git").string();
  repo.import_path = "corp.example/lib";
  repo.allowed_prefixes = {"corp.example/lib"};
  repo.remote_url = "file://" + src.path().string();

  ASSERT_TRUE(FetchTag(repo, "v1.0.0", std::chrono::seconds(30)).ok());
  auto problems = Validate(repo, "v1.0.0");
  ASSERT_TRUE(problems.ok()) << problems.message();
  EXPECT_TRUE(problems->empty());
  // Only the asked-for tag is in the mirror.
  EXPECT_EQ(Capture("git -C '" + repo.path + "' tag"), "v1.0.0\n");

  // A tag whose go.mod names another module: fetched, then refused by the checks.
  ASSERT_TRUE(FetchTag(repo, "v1.1.0", std::chrono::seconds(30)).ok());
  auto bad = Validate(repo, "v1.1.0");
  ASSERT_TRUE(bad.ok());
  ASSERT_FALSE(bad->empty());
  EXPECT_NE((*bad)[0].find("v1.1.0"), std::string::npos);
  config::Config cfg;
  auto p = Prepare(cfg, repo, "v1.1.0");
  EXPECT_EQ(p.kind, Prepared::kFail) << p.message;

  // A tag the remote does not have, an unreachable remote: errors to retry.
  auto missing = FetchTag(repo, "v9.9.9", std::chrono::seconds(30));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("v9.9.9"), std::string::npos);
  config::RepoConfig gone = repo;
  gone.remote_url = "https://user:pw@127.0.0.1:1/nothing.git";
  auto unreachable = FetchTag(gone, "v1.0.0", std::chrono::seconds(30));
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.message().find("pw"), std::string::npos) << unreachable.message();
  EXPECT_EQ(Prepare(cfg, gone, "v1.0.0").kind, Prepared::kRetry);
  EXPECT_FALSE(FetchTag(repo, "--upload-pack=x", std::chrono::seconds(30)).ok());
}

TEST(Mirror, TokenGoesInAnAuthorizationHeaderNeverInMessages) {
  // A fake HTTP git server: records what git sends, answers 403.
  httplib::Server server;
  std::mutex mu;
  std::string auth, url;
  server.Get(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    auth = req.get_header_value("Authorization");
    url = req.path;
    res.status = 403;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });
  TempDir dir;
  const std::string token = "ghp_T0ken-value";
  std::ofstream(dir.path() / "token") << token << "\n";
  config::RepoConfig repo;
  repo.path = (dir.path() / "m.git").string();
  repo.import_path = "corp.example/lib";
  repo.remote_url = "http://127.0.0.1:" + std::to_string(port) + "/corp/lib.git";
  repo.remote_token_file = (dir.path() / "token").string();
  auto st = FetchTag(repo, "v1.0.0", std::chrono::seconds(30));
  server.stop();
  t.join();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find(token), std::string::npos) << st.message();
  std::lock_guard lock(mu);
  // base64("x-access-token:ghp_T0ken-value")
  EXPECT_EQ(auth, "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX1Qwa2VuLXZhbHVl");
  EXPECT_EQ(url, "/corp/lib.git/info/refs");
  repo.provider = "gitlab";
  repo.remote_token_file = (dir.path() / "missing").string();
  EXPECT_FALSE(FetchTag(repo, "v1.0.0", std::chrono::seconds(30)).ok());
}

}  // namespace
}  // namespace modpub::mirror
