// Differential testing against Go: run the xmod-oracle program (tests/oracle/*.go) over
// a batch of calls and get back its answers, one per call.
//
// Usage, in a test of the oracle_tests target (which defines MODPUB_ORACLE_DIR, the Go
// sources, and MODPUB_ORACLE_BIN, where the binary goes):
//
//   std::vector<std::string> got = modpub::oracle::RunOracle(
//       {{"semver.Canonical", "v1.2"}, {"module.CheckPath", "example.com/A"}});
//   // got[0] == "v1.2.0", got[1] == "ok"
//
// Each call is {op, arg...}; arguments and results are arbitrary bytes (the wire format
// hex-encodes them). Result conventions ("ok" / "err:<message>", "ok:<value>", ...) are
// described in main.go. Run everything in ONE batch: starting the oracle costs a few
// milliseconds, answering a call about a microsecond.
//
// Which golang.org/x/mod answers is chosen by $MODPUB_XMOD: "current" (default; the version
// pinned in tests/oracle/go.mod, built in module mode by a go at least as new as its go
// line) or "0.7.0" (Debian 12's golang-golang-x-mod-dev, built in GOPATH mode). ctest runs
// every oracle test once per flavour; a flavour that cannot be built here is skipped with
// the reason (oracle_env_test.cpp). The binary is (re)built with `go build ./*.go` the
// first time a process needs it, unless it is newer than every .go, .mod and .sum file in
// MODPUB_ORACLE_DIR; so every .go file there must be part of package main of the oracle. The build
// writes a temporary file and renames it into place, so tests running in parallel can race safely.
// Infrastructure failures (no go, a Go compile error, the oracle crashing) throw
// std::runtime_error with the details: they are test-setup failures, not results.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#ifndef MODPUB_ORACLE_DIR
#error "MODPUB_ORACLE_DIR must be defined (see CMakeLists.txt, target oracle_tests)"
#endif
#ifndef MODPUB_ORACLE_BIN
#error "MODPUB_ORACLE_BIN must be defined (see CMakeLists.txt, target oracle_tests)"
#endif

namespace modpub::oracle {

inline std::string HexEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * s.size());
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

inline std::string HexDecode(std::string_view hex) {
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("oracle: bad hex in output: " + std::string(hex));
  };
  if (hex.size() % 2 != 0) throw std::runtime_error("oracle: odd-length hex in output");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

// A string as a printable C-like literal, for failure messages.
inline std::string Printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out + "\"";
}

namespace internal {

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh, uniquely named file in the temporary directory; removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& stem) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("modpub-" + stem + "-XXXXXX")).string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("oracle: cannot create a temporary file");
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline bool BinaryUpToDate(const std::filesystem::path& bin, const std::filesystem::path& dir) {
  std::error_code ec;
  auto built = std::filesystem::last_write_time(bin, ec);
  if (ec) return false;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if ((ext == ".go" || ext == ".mod" || ext == ".sum") && entry.last_write_time() > built) {
      return false;
    }
  }
  return true;
}

// `go env GOVERSION` of a go binary ("go1.26.8"), or "" when it does not run.
inline std::string GoVersionOf(const std::string& go) {
  TempFile out("oracle-gover");
  const std::string cmd =
      "env -u GOROOT " + ShellQuote(go) + " env GOVERSION >" + ShellQuote(out.path()) + " 2>&1";
  if (std::system(cmd.c_str()) != 0) return "";
  std::string v = ReadFile(out.path());
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v.rfind("go1.", 0) == 0 ? v : "";
}

// The minor release of "go1.26.8" (26), or -1.
inline int GoMinor(const std::string& version) {
  if (version.rfind("go1.", 0) != 0) return -1;
  return std::atoi(version.c_str() + 4);
}

// The oldest go that builds the current flavour: the minor of go.mod's "go 1.N..." line.
inline int RequiredGoMinor(const std::filesystem::path& dir) {
  std::istringstream mod(ReadFile(dir / "go.mod"));
  for (std::string line; std::getline(mod, line);) {
    if (line.rfind("go 1.", 0) == 0) return std::atoi(line.c_str() + 5);
  }
  throw std::runtime_error("oracle: tests/oracle/go.mod has no go line");
}

// How one flavour of the oracle is built; `unavailable` says why it cannot be here.
struct Plan {
  std::string flavor;  // "current" or "0.7.0"
  std::string go;      // the go binary that builds it
  std::string env;     // the environment of that build ("NAME=value " ...)
  std::string bin;     // where the binary goes
  std::string unavailable;
};

