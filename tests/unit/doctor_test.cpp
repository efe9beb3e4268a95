// modpub doctor's checks (doctor/doctor.hpp) on temporary installations, and the storage
// probe they use (Backend::Probe).
#include "modpub/doctor/doctor.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "modpub/jobs/wake_socket.hpp"
#include "modpub/receive/install.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/s3.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/tlog.hpp"
#include "support/s3_server.hpp"
#include "support/temp_repo.hpp"

namespace modpub::doctor {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::Quoted;
using ::modpub::testing::Sh;
using ::modpub::testing::TempDir;

constexpr std::string_view kShim =
#include "../../hooks/shim.sh.inc"
    ;

// Every file and directory below `dir`, relative.
std::set<std::string> Tree(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

// A free TCP port on 127.0.0.1 (bound, then released; httplib::Server would keep it).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// An installation in a temporary directory: a configuration naming one bare repository,
// spool, state, socket and a file storage below it; nothing of it created until asked.
struct Doctor : ::testing::Test {
  TempDir tmp;
  fs::path root = tmp.path();
  fs::path repo = root / "git" / "lib.git";
  fs::path spool = root / "spool";
  fs::path state = root / "state";
  fs::path store = root / "goproxy";
  fs::path socket = root / "run" / "modpubd.sock";
  fs::path program = root / "bin" / "modpub-hook";
  fs::path config_file = root / "modpub.toml";
  std::string extra;  // appended to the configuration
  int port = FreePort();

  std::string Toml() const {
    return "storage = [\"file://" + store.string() + "\"]\nspool_dir = \"" + spool.string() +
           "\"\nstate_dir = \"" + state.string() + "\"\nsocket = \"" + socket.string() +
           "\"\n[daemon]\nhttp_listen = \"127.0.0.1:" + std::to_string(port) +
           "\"\n[[repository]]\npath = \"" + repo.string() +
           "\"\nimport_path = \"corp.example/lib\"\n" + extra;
  }
  config::Config Load() {
    std::ofstream(config_file) << Toml();
    auto cfg = config::LoadConfig(config_file.string());
    EXPECT_TRUE(cfg.ok()) << cfg.message();
    return cfg ? *cfg : config::Config{};
  }
  void MakeRepo() {
    fs::create_directories(repo.parent_path());
    Sh("git init -q --bare " + Quoted(repo));
    fs::create_directories(program.parent_path());
    std::ofstream(program) << "#!/bin/sh\n";
    fs::permissions(program, fs::perms::owner_all);
  }
  void InstallHooks(std::optional<fs::path> config) {
    receive::InstallOptions o{repo, program, std::move(config), std::string(kShim)};
    auto r = receive::Install(o);
    ASSERT_TRUE(r.ok()) << r.message();
  }
  Findings Repo(const config::Config& cfg) {
    return CheckRepository(cfg, cfg.repositories.at(0), std::string(kShim));
  }
};

TEST_F(Doctor, ConfigProblemsAreAllListedAndTheRestIsSkipped) {
  std::ofstream(config_file) << "storage = [\"ftp://x\"]\nspool_dir = \"rel\"\n";
  Options o;
  o.config_path = config_file.string();
  auto findings = doctor::Run(o);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].level, Level::kFail);
  EXPECT_NE(findings[0].problem.find("ftp"), std::string::npos) << findings[0].problem;
  EXPECT_NE(findings[0].problem.find("spool_dir"), std::string::npos) << findings[0].problem;
  EXPECT_NE(findings[0].problem.find("state_dir"), std::string::npos) << findings[0].problem;
  EXPECT_EQ(findings[1].level, Level::kSkipped);
  EXPECT_FALSE(Summarize(findings).healthy());
}

TEST_F(Doctor, MissingRepositorySkipsItsHooks) {
  auto f = Repo(Load());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_EQ(f[0].problem, "does not exist");
  EXPECT_NE(f[0].advice.find("git init --bare"), std::string::npos);
  EXPECT_EQ(f[1].level, Level::kSkipped);
}

TEST_F(Doctor, WorkTreeIsNoBareRepository) {
  fs::create_directories(repo);
  Sh("git init -q " + Quoted(repo));
  auto f = Repo(Load());
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_EQ(f[0].problem, "not a bare repository");
}

