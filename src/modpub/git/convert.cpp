#include "modpub/git/convert.hpp"

#include <git2.h>
#include <iconv.h>

#include <cerrno>
#include <memory>
#include <string_view>

namespace modpub::git {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

bool EqualNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && StartsWithNoCase(a, b);
}

// git's same_utf_encoding(value, "UTF-8"): "utf" in any case, an optional "-", then "8".
bool IsUtf8Name(std::string_view name) {
  if (!StartsWithNoCase(name, "utf")) return false;
  name.remove_prefix(3);
  if (!name.empty() && name.front() == '-') name.remove_prefix(1);
  return name == "8";
}

struct IconvCloser {
  void operator()(void* cd) const { iconv_close(static_cast<iconv_t>(cd)); }
};
using IconvHandle = std::unique_ptr<void, IconvCloser>;

IconvHandle OpenIconv(const std::string& to, const std::string& from) {
  iconv_t cd = iconv_open(to.c_str(), from.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return nullptr;
  return IconvHandle(cd);
}

}  // namespace

std::size_t CountIdent(std::string_view data) {
  std::size_t count = 0;
  std::size_t i = 0;
  const std::size_t n = data.size();
  while (i < n) {
    if (data[i++] != '$') continue;
    if (n - i < 3) break;
    if (data.compare(i, 2, "Id") != 0) continue;
    char next = data[i + 2];
    i += 3;
    if (next == '$') ++count;
    if (next != ':') continue;
    // "$Id:..." counts when a "$" closes it on the same line.
    while (i < n) {
      char c = data[i++];
      if (c == '$') {
        ++count;
        break;
      }
      if (c == '\n') break;
    }
  }
  return count;
}

std::optional<std::string> ExpandIdent(std::string_view data, std::string_view blob_hex) {
  if (CountIdent(data) == 0) return std::nullopt;
  std::string out;
  out.reserve(data.size() + 64);
  std::size_t i = 0;
  const std::size_t n = data.size();
  for (;;) {
    std::size_t dollar = data.find('$', i);
    if (dollar == std::string_view::npos) break;
    out.append(data.substr(i, dollar + 1 - i));
    i = dollar + 1;
    if (n - i < 3 || data.compare(i, 2, "Id") != 0) continue;
    if (data[i + 2] == '$') {
      i += 3;
    } else if (data[i + 2] == ':') {
      std::size_t close = data.find('$', i + 3);
      if (close == std::string_view::npos) break;  // no closing "$" anywhere: done
      std::string_view inside = data.substr(i + 3, close - (i + 3));
      if (inside.find('\n') != std::string_view::npos) continue;
      // A space other than the leading one and the one before "$": another version
      // control system's keyword, kept as it is.
      if (inside.size() > 1) {
        std::size_t space = inside.find(' ', 1);
        if (space != std::string_view::npos && space + 1 < inside.size()) continue;
      }
      i = close + 1;
    } else {
      continue;
    }
    out += "Id: ";
    out += blob_hex;
    out += " $";
  }
  out.append(data.substr(i));
  return out;
}

Result<std::optional<std::string>> WorkingTreeEncoding(const char* value) {
  switch (git_attr_value(value)) {
    case GIT_ATTR_VALUE_UNSPECIFIED:
      return std::optional<std::string>();
    case GIT_ATTR_VALUE_TRUE:
    case GIT_ATTR_VALUE_FALSE:
      return Fail("true/false are no valid working-tree-encodings (git archive fails on it)");
    case GIT_ATTR_VALUE_STRING:
      break;
  }
  std::string_view v(value);
  if (v.empty() || IsUtf8Name(v)) return std::optional<std::string>();
  std::string upper(v);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return std::optional<std::string>(std::move(upper));
}

std::optional<std::string> EncodeToWorktree(std::string_view utf8, const std::string& encoding) {
  if (utf8.empty()) return std::nullopt;
  // git writes "UTF-16LE-BOM" as a little-endian byte order mark and UTF-16LE.
  std::string to = encoding;
  std::string bom;
  if (EqualNoCase(to, "UTF-16LE-BOM")) {
    to = "UTF-16LE";
    bom = "\xff\xfe";
  }
  IconvHandle cd = OpenIconv(to, "UTF-8");
  if (!cd && EqualNoCase(to, "latin-1")) cd = OpenIconv("ISO-8859-1", "UTF-8");
  if (!cd) return std::nullopt;

  std::string out = bom;
  out.resize(bom.size() + utf8.size() + 32);
  std::size_t used = bom.size();
  // iconv's input pointer is non-const in its signature; it does not write through it.
  char* in = const_cast<char*>(utf8.data());
  std::size_t in_left = utf8.size();
  for (;;) {
    char* dst = out.data() + used;
    std::size_t dst_left = out.size() - used;
    std::size_t rc = iconv(static_cast<iconv_t>(cd.get()), &in, &in_left, &dst, &dst_left);
    used = out.size() - dst_left;
    if (rc != static_cast<std::size_t>(-1)) break;
    if (errno != E2BIG) return std::nullopt;  // invalid or incomplete input: as is
    out.resize(used + 2 * in_left + 32);
  }
  // Like git, no final iconv(cd, NULL, ...) flush: stateful encodings end as git ends them.
  out.resize(used);
  return out;
}

}  // namespace modpub::git
