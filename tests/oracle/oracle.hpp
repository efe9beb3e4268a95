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
// The binary is (re)built with `go build ./*.go` in GOPATH mode the first time a process
// needs it, unless it is newer than every .go file in MODPUB_ORACLE_DIR; so every .go file
// there must be part of package main of the oracle. The build writes a
// temporary file and renames it into place, so tests running in parallel can race safely.
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
    if (entry.path().extension() == ".go" && entry.last_write_time() > built) return false;
  }
  return true;
}

inline void BuildOracle() {
  const std::filesystem::path bin = MODPUB_ORACLE_BIN;
  const std::filesystem::path dir = MODPUB_ORACLE_DIR;
  if (BinaryUpToDate(bin, dir)) return;
  std::filesystem::create_directories(bin.parent_path());
  const std::string tmp = bin.string() + ".tmp." + std::to_string(getpid());
  TempFile log("oracle-build");
  // GOPATH mode: x/mod comes from the Debian package, nothing is downloaded. The
  // environment is pinned so a developer's GOFLAGS or go env file cannot interfere; the
  // build cache needs a home, so give it one when the environment has none.
  std::string env = "GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOENV=off ";
  if (!std::getenv("GOCACHE") && !std::getenv("HOME") && !std::getenv("XDG_CACHE_HOME")) {
    env += "GOCACHE=" +
           ShellQuote((std::filesystem::temp_directory_path() / "modpub-go-cache").string()) + " ";
  }
  // The .go files are named one by one: `go build .` refuses a directory that also holds
  // C++ files ("C++ source files not allowed when not using cgo"), and the differential
  // tests live next to the oracle.
  const std::string cmd = "cd " + ShellQuote(dir.string()) + " && " + env + "go build -o " +
                          ShellQuote(tmp) + " ./*.go >" + ShellQuote(log.path()) + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error("oracle: `" + cmd + "` failed:\n" + ReadFile(log.path()));
  }
  std::filesystem::rename(tmp, bin);  // atomic: a parallel test never sees half a binary
}

}  // namespace internal

// The oracle binary's path, building it first if needed (once per process).
inline std::string OracleBinary() {
  static std::once_flag once;
  std::call_once(once, internal::BuildOracle);
  return MODPUB_ORACLE_BIN;
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
