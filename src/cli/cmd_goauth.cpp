// `modpub goauth`: a GOAUTH command (go 1.24+) that hands go a modpub Bearer token for the
// configured URL prefixes (http/goauth.hpp has the protocol and the rules). Exit status 0
// whenever the configuration is usable, also when nothing is printed (go then simply sends
// no credentials); 2 when a --url or the token is refused, with the reason on stderr
// (go shows it with `go ... -x`; running the command by hand shows it too).
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "modpub/http/goauth.hpp"

namespace modpub::cli {
namespace {

namespace goauth = http::goauth;

struct GoauthOptions {
  std::string token_file;
  std::string token_env;
  std::vector<std::string> urls;
  std::string url;  // go's URL argument (after a 4xx answer), or ""
};

Result<std::string> LoadToken(const GoauthOptions& o) {
  if (o.token_file.empty() == o.token_env.empty()) {
    return Fail("give exactly one of --token-file and --token-env");
  }
  if (!o.token_file.empty()) return goauth::ReadTokenFile(o.token_file);
  const char* value = std::getenv(o.token_env.c_str());
  if (value == nullptr) return Fail("environment variable " + o.token_env + " is not set");
  return goauth::CleanToken(value, "environment variable " + o.token_env);
}

// go writes the 4xx answer to stdin and expects it consumed; a person running the command
// from a terminal writes nothing, so a terminal is not read.
std::string ReadResponse() {
  if (::isatty(STDIN_FILENO) == 1) return "";
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// The URL lines to print for this invocation.
std::vector<std::string> Lines(const GoauthOptions& o, const std::vector<goauth::Url>& prefixes) {
  std::vector<std::string> lines;
  if (o.url.empty()) {
    for (const auto& p : prefixes) lines.push_back(goauth::UrlLine(p));
    return lines;
  }
  const std::string response = ReadResponse();
  // Without --url any host could ask; only one that answered 401 gets the token, so that
  // a public proxy's 404 for a private module never receives it.
  if (prefixes.empty() && !goauth::AsksForCredentials(response)) return lines;
  if (auto line = goauth::LineFor(prefixes, o.url)) lines.push_back(*line);
  return lines;
}

int RunGoauth(const GoauthOptions& o) {
  std::vector<goauth::Url> prefixes;
  for (const auto& text : o.urls) {
    auto url = goauth::ParsePrefix(text);
    if (!url) {
      std::cerr << "modpub goauth: " << url.message() << "\n";
      return 2;
    }
    prefixes.push_back(std::move(*url));
  }
  // The token is checked on every run, so that a broken setup fails on go's first call.
  auto token = LoadToken(o);
  if (!token) {
    std::cerr << "modpub goauth: " << token.message() << "\n";
    return 2;
  }
  std::cout << goauth::CredentialSet(Lines(o, prefixes), *token) << std::flush;
  return std::cout ? 0 : 2;
}

// `modpub --help` lists the first lines; `modpub goauth --help` adds the rest as a footer.
constexpr const char* kSummary =
    "GOAUTH command for go 1.24+: hands go a modpub Bearer token for the --url prefixes\n"
    "(GOAUTH='modpub goauth --token-file FILE --url https://HOST'; details in its --help).";
constexpr const char* kDetails =
    "Client setup (go 1.24+):\n"
    "  GOAUTH='modpub goauth --token-file /etc/modpub/token --url "
    "https://goproxy.corp.example'\n"
    "  GOPROXY=https://goproxy.corp.example GONOSUMDB=corp.example\n"
    "go runs it once with no argument (credentials for every --url) and again with a URL\n"
    "after a 4xx answer (credentials only if the URL is under a --url prefix, else nothing).\n"
    "Without --url, a URL gets credentials for its own scheme://host[:port] only after a 401;\n"
    "give --url: without it the token goes to any https server that answers 401.\n"
    "--url takes https://host[:port][/path]; http:// only to 127.0.0.0/8, ::1 or localhost:\n"
    "credentials are never sent over plain http to a non-loopback host (go itself attaches\n"
    "GOAUTH headers to https requests only).\n"
    "The token is the file's content (or the variable's value) less one trailing newline; it\n"
    "is refused if empty or containing whitespace or control characters, and the file if\n"
    "other users may read or write it or its group may write it (chmod 600, or 640 to share\n"
    "it with a group).\n"
    "GOAUTH splits its value into commands at ';' and a command into arguments at spaces:\n"
    "a path with ';' cannot work, one with spaces only if quoted inside the value\n"
    "(--token-file '/my dir/token': go 1.26 honours '...' and \"...\", without escapes;\n"
    "earlier releases may not), so prefer paths without either. Name modpub by an absolute\n"
    "path if go's PATH lacks it.\n"
    "Run the command by hand to see what go gets; errors exit 2 (go shows them with -x).";

void RegisterGoauth(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<GoauthOptions>();
  CLI::App* cmd = app.add_subcommand("goauth", kSummary);
  cmd->footer(kDetails);
  auto* file = cmd->add_option("--token-file", opts->token_file,
                               "file holding the Bearer token (mode 600 or 640)");
  auto* env = cmd->add_option("--token-env", opts->token_env,
                              "environment variable holding the Bearer token");
  file->excludes(env);
  // One value per --url: go appends its URL argument after the last --url's value.
  cmd->add_option("--url", opts->urls,
                  "URL prefix to send the token to, repeatable: https://host[:port][/prefix]")
      ->allow_extra_args(false);
  cmd->add_option("fetched_url", opts->url, "set by go after a 4xx answer: the URL it fetched");
  cmd->callback([opts, exit_code] { *exit_code = RunGoauth(*opts); });
}

}  // namespace

// After `serve`/`auth-hash` (70): the client side of the tokens they check.
const Registration kRegistration{72, RegisterGoauth};

}  // namespace modpub::cli