TEST_F(Doctor, HooksAbsent) {
  MakeRepo();
  auto f = Repo(Load());
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].level, Level::kOk);
  for (int i : {1, 2}) {
    EXPECT_EQ(f[i].level, Level::kFail);
    EXPECT_NE(f[i].problem.find("not installed"), std::string::npos) << f[i].problem;
    EXPECT_NE(f[i].advice.find("modpub hook install --repo " + repo.string() + " --config " +
                               config_file.string()),
              std::string::npos)
        << f[i].advice;
  }
}

TEST_F(Doctor, HooksInstalledWithThisConfig) {
  MakeRepo();
  auto cfg = Load();
  InstallHooks(config_file);
  auto f = Repo(cfg);
  ASSERT_EQ(f.size(), 3u);
  for (const auto& x : f) EXPECT_EQ(x.level, Level::kOk) << x.what << ": " << x.problem;
}

TEST_F(Doctor, HooksWithAnotherConfigOrNone) {
  MakeRepo();
  auto cfg = Load();
  fs::path other = root / "other.toml";
  std::ofstream(other) << Toml();
  InstallHooks(other);
  auto f = Repo(cfg);
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_EQ(f[1].problem, "reads " + other.string() + ", not " + config_file.string());

  InstallHooks(std::nullopt);
  f = Repo(cfg);
  EXPECT_EQ(f[1].level, Level::kWarn);
  EXPECT_NE(f[1].problem.find("passes no --config"), std::string::npos);
}

TEST_F(Doctor, HookNotExecutableOrNotModpubs) {
  MakeRepo();
  auto cfg = Load();
  InstallHooks(config_file);
  fs::permissions(repo / "hooks" / "post-receive", fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(repo / "hooks" / "pre-receive") << "#!/bin/sh\nexit 0\n";
  auto f = Repo(cfg);
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("is not modpub's hook"), std::string::npos) << f[1].problem;
  EXPECT_EQ(f[2].level, Level::kFail);
  EXPECT_NE(f[2].problem.find("not executable"), std::string::npos) << f[2].problem;
  EXPECT_NE(f[2].advice.find("chmod 755"), std::string::npos);
}

TEST_F(Doctor, HookProgramGone) {
  MakeRepo();
  auto cfg = Load();
  InstallHooks(config_file);
  fs::remove(program);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", "/nonexistent", 1);  // no modpub-hook to find there either
  auto f = Repo(cfg);
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("runs " + program.string()), std::string::npos) << f[1].problem;

  // The shim finds modpub-hook on PATH before its recorded one.
  fs::path bin = root / "pathbin";
  fs::create_directories(bin);
  std::ofstream(bin / "modpub-hook") << "#!/bin/sh\n";
  fs::permissions(bin / "modpub-hook", fs::perms::owner_all);
  ::setenv("PATH", bin.c_str(), 1);
  f = Repo(cfg);
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(f[1].level, Level::kOk) << f[1].problem;
}

TEST_F(Doctor, EarlierShimIsAWarning) {
  MakeRepo();
  auto cfg = Load();
  receive::InstallOptions o{repo, program, config_file,
                            "#!/bin/sh\n# modpub-hook-shim\nexec @PROGRAM@ @HOOK@ @ARGS@\n"};
  ASSERT_TRUE(receive::Install(o).ok());
  auto f = Repo(cfg);
  EXPECT_EQ(f[1].level, Level::kWarn) << f[1].problem;
  EXPECT_NE(f[1].problem.find("earlier modpub"), std::string::npos) << f[1].problem;
}

TEST_F(Doctor, MirrorNeedsASecret) {
  extra = "remote_url = \"https://git.example/corp/lib.git\"\n";
  auto f = Repo(Load());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].level, Level::kOk) << f[0].problem;  // not fetched yet
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("not set"), std::string::npos);
}

