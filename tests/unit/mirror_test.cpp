#include "modpub/mirror/mirror.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>

#include <cstdlib>
#include <filesystem>
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

// modpubd blocks SIGTERM/SIGINT in all threads and ignores SIGPIPE; git must not inherit
// either (both survive execve), or it would ignore systemd's stop and broken pipes.
TEST(Mirror, GitStartsWithDefaultSignals) {
  TempDir dir;
  const auto bin = dir.path() / "bin";
  std::filesystem::create_directories(bin);
  const auto out = dir.path() / "signals";
  {
    std::ofstream git(bin / "git");
    // perl (Essential on Debian), not sh: dash clears the blocked mask when it starts.
    git << "#!/usr/bin/perl\n"
        << "open(my $in, '<', '/proc/self/status') or die;\n"
        << "open(my $out, '>', $ENV{MODPUB_TEST_SIGNALS}) or die;\n"
        << "while (<$in>) { print $out $_ if /^Sig(Blk|Ign):/ }\n"
        << "close($out);\nprint STDERR \"fatal: fake git\\n\";\nexit 3;\n";
  }
  std::filesystem::permissions(bin / "git", std::filesystem::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  ::setenv("MODPUB_TEST_SIGNALS", out.c_str(), 1);
  sigset_t daemon_mask, old_mask;
  sigemptyset(&daemon_mask);
  sigaddset(&daemon_mask, SIGTERM);
  sigaddset(&daemon_mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &daemon_mask, &old_mask);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);

  config::RepoConfig repo;
  repo.path = (dir.path() / "m.git").string();
  repo.import_path = "corp.example/lib";
  repo.remote_url = "file:///nonexistent/lib.git";
  auto st = FetchTag(repo, "v1.0.0", std::chrono::seconds(30));

  ::signal(SIGPIPE, old_pipe);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::setenv("PATH", old_path.c_str(), 1);
  ::unsetenv("MODPUB_TEST_SIGNALS");

  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("git exited with 3: fatal: fake git"), std::string::npos)
      << st.message();
  std::ifstream in(out);
  std::string blk, ign;
  ASSERT_TRUE(std::getline(in, blk) && std::getline(in, ign)) << "the fake git did not run";
  EXPECT_EQ(blk, "SigBlk:\t0000000000000000");
  const unsigned long long ignored = std::stoull(ign.substr(ign.find('\t') + 1), nullptr, 16);
  EXPECT_EQ(ignored & (1ULL << (SIGPIPE - 1)), 0u) << ign;
}

}  // namespace
}  // namespace modpub::mirror
