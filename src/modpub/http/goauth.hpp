// The client side of modpub's Bearer tokens for go 1.24+: what `modpub goauth` prints for
// the GOAUTH command protocol (`go help goauth`).
//
// go runs a GOAUTH command once with no argument (before its first https request) and again
// with a URL argument after a 4xx answer, writing that answer's status line and headers to
// the command's stdin. The command prints credential sets:
//   https://host[:port][/path]     one or more URL lines (prefixes)
//   <blank>
//   Authorization: Bearer <token>
//   <blank>
// go attaches the headers to every https request whose URL, less "https://", equals a
// prefix or continues it after a '/'; it never attaches GOAUTH headers to http requests.
//
// The rule enforced here: a token is never printed for plain http to a host other than the
// loopback (127.0.0.0/8, ::1, localhost), because anyone on the path could read it there.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::http::goauth {

// A URL split the way the prefix rules need it.
struct Url {
  std::string scheme;     // "https" or "http"
  std::string authority;  // host[:port] as written (for the URL lines go will match)
  std::string host;       // lower case; IPv6 addresses keep their brackets
  int port = 0;           // the explicit port, or the scheme's default
  std::string path;       // "" or "/a/b": no trailing '/', no query or fragment
};

// Is `host` (as in a URL: "[::1]" with brackets) a loopback host?
bool IsLoopbackHost(std::string_view host);

// Parses a --url prefix: https://host[:port][/path], or http:// to a loopback host.
// Refuses with a message naming the URL and the rule.
Result<Url> ParsePrefix(std::string_view text);

// The URL line printed for a prefix (scheme://authority/path, no trailing '/').
std::string UrlLine(const Url& url);

// For go's URL argument: the URL line of the credential set to print, or nullopt when the
// URL is outside every prefix (or not a URL modpub would send the token to). With no
// prefixes, the URL's own scheme://host[:port] if it is https or loopback http.
std::optional<std::string> LineFor(const std::vector<Url>& prefixes, std::string_view url);

// Does go's description of the failed response (stdin) show a server asking for
// credentials? True for a 401 status line, and for no input at all (a person trying the
// command); false for other 4xx answers, e.g. a public proxy's 404 for a private module.
bool AsksForCredentials(std::string_view response);

// The token from a token file's or variable's text: one trailing newline ("\n" or "\r\n")
// removed; empty tokens and tokens with whitespace or control characters refused.
// `origin` names the source in messages.
Result<std::string> CleanToken(std::string text, std::string_view origin);

// Reads and cleans the token file `path`. Refused: unreadable, not a regular file, larger
// than 64 KiB, or readable/writable by others or writable by its group (mode & 026).
Result<std::string> ReadTokenFile(const std::string& path);

// One credential set for `lines` with `Authorization: Bearer <token>` ("" if no lines).
std::string CredentialSet(const std::vector<std::string>& lines, std::string_view token);

}  // namespace modpub::http::goauth
