#include "modpub/config/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/temp_repo.hpp"

namespace modpub::config {
namespace {

const char* kGood = R"(log_level = "debug"
storage = ["file:///srv/goproxy", "athens-disk:///srv/athens"]
spool_dir = "/var/lib/modpub/spool"
state_dir = "/var/lib/modpub/state"
socket = "/run/modpub/modpubd.sock"

[daemon]
workers = 4
http_listen = "127.0.0.1:9000"
scan_interval_ms = 500

[retry]
initial_backoff_ms = 100
max_backoff_ms = 1000
max_attempts = 3

[[repository]]
path = "/srv/git/lib.git"
import_path = "corp.example/lib"
immutable_tags = true

[[repository]]
path = "/srv/git/tools.git"
import_path = "corp.example/tools"
allowed_prefixes = ["corp.example/tools", "corp.example/cmd"]
remote_url = "https://git.example/corp/tools.git"
provider = "gitea"
)";

TEST(Config, ParsesEveryKey) {
  auto c = ParseConfig(kGood, "modpub.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->log_level, "debug");
  ASSERT_EQ(c->storage.size(), 2u);
  EXPECT_EQ(c->storage[1], "athens-disk:///srv/athens");
  EXPECT_EQ(c->spool_dir, "/var/lib/modpub/spool");
  EXPECT_EQ(c->socket_path, "/run/modpub/modpubd.sock");
  EXPECT_EQ(c->workers, 4);
  EXPECT_EQ(c->http_listen, "127.0.0.1:9000");
  EXPECT_EQ(c->scan_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(c->retry.initial_backoff, std::chrono::milliseconds(100));
  EXPECT_EQ(c->retry.max_backoff, std::chrono::milliseconds(1000));
  EXPECT_EQ(c->retry.max_attempts, 3);
  ASSERT_EQ(c->repositories.size(), 2u);
  const auto& lib = c->repositories[0];
  EXPECT_TRUE(lib.immutable_tags);
  EXPECT_EQ(lib.allowed_prefixes, std::vector<std::string>{"corp.example/lib"});
  EXPECT_EQ(lib.line, 17);
  const auto& tools = c->repositories[1];
  EXPECT_FALSE(tools.immutable_tags);
  EXPECT_EQ(tools.allowed_prefixes.size(), 2u);
  EXPECT_EQ(tools.provider, "gitea");
  EXPECT_EQ(tools.remote_url, "https://git.example/corp/tools.git");
}

TEST(Config, Defaults) {
  auto c = ParseConfig(R"(storage = ["file:///x"]
spool_dir = "/s"
state_dir = "/t"
socket = "/u.sock"
)",
                       "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->workers, 2);
  EXPECT_EQ(c->http_listen, "127.0.0.1:8780");
  EXPECT_EQ(c->retry.max_attempts, 8);
  EXPECT_TRUE(c->repositories.empty());
}

TEST(Config, ErrorsNameFileLineAndKey) {
  auto c = ParseConfig(R"(storage = ["file:///x"]
spool_dir = "relative/spool"
state_dir = "/t"
socket = "/u.sock"
[daemon]
workers = 0
wrokers = 3
[[repository]]
path = "/srv/a.git"
import_path = "corp.example/a"
immutable_tags = "yes"
)",
                       "m.toml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.message();
  EXPECT_NE(m.find("m.toml:2:13: spool_dir: \"relative/spool\" must be an absolute path"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("m.toml:6:11: daemon.workers: 0 is out of range 1..64"), std::string::npos) << m;
  EXPECT_NE(m.find("m.toml:7:11: daemon.wrokers: unknown key"), std::string::npos) << m;
  EXPECT_NE(m.find("m.toml:11:18: repository[0].immutable_tags: must be true or false"),
            std::string::npos)
      << m;
}

TEST(Config, MissingRequiredKeys) {
  auto c = ParseConfig("[[repository]]\nimport_path = \"corp.example/a\"\n", "m.toml");
  ASSERT_FALSE(c.ok());
  for (const char* k : {"storage: missing", "spool_dir: missing", "state_dir: missing",
                        "socket: missing", "repository[0].path: missing"}) {
    EXPECT_NE(c.message().find(k), std::string::npos) << k << "\n" << c.message();
  }
}

TEST(Config, SyntaxErrorHasLine) {
  auto c = ParseConfig("storage = [\"file:///x\"]\nspool_dir = \"/s\nstate_dir = 3\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.message().rfind("m.toml:2:", 0), 0u) << c.message();
  EXPECT_NE(c.message().find("TOML syntax"), std::string::npos);
}

TEST(Config, BadStorageUrlAndImportPath) {
  auto c = ParseConfig(R"(storage = ["ftp://x/y"]
spool_dir = "/s"
state_dir = "/t"
socket = "/u.sock"
[[repository]]
path = "/a.git"
import_path = "-bad"
)",
                       "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("m.toml:1:12: storage[0]:"), std::string::npos) << c.message();
  EXPECT_NE(c.message().find("m.toml:7:15: repository[0].import_path:"), std::string::npos)
      << c.message();
}

TEST(Config, DuplicateRepository) {
  auto c = ParseConfig(R"(storage = ["file:///x"]
spool_dir = "/s"
state_dir = "/t"
socket = "/u.sock"
[[repository]]
path = "/srv/a.git"
import_path = "corp.example/a"
[[repository]]
path = "/srv/./a.git"
import_path = "corp.example/b"
)",
                       "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("already configured by the repository at line 5"), std::string::npos)
      << c.message();
}

TEST(Config, AllowsModuleIsElementWise) {
  RepoConfig r;
  r.allowed_prefixes = {"corp.example/lib"};
  EXPECT_TRUE(r.AllowsModule("corp.example/lib"));
  EXPECT_TRUE(r.AllowsModule("corp.example/lib/v2"));
  EXPECT_FALSE(r.AllowsModule("corp.example/library"));
  EXPECT_FALSE(r.AllowsModule("corp.example"));
}

TEST(Config, FindRepoComparesRealPaths) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "repos" / "a.git");
  std::filesystem::create_directory_symlink(dir.path() / "repos", dir.path() / "link");
  std::string text =
      "storage = [\"file:///x\"]\nspool_dir = \"/s\"\nstate_dir = \"/t\"\n"
      "socket = \"/u.sock\"\n[[repository]]\npath = \"" +
      (dir.path() / "link" / "a.git").string() + "\"\nimport_path = \"corp.example/a\"\n";
  auto c = ParseConfig(text, "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  const RepoConfig* r = c->FindRepo((dir.path() / "repos" / "a.git" / ".").string());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->import_path, "corp.example/a");
  EXPECT_EQ(c->FindRepo((dir.path() / "repos" / "b.git").string()), nullptr);
}

TEST(Config, LoadConfigReadsFileAndReportsMissing) {
  testing::TempDir dir;
  auto missing = LoadConfig((dir.path() / "nope.toml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.toml: cannot read the configuration file"),
            std::string::npos);
  std::ofstream(dir.path() / "m.toml") << kGood;
  auto c = LoadConfig((dir.path() / "m.toml").string());
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->source, (dir.path() / "m.toml").string());
}

TEST(Config, ADirectoryIsNotAConfigurationFile) {
  testing::TempDir dir;
  auto c = LoadConfig(dir.path().string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.message(), dir.path().string() +
                             ": is a directory, not a configuration file (give the TOML file, "
                             "e.g. /etc/modpub/modpub.toml)");
}

TEST(Config, PathsWithNulAndUnusablePortsAreExplained) {
  auto c = ParseConfig(
      "storage = [\"file:///srv/x\"]\nspool_dir = \"/var/sp\\u0000ool\"\n"
      "state_dir = \"/s\"\nsocket = \"/t.sock\"\n[daemon]\nhttp_listen = \"0.0.0.0:0\"\n",
      "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("m.toml:2:13: spool_dir: the path holds a NUL character"),
            std::string::npos)
      << c.message();
  EXPECT_NE(c.message().find("daemon.http_listen: \"0.0.0.0:0\": port 0 cannot be listened on: "
                             "give a port from 1 to 65535"),
            std::string::npos)
      << c.message();
  EXPECT_EQ(c.message().find("not host:port"), std::string::npos) << c.message();
}

TEST(Config, SplitHostPort) {
  std::string h;
  int p = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:8780", &h, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 8780);
  EXPECT_TRUE(SplitHostPort("[::1]:80", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(SplitHostPort("127.0.0.1", &h, &p));
  EXPECT_FALSE(SplitHostPort("127.0.0.1:0", &h, &p));
  EXPECT_FALSE(SplitHostPort("127.0.0.1:99999", &h, &p));
  EXPECT_FALSE(SplitHostPort("::1:80", &h, &p));
}

const char* kBase = R"(storage = ["file:///srv/goproxy"]
spool_dir = "/s"
state_dir = "/var/lib/modpub/state"
socket = "/u.sock"
)";

TEST(Config, ProxyAndSumdbTablesAreOptional) {
  auto c = ParseConfig(kBase, "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_FALSE(c->proxy.enabled);
  EXPECT_FALSE(c->sumdb.enabled);
}

TEST(Config, ProxyAndSumdbDefaults) {
  auto c = ParseConfig(std::string(kBase) + R"(
[proxy]

[sumdb]
name = "sum.corp.example"
signer_key = "/etc/modpub/sumdb.key"
)",
                       "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->proxy.enabled);
  EXPECT_EQ(c->proxy.from, "file:///srv/goproxy");  // the first storage
  EXPECT_EQ(c->proxy.prefix, "");
  EXPECT_EQ(c->proxy.auth_file, "");
  EXPECT_EQ(c->proxy.line, 6);
  EXPECT_TRUE(c->sumdb.enabled);
  EXPECT_EQ(c->sumdb.name, "sum.corp.example");
  EXPECT_EQ(c->sumdb.signer_key, "/etc/modpub/sumdb.key");
  EXPECT_EQ(c->sumdb.dir, "/var/lib/modpub/state/sumdb");
  EXPECT_EQ(c->sumdb.line, 8);
}

TEST(Config, ProxyAndSumdbEveryKey) {
  auto c = ParseConfig(std::string(kBase) + R"(
[proxy]
from = "athens-disk:///srv/athens"
prefix = "/goproxy"
auth = "/etc/modpub/auth.toml"

[sumdb]
name = "sum.corp.example"
signer_key = "/etc/modpub/sumdb.key"
dir = "/srv/sumdb"
)",
                       "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->proxy.from, "athens-disk:///srv/athens");
  EXPECT_EQ(c->proxy.prefix, "/goproxy");
  EXPECT_EQ(c->proxy.auth_file, "/etc/modpub/auth.toml");
  EXPECT_EQ(c->sumdb.dir, "/srv/sumdb");
}

TEST(Config, ProxyAndSumdbErrorsNameLineAndKey) {
  auto c = ParseConfig(std::string(kBase) + R"(
[daemon]
http_listen = ""

[proxy]
from = "ftp://bucket/p"
prefix = "goproxy/"
auth = "auth.toml"
colour = "blue"

[sumdb]
name = "bad name"
signer_key = "key"
dir = 7
)",
                       "m.toml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.message();
  for (const char* want :
       {"m.toml:9:1: proxy: the GOPROXY endpoint is served on daemon.http_listen",
        "m.toml:10:8: proxy.from:", "unknown scheme", "m.toml:11:10: proxy.prefix:",
        "m.toml:12:8: proxy.auth: \"auth.toml\" must be an absolute path",
        "m.toml:13:10: proxy.colour: unknown key", "m.toml:16:8: sumdb.name:",
        "m.toml:17:14: sumdb.signer_key: \"key\" must be an absolute path",
        "m.toml:18:7: sumdb.dir: must be a string"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  }
}

TEST(Config, SumdbNeedsNameAndKey) {
  auto c = ParseConfig(std::string(kBase) + "[sumdb]\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("sumdb.name: missing (required)"), std::string::npos) << c.message();
  EXPECT_NE(c.message().find("sumdb.signer_key: missing (required)"), std::string::npos)
      << c.message();
  auto t = ParseConfig(std::string(kBase) + "proxy = 1\n", "m.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("m.toml:5:9: proxy: must be a table"), std::string::npos)
      << t.message();
}

}  // namespace
}  // namespace modpub::config
