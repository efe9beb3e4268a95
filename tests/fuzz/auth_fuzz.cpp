// Fuzzes the Authorization header (Basic and Bearer) as http::Auth reads it: every
// request to an authenticated proxy carries one. The rules have one user (password hash
// sha512crypt with 1000 rounds, cheap enough to fuzz; production hashes are yescrypt)
// and one token.
// Invariants: the verdict names a principal exactly when one was authenticated; a
// principal is forbidden only a module outside its prefixes; an accepted password is
// accepted again (from the password cache); the input, when
// encoded as a client would ("Basic " + base64(user:password), "Bearer " + token), is
// allowed exactly when it is the configured user's password or the configured token (as
// a Basic password too, under any login but the user's: go before 1.24 sends it so).
#include <cstdlib>
#include <memory>

#include "fuzz_support.hpp"
#include "modpub/dirhash/dirhash.hpp"
#include "modpub/http/auth.hpp"

using namespace modpub;
using Verdict = http::Auth::Verdict;

namespace {

constexpr char kRules[] = R"(realm = "fuzz"
[[user]]
name = "alice"
password = "$6$rounds=1000$fuzzsalt$tqiQcruGIVv5maEpomuCRnUM.NzW3VepSjr7lzjfaZDi2dROgaxXc1EMPO0TJCY98/1ljYC5y7075Ai4Rtwzp/"
allow = ["corp.example/team"]
[[token]]
name = "ci"
sha256 = "ee037f54510155cee42806b26a48187d4b8644857a020a77c867585a50a577ff"
allow = ["*"]
)";
constexpr std::string_view kPassword = "open sesame";
constexpr std::string_view kToken = "tok-ci";

http::Auth& Rules() {
  static std::shared_ptr<http::Auth> auth = [] {
    auto a = http::Auth::FromToml(kRules, "fuzz rules");
    if (!a) fuzz::Broken(__FILE__, __LINE__, "the fuzz rules load", a.message());
    return *a;
  }();
  return *auth;
}

// Checks one header for two reads: no module (any principal may), and one outside alice's
// prefix. A wrong password costs a crypt each time, so the checks are kept few.
Verdict CheckBoth(std::string_view header) {
  http::Auth& auth = Rules();
  const auto none = auth.Check(header, std::nullopt);
  const auto outside = auth.Check(header, std::string("other.example/x"));
  const std::string h(header);
  for (const auto* d : {&none, &outside}) {
    FUZZ_CHECK((d->verdict == Verdict::kUnauthenticated) == d->who.empty(), h);
    FUZZ_CHECK(d->who.empty() || d->who == "alice" || d->who == "ci", d->who);
  }
  // Authentication does not depend on the module read; only authorization does.
  FUZZ_CHECK(none.verdict != Verdict::kForbidden, h);
  FUZZ_CHECK(
      (none.verdict == Verdict::kUnauthenticated) == (outside.verdict == Verdict::kUnauthenticated),
      h);
  FUZZ_CHECK((outside.verdict == Verdict::kForbidden) == (none.who == "alice"), h);
  if (none.verdict == Verdict::kAllow) {
    // alice's password was checked twice by now: the second answer came from the cache.
    const auto inside = auth.Check(header, std::string("corp.example/team/lib"));
    FUZZ_CHECK(inside.verdict == Verdict::kAllow && inside.who == none.who, h);
  }
  return none.verdict;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  CheckBoth(in);

  // The input as the credentials a client sends, encoded correctly.
  const bool basic_ok =
      Rules().Check("Basic " + dirhash::Base64(in), std::nullopt).verdict == Verdict::kAllow;
  const auto colon = in.find(':');
  const bool token_as_password = colon != std::string_view::npos &&
                                 in.substr(0, colon) != "alice" && in.substr(colon + 1) == kToken &&
                                 in.find('\0') == std::string_view::npos;
  FUZZ_CHECK(
      basic_ok == (in == std::string("alice:") + std::string(kPassword) || token_as_password),
      std::string(in));
  const bool bearer_ok = CheckBoth("Bearer " + std::string(in)) == Verdict::kAllow;
  std::string_view token = in;
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  FUZZ_CHECK(bearer_ok == (token == kToken), std::string(in));
  return 0;
}
