// Go's UTF-8 decoding, Unicode tables and %q quoting. See gotext.hpp.

#include "modpub/module/gotext.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>

namespace modpub::module {
namespace {

struct CodePointRange {
  char32_t lo;
  char32_t hi;  // inclusive
};

#include "modpub/module/unicode_tables.inc"

template <std::size_t N>
bool InRanges(const CodePointRange (&ranges)[N], char32_t r) {
  // First range whose end is >= r; r is in the table iff that range starts <= r.
  const CodePointRange* it = std::lower_bound(
      std::begin(ranges), std::end(ranges), r,
      [](const CodePointRange& range, char32_t value) { return range.hi < value; });
  return it != std::end(ranges) && it->lo <= r;
}

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

bool IsValidRune(char32_t r) { return r <= 0x10FFFF && !(r >= 0xD800 && r <= 0xDFFF); }

void AppendHex(std::string& out, std::uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

// strconv's appendEscapedRune for a valid rune (not ASCII-only, not graphic-only).
void AppendEscapedRune(std::string& out, char32_t r, char quote) {
  if (r == static_cast<char32_t>(quote) || r == '\\') {
    out += '\\';
    out += static_cast<char>(r);
    return;
  }
  if (IsPrint(r)) {
    AppendUTF8(out, r);
    return;
  }
  static constexpr std::pair<char32_t, std::string_view> kShortEscapes[] = {
      {'\a', "\\a"}, {'\b', "\\b"}, {'\f', "\\f"}, {'\n', "\\n"},
      {'\r', "\\r"}, {'\t', "\\t"}, {'\v', "\\v"}};
  for (const auto& [c, escape] : kShortEscapes) {
    if (r == c) {
      out += escape;
      return;
    }
  }
  if (r < ' ' || r == 0x7F) {
    out += "\\x";
    AppendHex(out, r, 2);
  } else if (r < 0x10000) {
    out += "\\u";
    AppendHex(out, r, 4);
  } else {
    out += "\\U";
    AppendHex(out, r, 8);
  }
}

}  // namespace

DecodedRune DecodeRune(std::string_view s) {
  if (s.empty()) return {kRuneError, 0};
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) return {b0, 1};
  constexpr DecodedRune kInvalid{kRuneError, 1};

  // The lead byte fixes the length and the range the second byte may take; the
  // narrowed ranges after E0, ED, F0 and F4 are what exclude overlong encodings,
  // surrogates and values above U+10FFFF.
  std::size_t len;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  char32_t r;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    r = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    r = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    r = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return kInvalid;
  }
  if (s.size() < len) return kInvalid;
  if (byte(1) < lo || byte(1) > hi) return kInvalid;
  for (std::size_t i = 1; i < len; ++i) {
    if (!IsContinuation(byte(i))) return kInvalid;
    r = (r << 6) | (byte(i) & 0x3F);
  }
  return {r, len};
}

bool IsValidUTF8(std::string_view s) {
  while (!s.empty()) {
    DecodedRune d = DecodeRune(s);
    if (d.rune == kRuneError && d.width == 1) return false;
    s.remove_prefix(d.width);
  }
  return true;
}

bool IsLetter(char32_t r) { return InRanges(kLetterRanges, r); }

bool IsSpace(char32_t r) {
  switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

bool IsPrint(char32_t r) { return InRanges(kPrintRanges, r); }

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  while (!s.empty()) {
    DecodedRune d = DecodeRune(s);
    if (d.rune == kRuneError && d.width == 1) {
      // A byte that does not start valid UTF-8: shown as itself, in hex.
      out += "\\x";
      AppendHex(out, static_cast<unsigned char>(s[0]), 2);
    } else {
      AppendEscapedRune(out, d.rune, '"');
    }
    s.remove_prefix(d.width);
  }
  out += '"';
  return out;
}

std::string QuoteRune(char32_t r) {
  std::string out = "'";
  AppendEscapedRune(out, IsValidRune(r) ? r : kRuneError, '\'');
  out += '\'';
  return out;
}

void AppendUTF8(std::string& out, char32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

}  // namespace modpub::module
