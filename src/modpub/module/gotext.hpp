// Go's view of text, as far as module paths and x/mod's error messages need it.
//
// Go strings are bytes; the go command decodes them as UTF-8 with Go's own rules and
// prints them in errors with %q (strconv.Quote). To reproduce x/mod's verdicts and
// messages byte for byte, modpub needs the same decoder, the same Unicode tables
// (unicode.IsLetter, unicode.IsPrint of go 1.19 = Unicode 13.0.0, generated into
// unicode_tables.inc by gen_unicode_tables.go) and the same quoting.
//
// Pure functions, thread-safe, no allocation except for the returned strings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modpub::module {

inline constexpr char32_t kRuneError = 0xFFFD;

struct DecodedRune {
  char32_t rune;
  std::size_t width;  // bytes consumed, >= 1 for non-empty input
};

// utf8.DecodeRuneInString: the first rune of `s`. An invalid or truncated encoding
// (overlong forms, surrogates and values above U+10FFFF included) yields {U+FFFD, 1};
// a correctly encoded U+FFFD yields {U+FFFD, 3}, so width tells the two apart. Empty
// input yields {U+FFFD, 0}.
DecodedRune DecodeRune(std::string_view s);

// utf8.AppendRune: the UTF-8 encoding of `r` (a valid rune) appended to `out`.
void AppendUTF8(std::string& out, char32_t r);

// utf8.ValidString.
bool IsValidUTF8(std::string_view s);

// unicode.IsLetter (category L) and unicode.IsPrint (L, M, N, P, S and U+0020).
bool IsLetter(char32_t r);
bool IsPrint(char32_t r);

// unicode.IsSpace: the ASCII white space, U+0085, U+00A0 and category Z's spaces.
bool IsSpace(char32_t r);

// strconv.Quote, which is what fmt's %q prints for a string: double-quoted, printable
// runes as they are, \a \b \f \n \r \t \v \\ \", other control bytes as \xNN, other
// non-printable runes as \uNNNN or \UNNNNNNNN, bytes of invalid UTF-8 as \xNN.
std::string Quote(std::string_view s);

// strconv.QuoteRune, which is what fmt's %q prints for a rune: 'x' with the same escapes
// (\' instead of \"); a value that is not a valid rune prints as U+FFFD.
std::string QuoteRune(char32_t r);

}  // namespace modpub::module