TEST_F(Doctor, SpoolMustBeGroupWritableAndSetgid) {
  MakeRepo();
  auto cfg = Load();
  auto f = CheckDirectories(cfg);
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_EQ(f[0].problem, "does not exist");
  fs::create_directories(spool / "queue");
  fs::create_directories(state);
  ::chmod(spool.c_str(), 0755);
  ::chmod((spool / "queue").c_str(), 02775);
  f = CheckDirectories(cfg);
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_NE(f[0].problem.find("mode 0755 (no group write and setgid)"), std::string::npos)
      << f[0].problem;
  EXPECT_EQ(f[1].level, Level::kOk) << f[1].problem;
  ::chmod(spool.c_str(), 02775);
  f = CheckDirectories(cfg);
  EXPECT_EQ(f[0].level, Level::kOk) << f[0].problem;

  // Another group than the repositories': a warning.
  ASSERT_EQ(::chown(spool.c_str(), static_cast<uid_t>(-1), 65534), 0);
  ::chmod(spool.c_str(), 02775);  // chown clears setgid
  f = CheckDirectories(cfg);
  EXPECT_EQ(f[0].level, Level::kWarn) << f[0].problem;
}

TEST_F(Doctor, SpoolOfMirrorsOnlyNeedsNoGroup) {
  extra = "remote_url = \"https://git.example/corp/lib.git\"\nwebhook_secret = \"s\"\n";
  auto cfg = Load();
  fs::create_directories(spool);
  fs::create_directories(state);
  ::chmod(spool.c_str(), 0755);
  for (const auto& x : CheckDirectories(cfg)) EXPECT_EQ(x.level, Level::kOk) << x.problem;
}

TEST_F(Doctor, Socket) {
  auto cfg = Load();
  Finding f = CheckSocket(cfg);
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_NE(f.problem.find("modpubd is not running"), std::string::npos);
  EXPECT_EQ(f.advice, "systemctl start modpubd");
  {
    auto wake = jobs::WakeSocket::Bind(socket.string());
    ASSERT_TRUE(wake.ok()) << wake.message();
    EXPECT_EQ(CheckSocket(cfg).level, Level::kOk) << CheckSocket(cfg).problem;
  }
  fs::create_directories(socket.parent_path());
  std::ofstream(socket) << "x";
  EXPECT_EQ(CheckSocket(cfg).problem, "not a socket");
}

