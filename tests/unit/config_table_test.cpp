// The key table against what is derived from it: the example file, the unknown-key
// check, the effective configuration; and loading without opening storage.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "modpub/config/config.hpp"
#include "modpub/config/keys.hpp"
#include "modpub/storage/open.hpp"

namespace modpub::config {
namespace {

// The required keys but storage, after a storage line.
const std::string kRequiredButStorage = R"(spool_dir = "/s"
state_dir = "/t"
socket = "/u.sock"
)";
const std::string kRequired = "storage = [\"file:///x\"]\n" + kRequiredButStorage;

const std::filesystem::path kExample =
    std::filesystem::path(__FILE__).parent_path() / "../../examples/modpub.toml";

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "line N: want ... / have ..." for the first line where the two differ.
std::string FirstDifference(const std::string& want, const std::string& have) {
  std::istringstream w(want), h(have);
  std::string wl, hl;
  for (int n = 1;; ++n) {
    const bool more_w = static_cast<bool>(std::getline(w, wl));
    const bool more_h = static_cast<bool>(std::getline(h, hl));
    if (!more_w && !more_h) return "no difference";
    if (more_w != more_h || wl != hl) {
      return "line " + std::to_string(n) + ":\n  table:   " + (more_w ? wl : "<end>") +
             "\n  example: " + (more_h ? hl : "<end>");
    }
  }
}

// The example with every commented-out key and table put back.
std::string Uncommented(const std::string& example) {
  static const std::regex kCommentedKey(R"(^# ([a-z_]+ = .*|\[\[?[a-z_]+\]\]?)$)");
  std::istringstream in(example);
  std::string out, line;
  std::smatch m;
  while (std::getline(in, line)) {
    out += (std::regex_match(line, m, kCommentedKey) ? m[1].str() : line) + "\n";
  }
  return out;
}

TEST(ConfigTable, ExampleFileIsTheRenderedTable) {
  const std::string want = ExampleToml();
  if (std::getenv("MODPUB_WRITE_EXAMPLE")) std::ofstream(kExample, std::ios::binary) << want;
  const std::string have = ReadFile(kExample);
  EXPECT_TRUE(have == want)
      << kExample << " differs from config::ExampleToml() (the key table, "
      << "src/modpub/config/keys.cpp) at " << FirstDifference(want, have)
      << "\nChange the table, then rewrite the example with MODPUB_WRITE_EXAMPLE=1 "
         "unit_tests --gtest_filter=ConfigTable.ExampleFileIsTheRenderedTable";
}

TEST(ConfigTable, ExampleLoadsAsWrittenAndUncommented) {
  const std::string example = ReadFile(kExample);
  auto c = ParseConfig(example, "modpub.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_FALSE(c->proxy.enabled);
  ASSERT_EQ(c->repositories.size(), 2u);
  EXPECT_EQ(c->repositories[1].path, "/var/lib/modpub/state/mirrors/corp.example_tools.git");

  auto all = ParseConfig(Uncommented(example), "all.toml");
  ASSERT_TRUE(all.ok()) << all.message() << "\n" << Uncommented(example);
  EXPECT_TRUE(all->proxy.enabled);
  EXPECT_TRUE(all->sumdb.enabled);
  EXPECT_EQ(all->repositories[0].provider, "github");
}

TEST(ConfigTable, HostedExamplesLoad) {
  for (const char* host : {"github", "gitlab", "gitea"}) {
    const auto file = kExample.parent_path() / host / "modpub.toml";
    auto c = ParseConfig(ReadFile(file), file.string());
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_FALSE(c->repositories.empty()) << file;
    EXPECT_EQ(c->repositories[0].provider, host);
  }
}

TEST(ConfigTable, EveryKeyIsInTheExampleInOrderAfterItsHelp) {
  const std::string example = ExampleToml();
  std::size_t at = 0;
  for (const internal::Key& k : internal::Keys()) {
    if (k.name.empty()) continue;
    const std::string leaf(k.kind == internal::Kind::kValue ? internal::LeafOf(k) : k.name);
    const std::string first_help_line(k.help.substr(0, k.help.find('\n')));
    ASSERT_FALSE(first_help_line.empty()) << k.name << " has no help";
    const std::size_t help = example.find("# " + first_help_line + "\n", at);
    ASSERT_NE(help, std::string::npos) << k.name;
    const std::string line = k.kind == internal::Kind::kValue   ? leaf + " = "
                             : k.kind == internal::Kind::kTable ? "[" + leaf + "]\n"
                                                                : "[[" + leaf + "]]\n";
    at = example.find(line, help);
    ASSERT_NE(at, std::string::npos) << k.name;
  }
}

TEST(ConfigTable, RowsAreGroupedUnderTheirTable) {
  std::set<std::string_view> names, tables;
  std::string_view current;  // the table the rows belong to
  for (const internal::Key& k : internal::Keys()) {
    EXPECT_TRUE(names.insert(k.name).second) << "twice: " << k.name;
    if (k.kind != internal::Kind::kValue) {
      current = k.name;
      tables.insert(k.name);
      EXPECT_EQ(k.field, nullptr) << k.name;
      continue;
    }
    EXPECT_EQ(internal::SectionOf(k), current) << k.name << " is not below its table";
    EXPECT_NE(k.field, nullptr) << k.name;
    EXPECT_EQ(k.finish, nullptr) << k.name;
  }
  EXPECT_TRUE(tables.count("")) << "the top level comes first";
}

TEST(ConfigTable, UnknownKeysNameTheTablesKeys) {
  auto c = ParseConfig(kRequired + "colour = 1\n[retry]\ncolour = 2\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      c.message().find(
          "m.toml:5:10: colour: unknown key (known: daemon, log_level, proxy, queue, "
          "queue_claim_idle_ms, "
          "repository, retry, socket, spool_dir, state_dir, storage, storage_deadline_ms, sumdb, "
          "webhook)"),
      std::string::npos)
      << c.message();
  EXPECT_NE(c.message().find("m.toml:7:10: retry.colour: unknown key (known: initial_backoff_ms, "
                             "max_attempts, max_backoff_ms)"),
            std::string::npos)
      << c.message();
}

TEST(ConfigTable, EffectiveTomlLoadsToTheSameConfiguration) {
  auto first = ParseConfig(Uncommented(ExampleToml()), "all.toml");
  ASSERT_TRUE(first.ok()) << first.message();
  const std::string shown = EffectiveToml(*first);
  EXPECT_EQ(shown.find("change-me"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\n# webhook_secret = (set, not shown)\n"), std::string::npos) << shown;

  auto second = ParseConfig(shown, "shown.toml");
  ASSERT_TRUE(second.ok()) << second.message() << "\n" << shown;
  ASSERT_EQ(second->repositories.size(), first->repositories.size());
  for (std::size_t i = 0; i < first->repositories.size(); ++i) {
    second->repositories[i].webhook_secret = first->repositories[i].webhook_secret;
  }
  second->source = first->source;
  EXPECT_EQ(EffectiveToml(*second), shown);
}

TEST(ConfigTable, EffectiveTomlFillsInDefaultsAndOmitsAbsentTables) {
  auto c = ParseConfig(kRequired + R"([[repository]]
import_path = "corp.example/a"
remote_url = "https://git.example/a.git"
)",
                       "m.toml");
  ASSERT_TRUE(c.ok()) << c.message();
  const std::string shown = EffectiveToml(*c);
  for (const char* want :
       {"# m.toml, as loaded", "\nlog_level = \"info\"\n", "\n[daemon]\nworkers = 2\n",
        "\nmax_attempts = 8\n", "\nfetch_timeout_ms = 300000\n",
        "\npath = \"/t/mirrors/corp.example_a.git\"\n",
        "\nallowed_prefixes = [\"corp.example/a\"]\n"}) {
    EXPECT_NE(shown.find(want), std::string::npos) << want << "\n" << shown;
  }
  for (const char* absent : {"[proxy]", "[sumdb]", "provider", "webhook_secret"}) {
    EXPECT_EQ(shown.find(absent), std::string::npos) << absent << "\n" << shown;
  }
}

// Loading checks the URL's syntax only: an S3 storage needs no credentials to load (they
// are read when the storage is opened), while a malformed URL is refused with the message
// opening it would give.
TEST(ConfigTable, StorageUrlsAreCheckedWithoutOpening) {
  // Without S3 credentials on this machine, opening this storage fails; loading must not.
  const std::string s3 = "s3://bucket/p?endpoint=http://127.0.0.1:9&region=us-east-1";
  auto c = ParseConfig("storage = [\"" + s3 + "\"]\n" + kRequiredButStorage, "m.toml");
  EXPECT_TRUE(c.ok()) << c.message();

  for (const char* bad : {"/srv/goproxy", "ftp://x/y", "file://rel/dir", "file:///a/../b",
                          "athens-disk:///x?y", "s3://", "s3://bucket/p?layout=tree"}) {
    Status checked = storage::CheckUrl(bad);
    auto opened = storage::OpenBackend(bad);
    ASSERT_FALSE(checked.ok()) << bad;
    ASSERT_FALSE(opened.ok()) << bad;
    EXPECT_EQ(checked.message(), opened.message()) << bad;
  }
  EXPECT_TRUE(storage::CheckUrl("file:///srv/goproxy").ok());
  EXPECT_TRUE(storage::CheckUrl("athens-disk://localhost/srv/athens").ok());
}

}  // namespace
}  // namespace modpub::config