inline Plan PlanFor(const std::string& flavor) {
  const std::filesystem::path dir = MODPUB_ORACLE_DIR;
  Plan plan{flavor, "", "", MODPUB_ORACLE_BIN, ""};
  if (flavor == "0.7.0") {
    plan.bin += "-0.7.0";
    plan.env = "GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOENV=off ";
    if (!std::filesystem::exists("/usr/share/gocode/src/golang.org/x/mod/modfile")) {
      plan.unavailable = "Debian's x/mod 0.7.0 (golang-golang-x-mod-dev) is not installed";
    }
    // Any go builds it in GOPATH mode; Debian's own go 1.19 first.
    for (const char* go : {"/usr/lib/go-1.19/bin/go", "/usr/local/go/bin/go", "go"}) {
      if (!GoVersionOf(go).empty()) {
        plan.go = go;
        break;
      }
    }
    if (plan.go.empty() && plan.unavailable.empty()) plan.unavailable = "no go is installed";
    return plan;
  }
  if (flavor != "current") {
    throw std::invalid_argument("oracle: MODPUB_XMOD must be \"current\" or \"0.7.0\", not " +
                                flavor);
  }
  // Module mode: go.mod pins x/mod and go.sum its hashes; -mod=readonly never changes them.
  plan.env = "GO111MODULE=on GOFLAGS=-mod=readonly GOENV=off GOTOOLCHAIN=local ";
  const int need = RequiredGoMinor(dir);
  for (const char* go : {"/usr/local/go/bin/go", "go"}) {
    if (GoMinor(GoVersionOf(go)) >= need) {
      plan.go = go;
      return plan;
    }
  }
  plan.unavailable = "no go >= 1.";
  plan.unavailable += std::to_string(need) + " is installed (/usr/local/go/bin/go, go on PATH)";
  return plan;
}

// Which x/mod this process compares with: $MODPUB_XMOD, "current" (default) or "0.7.0".
inline const Plan& ThisPlan() {
  static const Plan plan = [] {
    const char* f = std::getenv("MODPUB_XMOD");
    return PlanFor(f && *f ? f : "current");
  }();
  return plan;
}

inline void BuildOracle(const Plan& plan) {
  const std::filesystem::path bin = plan.bin;
  const std::filesystem::path dir = MODPUB_ORACLE_DIR;
  if (!plan.unavailable.empty()) throw std::runtime_error("oracle: " + plan.unavailable);
  if (BinaryUpToDate(bin, dir)) return;
  std::filesystem::create_directories(bin.parent_path());
  const std::string tmp = bin.string() + ".tmp." + std::to_string(getpid());
  TempFile log("oracle-build");
  // The environment is pinned so a developer's GOFLAGS or go env file cannot interfere;
  // the build cache needs a home, so give it one when the environment has none.
  std::string env = plan.env;
  if (!std::getenv("GOCACHE") && !std::getenv("HOME") && !std::getenv("XDG_CACHE_HOME")) {
    env += "GOCACHE=" +
           ShellQuote((std::filesystem::temp_directory_path() / "modpub-go-cache").string()) + " ";
  }
  // The .go files are named one by one: `go build .` refuses a directory that also holds
  // C++ files ("C++ source files not allowed when not using cgo"), and the differential
  // tests live next to the oracle.
  const std::string cmd = "cd " + ShellQuote(dir.string()) + " && env -u GOROOT " + env +
                          ShellQuote(plan.go) + " build -o " + ShellQuote(tmp) + " ./*.go >" +
                          ShellQuote(log.path()) + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error("oracle: `" + cmd + "` failed:\n" + ReadFile(log.path()));
  }
  std::filesystem::rename(tmp, bin);  // atomic: a parallel test never sees half a binary
}

}  // namespace internal

// Why this process's x/mod flavour cannot be built here ("" when it can): the tests skip.
inline const std::string& Unavailable() { return internal::ThisPlan().unavailable; }

// "current" or "0.7.0", and the go that builds it.
inline const std::string& Flavor() { return internal::ThisPlan().flavor; }
inline const std::string& BuildGo() { return internal::ThisPlan().go; }

// The oracle binary's path, building it first if needed (once per process).
inline std::string OracleBinary() {
  static std::once_flag once;
  std::call_once(once, [] { internal::BuildOracle(internal::ThisPlan()); });
  return internal::ThisPlan().bin;
}

// Runs every call through the oracle in one process; result i answers calls[i].
// Arguments may hold any bytes; ops must not be empty nor contain tabs or newlines.
inline std::vector<std::string> RunOracle(const std::vector<std::vector<std::string>>& calls) {
  const std::string bin = OracleBinary();
  internal::TempFile in("oracle-in");
  internal::TempFile out("oracle-out");
  internal::TempFile err("oracle-err");
  {
    std::ofstream f(in.path(), std::ios::binary);
    std::string line;
    for (const auto& call : calls) {
      if (call.empty() || call[0].empty() || call[0].find_first_of("\t\n") != std::string::npos) {
        throw std::invalid_argument("oracle: bad op in call");
      }
      line = call[0];
      for (size_t i = 1; i < call.size(); ++i) {
        line += '\t';
        line += HexEncode(call[i]);
      }
      line += '\n';
      f << line;
    }
    if (!f.flush()) throw std::runtime_error("oracle: cannot write " + in.path());
  }
  const std::string cmd = internal::ShellQuote(bin) + " <" + internal::ShellQuote(in.path()) +
                          " >" + internal::ShellQuote(out.path()) + " 2>" +
                          internal::ShellQuote(err.path());
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error("oracle: `" + cmd + "` failed:\n" + internal::ReadFile(err.path()));
  }
  std::vector<std::string> results;
  results.reserve(calls.size());
  std::istringstream lines(internal::ReadFile(out.path()));
  for (std::string line; std::getline(lines, line);) results.push_back(HexDecode(line));
  if (results.size() != calls.size()) {
    throw std::runtime_error("oracle: " + std::to_string(calls.size()) + " calls but " +
                             std::to_string(results.size()) + " answers");
  }
  return results;
}

}  // namespace modpub::oracle