TEST_F(Doctor, DaemonHealthz) {
  auto cfg = Load();
  EXPECT_EQ(CheckDaemon(cfg, std::chrono::milliseconds(500)).level, Level::kFail);
  httplib::Server server;
  std::atomic<int> status = 200;
  server.Get("/healthz", [&status](const httplib::Request&, httplib::Response& res) {
    res.status = status.load();
  });
  server.new_task_queue = [] { return new httplib::ThreadPool(4); };  // not 1 on 2 cores
  ASSERT_TRUE(server.bind_to_port("127.0.0.1", port));
  std::thread t([&server] { server.listen_after_bind(); });
  for (int i = 0; i < 200 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(CheckDaemon(cfg, std::chrono::milliseconds(2000)).level, Level::kOk);
  status = 503;
  Finding f = CheckDaemon(cfg, std::chrono::milliseconds(2000));
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_EQ(f.problem, "answered HTTP 503");
  server.stop();
  t.join();
}

TEST_F(Doctor, StorageProbeLeavesNothingBehind) {
  auto cfg = Load();
  // The storage root does not exist yet: the probe makes it and removes it again.
  Finding f = CheckStorage(cfg, cfg.storage[0]);
  EXPECT_EQ(f.level, Level::kOk) << f.problem;
  EXPECT_FALSE(fs::exists(store));
  // An existing tree (with someone's .modpub-doctor) keeps exactly what it had.
  fs::create_directories(store / ".modpub-doctor");
  fs::create_directories(store / "corp.example" / "lib" / "@v");
  auto before = Tree(store);
  f = CheckStorage(cfg, "athens-disk://" + store.string());
  EXPECT_EQ(f.level, Level::kOk) << f.problem;
  EXPECT_EQ(Tree(store), before);
}

TEST_F(Doctor, StorageProbeFailureLeavesNothingBehind) {
  auto cfg = Load();
  fs::create_directories(store);
  std::ofstream(store / ".modpub-doctor") << "a file where the probe wants a directory";
  auto before = Tree(store);
  Finding f = CheckStorage(cfg, cfg.storage[0]);
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_NE(f.problem.find("cannot create"), std::string::npos) << f.problem;
  EXPECT_EQ(Tree(store), before);
  // A name that is no single path element is refused before anything is touched.
  auto backend = storage::OpenBackend(cfg.storage[0]);
  ASSERT_TRUE(backend.ok());
  EXPECT_FALSE((*backend)->Probe("../x").ok());
}

TEST_F(Doctor, S3StorageProbeAndClock) {
  if (auto why = ::modpub::testing::S3Unavailable(); !why.empty()) GTEST_SKIP() << why;
  ::modpub::testing::S3TestServer server;
  ASSERT_TRUE(server.running());
  ::modpub::testing::S3TestServer::UseTestCredentials();
  auto cfg = Load();
  const std::string url = "s3://modules/p?endpoint=" + server.endpoint();
  cfg.storage = {url};
  Finding f = CheckStorage(cfg, url);
  EXPECT_EQ(f.level, Level::kOk) << f.problem;
  auto backend = storage::OpenBackend(url);
  ASSERT_TRUE(backend.ok());
  auto left = static_cast<storage::S3Backend&>(**backend).client().List("");
  ASSERT_TRUE(left.ok()) << left.message();
  EXPECT_TRUE(left->empty()) << left->front().key;  // the probe object was deleted
  auto clock = CheckClock(cfg, std::chrono::milliseconds(2000), std::chrono::seconds(300));
  ASSERT_EQ(clock.size(), 2u);
  EXPECT_EQ(clock[1].level, Level::kOk) << clock[1].problem;

  // Another bucket: the server refuses, the check says so.
  f = CheckStorage(cfg, "s3://nobucket/p?endpoint=" + server.endpoint() + "&attempts=1");
  EXPECT_EQ(f.level, Level::kFail);
}

// [sumdb] with a key made by sign::GenerateKey.
struct DoctorSumdb : Doctor {
  fs::path key = root / "signer.key";
  fs::path log_dir = root / "sumdb";
  sign::KeyPair pair = *sign::GenerateKey("sum.corp.example");

  void SetUp() override {
    extra = "[sumdb]\nname = \"sum.corp.example\"\nsigner_key = \"" + key.string() +
            "\"\ndir = \"" + log_dir.string() + "\"\nupstream = \"\"\n";
    WriteKey(pair.signer, 0600);
  }
  void WriteKey(const std::string& text, mode_t mode) {
    std::ofstream(key) << text << "\n";
    ::chmod(key.c_str(), mode);
  }
  Findings Check() { return CheckSumdb(Load(), std::chrono::milliseconds(300)); }
};

TEST_F(DoctorSumdb, HealthyKeyAndLog) {
  auto log = sumdb::Log::Open(log_dir);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> records;  // more than one full tile, one commit
  for (int i = 0; i < 300; ++i) {
    const std::string h1 = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    records.push_back(sumdb::ModuleRecord("corp.example/m" + std::to_string(i), "v1.0.0", h1, h1));
  }
  auto appended = log->Append(records);
  ASSERT_TRUE(appended.ok()) << appended.message();
  ASSERT_TRUE(log->BindVerifier(pair.verifier).ok());
  auto f = Check();
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].level, Level::kOk) << f[0].problem;
  EXPECT_EQ(f[1].level, Level::kOk) << f[1].problem;
  EXPECT_EQ(f[2].level, Level::kOk) << f[2].problem;
  EXPECT_NE(f[2].what.find("300 records"), std::string::npos) << f[2].what;
  EXPECT_EQ(f[3].level, Level::kSkipped);  // no daemon answers

  // Another key: the log is bound to the first one.
  auto other = *sign::GenerateKey("sum.corp.example");
  WriteKey(other.signer, 0600);
  f = Check();
  EXPECT_EQ(f[2].level, Level::kFail);
  EXPECT_NE(f[2].problem.find("bound to the key"), std::string::npos) << f[2].problem;

  // A stored hash changed: the log is damaged.
  WriteKey(pair.signer, 0600);
  {
    std::fstream h(log_dir / "hashes", std::ios::in | std::ios::out | std::ios::binary);
    h.seekp(0);
    h.put('\x42');
  }
  f = Check();
  EXPECT_EQ(f[2].level, Level::kFail);
}

