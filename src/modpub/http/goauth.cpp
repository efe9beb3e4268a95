#include "modpub/http/goauth.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "modpub/fsio/atomic_file.hpp"

namespace modpub::http::goauth {
namespace {

constexpr std::size_t kMaxTokenFile = 64 * 1024;

// Bytes that would end or split a line of GOAUTH output, or a header value.
bool IsSpaceOrControl(unsigned char c) { return c <= 0x20 || c == 0x7f; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "" -> the default; otherwise 1..65535 in decimal digits only, or -1.
int ParsePort(std::string_view digits, int default_port) {
  if (digits.empty()) return default_port;
  if (digits.size() > 5) return -1;
  int port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    port = port * 10 + (c - '0');
  }
  return port >= 1 && port <= 65535 ? port : -1;
}

// Splits host[:port] (host may be a bracketed IPv6 address) into `url`.
Status SplitAuthority(std::string_view authority, Url& url) {
  if (authority.find('@') != std::string_view::npos) {
    return Fail("user information in a URL is not supported (the token is the credential)");
  }
  std::size_t host_end = 0;
  if (!authority.empty() && authority.front() == '[') {
    host_end = authority.find(']');
    if (host_end == std::string_view::npos) return Fail("unterminated IPv6 address");
    ++host_end;
  } else {
    host_end = std::min(authority.find(':'), authority.size());
  }
  const std::string_view host = authority.substr(0, host_end);
  std::string_view port = authority.substr(host_end);
  if (!port.empty() && port.front() != ':') return Fail("unexpected text after the host");
  if (!port.empty()) port.remove_prefix(1);
  url.port = ParsePort(port, url.scheme == "https" ? 443 : 80);
  if (host.empty()) return Fail("no host");
  if (url.port < 0) return Fail("bad port");
  url.host = Lower(host);
  url.authority = std::string(authority);
  return Ok();
}

// Splits scheme://authority/path (http or https; no query or fragment) into a Url.
Result<Url> SplitUrl(std::string_view text) {
  for (unsigned char c : text) {
    if (IsSpaceOrControl(c)) return Fail("contains whitespace or a control character");
  }
  Url url;
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return Fail("not a URL (scheme://host)");
  url.scheme = text.substr(0, sep);
  if (url.scheme != "https" && url.scheme != "http") {
    return Fail("scheme " + url.scheme + " is neither https nor http");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Fail("a query or fragment cannot be a prefix");
  }
  const std::size_t slash = std::min(rest.find('/'), rest.size());
  if (auto st = SplitAuthority(rest.substr(0, slash), url); !st) return st.error();
  std::string_view path = rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.path = std::string(path);
  return url;
}

// Does prefix `p` cover `u`? Paths match whole segments, as go's credential lookup does.
bool Covers(const Url& p, const Url& u) {
  if (p.scheme != u.scheme || p.host != u.host || p.port != u.port) return false;
  if (u.path.compare(0, p.path.size(), p.path) != 0) return false;
  return u.path.size() == p.path.size() || u.path[p.path.size()] == '/';
}

// https anywhere; http only to the loopback.
bool MaySendToken(const Url& u) { return u.scheme == "https" || IsLoopbackHost(u.host); }

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  const std::string h = Lower(host);
  if (h == "localhost") return true;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    in6_addr a6{};
    const std::string inner = h.substr(1, h.size() - 2);
    return inet_pton(AF_INET6, inner.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  // inet_pton takes dotted quads only: "127.1" or "127.0.0.1.example.com" are not loopback.
  in_addr a4{};
  return inet_pton(AF_INET, h.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

Result<Url> ParsePrefix(std::string_view text) {
  auto url = SplitUrl(text);
  if (!url) return Fail("--url " + std::string(text) + ": " + url.message());
  if (!MaySendToken(*url)) {
    return Fail("--url " + std::string(text) +
                ": refused: credentials are never sent over plain http to a non-loopback "
                "host (use https://, or http:// only to 127.0.0.0/8, ::1 or localhost)");
  }
  return url;
}

std::string UrlLine(const Url& url) { return url.scheme + "://" + url.authority + url.path; }

std::optional<std::string> LineFor(const std::vector<Url>& prefixes, std::string_view url) {
  // go's URL may carry a query (?go-get=1); the prefix rules look at the path only.
  auto u = SplitUrl(url.substr(0, std::min(url.find_first_of("?#"), url.size())));
  if (!u || !MaySendToken(*u)) return std::nullopt;
  if (prefixes.empty()) return u->scheme + "://" + u->authority;
  for (const Url& p : prefixes) {
    // The line is spelled as go spelled the URL, so that go's own lookup finds it.
    if (Covers(p, *u)) return u->scheme + "://" + u->authority + u->path.substr(0, p.path.size());
  }
  return std::nullopt;
}

bool AsksForCredentials(std::string_view response) {
  if (response.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
  // "HTTP/1.1 401 Unauthorized": the second field is the status code.
  const std::string_view line = response.substr(0, response.find('\n'));
  const std::size_t space = line.find(' ');
  return space != std::string_view::npos && line.substr(space + 1, 4) == "401 ";
}

Result<std::string> CleanToken(std::string text, std::string_view origin) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) return Fail(std::string(origin) + ": the token is empty");
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (IsSpaceOrControl(static_cast<unsigned char>(text[i]))) {
      return Fail(std::string(origin) + ": the token has whitespace or a control character " +
                  "at byte " + std::to_string(i + 1) + " (a Bearer token is one word on one line)");
    }
  }
  return text;
}

namespace {

// Others reading the token could use it; others writing it could swap in their own.
Status CheckTokenFileMode(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return Fail("token file " + path + ": not a regular file");
  if ((st.st_mode & 026) == 0) return Ok();
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return Fail("token file " + path + ": mode " + mode +
              " lets other users read or write it (or its group write it); run `chmod 600 " + path +
              "` (640 to share it with the file's group)");
}

Result<std::string> ReadSmall(int fd, const std::string& path) {
  std::string data;
  char buf[4096];
  while (data.size() <= kMaxTokenFile) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail("token file " + path + ": cannot read: " + std::strerror(errno));
    if (n == 0) return data;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return Fail("token file " + path + ": larger than 64 KiB, not a token");
}

}  // namespace

Result<std::string> ReadTokenFile(const std::string& path) {
  // O_NONBLOCK: a FIFO must not hang the go command; it is refused below.
  fsio::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return Fail("token file " + path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail("token file " + path + ": cannot stat: " + std::strerror(errno));
  }
  if (auto ok = CheckTokenFileMode(path, st); !ok) return ok.error();
  auto data = ReadSmall(fd.get(), path);
  if (!data) return data.error();
  return CleanToken(std::move(*data), "token file " + path);
}

std::string CredentialSet(const std::vector<std::string>& lines, std::string_view token) {
  if (lines.empty()) return "";
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  out += "\nAuthorization: Bearer ";
  out += token;
  out += "\n\n";
  return out;
}

}  // namespace modpub::http::goauth