TEST_F(DoctorSumdb, KeyFileModeNameAndFormat) {
  WriteKey(pair.signer, 0644);
  auto f = Check();
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_NE(f[0].problem.find("mode 0644"), std::string::npos) << f[0].problem;
  EXPECT_EQ(f[0].advice.rfind("chmod 600 " + key.string(), 0), 0u) << f[0].advice;
  EXPECT_EQ(f[1].level, Level::kOk);

  WriteKey(sign::GenerateKey("other.example")->signer, 0600);
  f = Check();
  EXPECT_EQ(f[0].level, Level::kOk);
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("key of \"other.example\""), std::string::npos) << f[1].problem;
  EXPECT_EQ(f[2].level, Level::kOk);  // no log yet
  EXPECT_EQ(f[3].level, Level::kSkipped);

  WriteKey(pair.verifier, 0600);
  f = Check();
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("not a signer key"), std::string::npos) << f[1].problem;

  fs::remove(key);
  f = Check();
  EXPECT_EQ(f[0].problem, "does not exist");
  EXPECT_NE(f[0].advice.find("modpub keygen --name sum.corp.example"), std::string::npos);
}

TEST_F(Doctor, ProxyAuthFile) {
  fs::path auth = root / "auth.toml";
  extra = "[proxy]\nauth = \"" + auth.string() + "\"\n";
  std::ofstream(auth) << "[[user]]\nname = \"a\"\n";  // no password, no allow
  auto f = CheckProxyAuth(Load());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].level, Level::kFail);
  std::ofstream(auth) << "[[token]]\nname = \"ci\"\nsha256 = \"" << std::string(64, 'a')
                      << "\"\nallow = [\"*\"]\n";
  f = CheckProxyAuth(Load());
  EXPECT_EQ(f[0].level, Level::kOk) << f[0].problem;
}

TEST_F(Doctor, ClockBeforeWhatModpubWrote) {
  auto cfg = Load();
  auto f = CheckClock(cfg, std::chrono::milliseconds(300), std::chrono::seconds(300));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].level, Level::kOk);
  fs::create_directories(spool / "done");
  fs::path job = spool / "done" / "x.job";
  std::ofstream(job) << "{}";
  f = CheckClock(cfg, std::chrono::milliseconds(300), std::chrono::seconds(300));
  EXPECT_EQ(f[0].level, Level::kOk) << f[0].problem;
  fs::last_write_time(job, fs::file_time_type::clock::now() + std::chrono::hours(1));
  f = CheckClock(cfg, std::chrono::milliseconds(300), std::chrono::seconds(300));
  EXPECT_EQ(f[0].level, Level::kFail);
  EXPECT_NE(f[0].problem.find(job.string()), std::string::npos) << f[0].problem;
}

TEST_F(Doctor, ClockAgainstAnS3ServersDate) {
  httplib::Server server;
  std::mutex mu;
  std::string date;
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mu);
    res.status = 403;
    res.set_header("Date", date);
  });
  int s3 = server.bind_to_any_port("127.0.0.1");
  std::thread t([&server] { server.listen_after_bind(); });
  auto http_date = [](std::time_t when) {
    std::tm tm{};
    ::gmtime_r(&when, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf);
  };
  ::setenv("AWS_ACCESS_KEY_ID", "x", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "y", 1);
  auto cfg = Load();
  cfg.storage = {"s3://bucket?endpoint=http://127.0.0.1:" + std::to_string(s3)};
  auto set_date = [&](std::time_t when) {
    std::lock_guard lock(mu);
    date = http_date(when);
  };
  set_date(std::time(nullptr));
  auto f = CheckClock(cfg, std::chrono::milliseconds(2000), std::chrono::seconds(300));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].level, Level::kOk) << f[1].problem;
  set_date(std::time(nullptr) - 600);
  f = CheckClock(cfg, std::chrono::milliseconds(2000), std::chrono::seconds(300));
  EXPECT_EQ(f[1].level, Level::kFail);
  EXPECT_NE(f[1].problem.find("s off the server's"), std::string::npos) << f[1].problem;
  server.stop();
  t.join();
}

}  // namespace
}  // namespace modpub::doctor
