// Reading go.mod files the way the go command does. See gomod.hpp.
//
// ParseModule is built in three layers, as modfile is:
//  1. a lexer and parser producing lines, parenthesized blocks and comments. The first
//     syntax error ends the reading (modfile cannot resynchronise either); its position
//     is where the lexer stood, which is after the one token of lookahead the parser
//     keeps -- so positions here are computed with exactly that lookahead discipline;
//  2. the attachment of end-of-line comments to the syntax before them (modfile's
//     assignComments), needed for "// Deprecated:" comments;
//  3. the directives a dependency's go.mod is checked for by modfile.ParseLax
//     (go, module, require; retract is accepted without checks when no version fixer is
//     given, unknown directives are ignored). Every problem of this layer is reported.
// Finally two rules of our own: a module directive must exist, and ModulePath (the
// go command's quick scan, which picks the module's directory) must find the same path.

#include "modpub/gomod/gomod.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include "modpub/module/gotext.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::gomod {
namespace {

using module::DecodeRune;
using module::IsSpace;

// ---------------------------------------------------------------------------------------
// Go's notion of text.

// The byte length of the space rune `s` starts with, or 0.
std::size_t LeadingSpace(std::string_view s) {
  if (s.empty()) return 0;
  module::DecodedRune d = DecodeRune(s);
  return IsSpace(d.rune) ? d.width : 0;  // an invalid byte is U+FFFD: not a space
}

// The byte length of the space rune `s` ends with, or 0 (utf8.DecodeLastRune: the last
// rune starts at the last byte that is not a continuation byte).
std::size_t TrailingSpace(std::string_view s) {
  if (s.empty()) return 0;
  std::size_t start = s.size() - 1;
  const std::size_t limit = s.size() >= 4 ? s.size() - 4 : 0;
  while (start > limit && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  module::DecodedRune d = DecodeRune(s.substr(start));
  if (start + d.width != s.size()) return 0;  // not one well-formed rune: RuneError
  return LeadingSpace(s.substr(start)) == d.width ? d.width : 0;
}

// strings.TrimSpace / bytes.TrimSpace.
std::string_view TrimSpace(std::string_view s) {
  while (std::size_t n = LeadingSpace(s)) s.remove_prefix(n);
  while (std::size_t n = TrailingSpace(s)) s.remove_suffix(n);
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// strconv.Unquote for the two forms go.mod uses; nullopt is strconv.ErrSyntax
// ("invalid syntax"), the only error Unquote returns.
//  * `raw`: everything up to the next back quote, which must end the input; carriage
//    returns are dropped; the bytes are not checked for UTF-8.
//  * "interpreted": Go escapes; no raw newline; the closing quote must end the input.
//    Invalid UTF-8 comes out as U+FFFD (Unquote decodes rune by rune whenever the text is
//    not already valid UTF-8 free of backslashes).
std::optional<std::string> Unquote(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  if (s[0] == '`') {
    std::size_t end = s.find('`', 1);
    if (end != s.size() - 1) return std::nullopt;
    std::string out;
    for (char c : s.substr(1, end - 1)) {
      if (c != '\r') out += c;
    }
    return out;
  }
  if (s[0] != '"') return std::nullopt;
  std::string out;
  std::size_t i = 1;
  while (i < s.size() && s[i] != '"') {
    const char c = s[i];
    if (c == '\n') return std::nullopt;
    if (static_cast<unsigned char>(c) >= 0x80) {
      module::DecodedRune d = DecodeRune(s.substr(i));
      module::AppendUTF8(out, d.rune);
      i += d.width;
      continue;
    }
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return std::nullopt;
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (s.size() - i < n) return std::nullopt;
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < n; ++k) {
          int h = HexValue(s[i + k]);
          if (h < 0) return std::nullopt;
          v = v << 4 | static_cast<std::uint32_t>(h);
        }
        i += n;
        if (e == 'x') {
          out += static_cast<char>(v);  // a single byte, not necessarily UTF-8
        } else {
          if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return std::nullopt;
          module::AppendUTF8(out, v);
        }
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        if (s.size() - i < 2) return std::nullopt;
        std::uint32_t v = static_cast<std::uint32_t>(e - '0');
        for (std::size_t k = 0; k < 2; ++k) {
          const char o = s[i + k];
          if (o < '0' || o > '7') return std::nullopt;
          v = v << 3 | static_cast<std::uint32_t>(o - '0');
        }
        i += 2;
        if (v > 255) return std::nullopt;
        out += static_cast<char>(v);
        break;
      }
      default:  // including \' : only valid inside a rune literal
        return std::nullopt;
    }
  }
  if (i != s.size() - 1) return std::nullopt;  // no closing quote, or text after it
  return out;
}

// ---------------------------------------------------------------------------------------
// Syntax.

struct Position {
  int line = 1;       // 1-based
  int line_rune = 1;  // 1-based rune within the line
  std::size_t byte = 0;

  // The position just after a one-byte token starting here (modfile's add(")")).
  Position After1() const { return Position{line, line_rune + 1, byte + 1}; }
};

// modfile.Error's prefix: "file:line:col: " when not at the start of a line, else
// "file:line: ".
std::string Where(std::string_view file, const Position& pos) {
  std::string out(file);
  out += ':' + std::to_string(pos.line);
  if (pos.line_rune > 1) out += ':' + std::to_string(pos.line_rune);
  return out + ": ";
}

enum class Kind {
  kEOF,
  kEOLComment,
  kIdent,
  kString,
  kComment,
  kNewline,
  kLParen,
  kRParen,
  kPunct
};

bool IsEOL(Kind k) { return k == Kind::kEOF || k == Kind::kEOLComment || k == Kind::kNewline; }

struct Token {
  Kind kind = Kind::kEOF;
  Position pos, end;
  std::string_view text;
};

struct Comment {
  Position start;
  std::string text;  // "//..." without the newline; "" marks a blank line in a block
};

// Anything comments can attach to: a line, a block, a block's parentheses, a top-level
// comment block. start/end are modfile's Span().
struct Node {
  Position start, end;
  std::vector<Comment> before, suffix;
};

struct Line {
  std::size_t node = 0;
  std::vector<std::string> tokens;
};

struct Stmt {
  enum Type { kComments, kLine, kBlock } type = kLine;
  std::size_t node = 0;
  Line line;                        // kLine
  std::vector<std::string> tokens;  // kBlock: the words before "("
  std::vector<Line> lines;          // kBlock
  std::size_t lparen = 0, rparen = 0;
};

// The punctuation that is a token of its own in go.mod syntax.
bool IsPunctToken(char32_t r) {
  switch (r) {
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case ',':
      return true;
    default:
      return false;
  }
}

// modfile's isIdent: most printable runes, except spaces and a little punctuation.
bool IsIdentRune(char32_t r) {
  return r != ' ' && !IsPunctToken(r) && !IsSpace(r) && module::IsPrint(r);
}

class Reader {
 public:
  explicit Reader(std::string_view data, std::string_view file) : data_(data), file_(file) {}

  // Parses the whole file. False on a syntax error (see error()).
  bool Parse() {
    ReadToken();
    if (failed_) return false;
    if (!ParseFile()) return false;
    AssignSuffixComments();
    return true;
  }

  const std::string& error() const { return error_; }
  const std::vector<Stmt>& stmts() const { return stmts_; }
  const Node& node(std::size_t i) const { return nodes_[i]; }

 private:
  // --- lexer -----------------------------------------------------------------------

  bool Eof() const { return pos_.byte >= data_.size(); }
  std::string_view Rest() const { return data_.substr(pos_.byte); }

  // The next rune, or 0 at the end of input.
  char32_t PeekRune() const { return Eof() ? 0 : DecodeRune(Rest()).rune; }
  bool PeekPrefix(std::string_view prefix) const { return StartsWith(Rest(), prefix); }

  char32_t ReadRune() {
    module::DecodedRune d = DecodeRune(Rest());
    pos_.byte += d.width;
    if (d.rune == '\n') {
      ++pos_.line;
      pos_.line_rune = 1;
    } else {
      ++pos_.line_rune;
    }
    return d.rune;
  }

  // Records the first syntax error, at the current position. Parsing stops there.
  void Error(const std::string& what) { ErrorAt(pos_, what); }
  void ErrorAt(const Position& at, const std::string& what) {
    if (failed_) return;
    failed_ = true;
    error_ = Where(file_, at) + what;
  }

  void StartToken() {
    token_start_ = pos_.byte;
    tok_.pos = pos_;
  }
  void EndToken(Kind kind) {
    tok_.kind = kind;
    tok_.text = data_.substr(token_start_, pos_.byte - token_start_);
    if (kind == Kind::kComment || kind == Kind::kEOLComment) {
      // A comment keeps neither its newline nor a carriage return before it.
      if (tok_.text.size() >= 2 && tok_.text.substr(tok_.text.size() - 2) == "\r\n") {
        tok_.text.remove_suffix(2);
      } else if (!tok_.text.empty() && tok_.text.back() == '\n') {
        tok_.text.remove_suffix(1);
      }
    }
    tok_.end = pos_;
  }

  // Reads the next token into tok_ (the parser's one token of lookahead).
  void ReadToken() {
    while (!Eof()) {
      const char32_t c = PeekRune();
      if (c == ' ' || c == '\t' || c == '\r') {
        ReadRune();
        continue;
      }
      if (PeekPrefix("//")) {
        StartToken();
        // A comment alone on its line stands on its own at the top level or in a block;
        // one after other text on the line is attached to the syntax before it later.
        std::string_view before = data_.substr(0, pos_.byte);
        if (std::size_t nl = before.rfind('\n'); nl != std::string_view::npos) {
          before.remove_prefix(nl + 1);
        }
        const bool suffix = !TrimSpace(before).empty();
        ReadRune();
        ReadRune();
        while (!Eof() && ReadRune() != '\n') {
        }
        if (!suffix) {
          EndToken(Kind::kComment);
          return;
        }
        EndToken(Kind::kEOLComment);
        suffix_comments_.push_back(Comment{tok_.pos, std::string(tok_.text)});
        return;
      }
      if (PeekPrefix("/*")) {
        Error("mod files must use // comments (not /* */ comments)");
        return;
      }
      break;
    }

    StartToken();
    if (Eof()) {
      EndToken(Kind::kEOF);
      return;
    }

    switch (const char32_t c = PeekRune(); c) {
      case '\n':
        ReadRune();
        EndToken(Kind::kNewline);
        return;
      case '(':
        ReadRune();
        EndToken(Kind::kLParen);
        return;
      case ')':
        ReadRune();
        EndToken(Kind::kRParen);
        return;
      case '[':
      case ']':
      case '{':
      case '}':
      case ',':
        ReadRune();
        EndToken(Kind::kPunct);
        return;
      case '"':
      case '`': {
        ReadRune();
        for (;;) {
          if (Eof()) {
            ErrorAt(tok_.pos, "unexpected EOF in string");
            return;
          }
          if (PeekRune() == '\n') {
            Error("unexpected newline in string");
            return;
          }
          const char32_t r = ReadRune();
          if (r == c) break;
          if (r == '\\' && c != '`') {
            // The escaped rune is taken as is, even a newline: Unquote rejects it later.
            if (Eof()) {
              ErrorAt(tok_.pos, "unexpected EOF in string");
              return;
            }
            ReadRune();
          }
        }
        EndToken(Kind::kString);
        return;
      }
      default:
        break;
    }

    if (const char32_t c = PeekRune(); !IsIdentRune(c)) {
      Error("unexpected input character " + module::QuoteRune(c));
      return;
    }
    while (IsIdentRune(PeekRune())) {
      if (PeekPrefix("//")) break;
      if (PeekPrefix("/*")) {
        Error("mod files must use // comments (not /* */ comments)");
        return;
      }
      ReadRune();
    }
    EndToken(Kind::kIdent);
  }

  Kind Peek() const { return tok_.kind; }

  // Returns the lookahead token and reads the next one; check failed_ afterwards.
  Token Lex() {
    Token t = tok_;
    ReadToken();
    return t;
  }

  // --- parser ----------------------------------------------------------------------

  std::size_t NewNode(Position start, Position end) {
    nodes_.push_back(Node{start, end, {}, {}});
    return nodes_.size() - 1;
  }

  bool ParseFile() {
    // The node collecting whole-line comments not yet attached, or kNone.
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    std::size_t comment_block = kNone;
    auto flush_comment_block = [&] {
      if (comment_block == kNone) return;
      Stmt s;
      s.type = Stmt::kComments;
      s.node = comment_block;
      stmts_.push_back(std::move(s));
      comment_block = kNone;
    };
    for (;;) {
      switch (Peek()) {
        case Kind::kNewline:
          Lex();
          if (failed_) return false;
          flush_comment_block();  // a blank line ends a comment block: it stands alone
          break;
        case Kind::kComment: {
          Token t = Lex();
          if (failed_) return false;
          if (comment_block == kNone) comment_block = NewNode(t.pos, t.pos);
          nodes_[comment_block].before.push_back(Comment{t.pos, std::string(t.text)});
          break;
        }
        case Kind::kEOF:
          flush_comment_block();
          return true;
        default:
          if (!ParseStmt()) return false;
          // Comments directly above a statement belong to it.
          if (comment_block != kNone) {
            nodes_[stmts_.back().node].before = std::move(nodes_[comment_block].before);
            nodes_[comment_block].before.clear();
            comment_block = kNone;
          }
          break;
      }
    }
  }

  bool ParseStmt() {
    Token first = Lex();
    if (failed_) return false;
    const Position start = first.pos;
    Position end = first.end;
    std::vector<std::string> tokens{std::string(first.text)};
    for (;;) {
      Token t = Lex();
      if (failed_) return false;
      if (IsEOL(t.kind)) {
        Stmt s;
        s.type = Stmt::kLine;
        s.node = NewNode(start, end);
        s.line = Line{s.node, std::move(tokens)};
        stmts_.push_back(std::move(s));
        return true;
      }
      if (t.kind == Kind::kLParen) {
        if (IsEOL(Peek())) {  // "verb (" ends the line: a block
          return ParseLineBlock(start, std::move(tokens), t);
        }
        if (Peek() == Kind::kRParen) {
          Token r = Lex();
          if (failed_) return false;
          if (IsEOL(Peek())) {  // "verb ()": an empty block
            Lex();
            if (failed_) return false;
            Stmt s;
            s.type = Stmt::kBlock;
            s.tokens = std::move(tokens);
            s.lparen = NewNode(t.pos, t.pos.After1());
            s.rparen = NewNode(r.pos, r.pos.After1());
            s.node = NewNode(start, r.pos.After1());
            stmts_.push_back(std::move(s));
            return true;
          }
          // "( )" inside a line is just two more words (the line's end stays put).
          tokens.emplace_back(t.text);
          tokens.emplace_back(r.text);
          continue;
        }
        tokens.emplace_back(t.text);  // "(" inside a line (the line's end stays put)
        continue;
      }
      tokens.emplace_back(t.text);
      end = t.end;
    }
  }

  bool ParseLineBlock(Position start, std::vector<std::string> tokens, const Token& lparen) {
    Stmt s;
    s.type = Stmt::kBlock;
    s.tokens = std::move(tokens);
    s.lparen = NewNode(lparen.pos, lparen.pos.After1());
    std::vector<Comment> comments;  // whole-line comments waiting for the next line
    for (;;) {
      switch (Peek()) {
        case Kind::kEOLComment:
          Lex();  // attached later by AssignSuffixComments
          if (failed_) return false;
          break;
        case Kind::kNewline:
          Lex();
          if (failed_) return false;
          // Blank lines between lines are remembered (as empty comments), once each.
          if ((comments.empty() && !s.lines.empty()) ||
              (!comments.empty() && !comments.back().text.empty())) {
            comments.push_back(Comment{});
          }
          break;
        case Kind::kComment: {
          Token t = Lex();
          if (failed_) return false;
          comments.push_back(Comment{t.pos, std::string(t.text)});
          break;
        }
        case Kind::kEOF:
          Error("syntax error (unterminated block started at " + file_ + ":" +
                std::to_string(start.line) + ":" + std::to_string(start.line_rune) + ")");
          return false;
        case Kind::kRParen: {
          Token r = Lex();
          if (failed_) return false;
          s.rparen = NewNode(r.pos, r.pos.After1());
          nodes_[s.rparen].before = std::move(comments);
          if (!IsEOL(Peek())) {
            Error("syntax error (expected newline after closing paren)");
            return false;
          }
          Lex();
          if (failed_) return false;
          s.node = NewNode(start, r.pos.After1());
          stmts_.push_back(std::move(s));
          return true;
        }
        default: {
          std::optional<Line> l = ParseLine();
          if (!l) return false;
          nodes_[l->node].before = std::move(comments);
          comments.clear();
          s.lines.push_back(std::move(*l));
          break;
        }
      }
    }
  }

  std::optional<Line> ParseLine() {
    Token first = Lex();
    if (failed_) return std::nullopt;
    if (IsEOL(first.kind)) {  // unreachable: ParseLineBlock sees the token first
      Error("internal parse error: parseLine at end of line");
      return std::nullopt;
    }
    const Position start = first.pos;
    Position end = first.end;
    std::vector<std::string> tokens{std::string(first.text)};
    for (;;) {
      Token t = Lex();
      if (failed_) return std::nullopt;
      if (IsEOL(t.kind)) return Line{NewNode(start, end), std::move(tokens)};
      tokens.emplace_back(t.text);
      end = t.end;
    }
  }

  // modfile's assignComments, for end-of-line comments (whole-line comments were
  // attached while parsing): walking the syntax in reverse post-order (children before
  // their parent, in file order), each single-line element takes the comments that
  // start at or after its end and were not taken by a later element.
  void AssignSuffixComments() {
    std::vector<std::size_t> post;
    for (const Stmt& s : stmts_) {
      if (s.type == Stmt::kBlock) {
        post.push_back(s.lparen);
        for (const Line& l : s.lines) post.push_back(l.node);
        post.push_back(s.rparen);
      }
      post.push_back(s.node);
    }
    std::vector<Comment>& pending = suffix_comments_;
    for (auto it = post.rbegin(); it != post.rend(); ++it) {
      Node& n = nodes_[*it];
      if (n.start.line != n.end.line) continue;  // e.g. a block: its lines take them
      while (!pending.empty() && n.end.byte <= pending.back().start.byte) {
        n.suffix.push_back(std::move(pending.back()));
        pending.pop_back();
      }
    }
    for (Node& n : nodes_) std::reverse(n.suffix.begin(), n.suffix.end());
  }

  std::string_view data_;
  std::string file_;
  Position pos_;
  std::size_t token_start_ = 0;
  Token tok_;
  bool failed_ = false;
  std::string error_;
  std::vector<Node> nodes_;
  std::vector<Stmt> stmts_;
  std::vector<Comment> suffix_comments_;
};

// ---------------------------------------------------------------------------------------
// Directives, as modfile.ParseLax checks them (no version fixer).

// modfile's parseString: a token as a string. Quoted tokens are unquoted; other quote
// characters are reserved. The error is the text after "invalid quoted string: ".
Result<std::string> ParseString(std::string_view t) {
  if (StartsWith(t, "\"")) {
    std::optional<std::string> s = Unquote(t);
    if (!s) return Fail("invalid syntax");
    return std::move(*s);
  }
  if (t.find_first_of("\"'`") != std::string_view::npos) {
    return Fail("unquoted string cannot contain quote");
  }
  return std::string(t);
}

// A run of ASCII digits starting at s[i] with no leading zero unless it is "0" alone
// in the strict sense of the regexps below; returns the end index or npos.
std::size_t MatchNumber(std::string_view s, std::size_t i, bool allow_zero) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '0') return allow_zero ? i + 1 : std::string_view::npos;
  if (s[i] < '1' || s[i] > '9') return std::string_view::npos;
  ++i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i;
}

// The end of "N.M" (N = [1-9][0-9]*, M = 0|[1-9][0-9]*) starting at s[i], or npos.
std::size_t MatchGoVersionPrefix(std::string_view s, std::size_t i) {
  std::size_t j = MatchNumber(s, i, /*allow_zero=*/false);
  if (j == std::string_view::npos || j >= s.size() || s[j] != '.') return std::string_view::npos;
  return MatchNumber(s, j + 1, /*allow_zero=*/true);
}

// modfile.GoVersionRE of current x/mod (go 1.21 on):
//   ^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$
// -- "1.21", "1.21.0", "1.21rc1". x/mod 0.7.0 accepted only "N.M", but took the others
// through laxGoVersionRE below, so a dependency's go.mod is accepted by both alike.
bool IsGoVersion(std::string_view s) {
  std::size_t i = MatchGoVersionPrefix(s, 0);
  if (i == std::string_view::npos) return false;
  if (i < s.size() && s[i] == '.') i = MatchNumber(s, i + 1, /*allow_zero=*/true);
  if (i == std::string_view::npos) return false;
  std::size_t letters = i;
  while (letters < s.size() && s[letters] >= 'a' && s[letters] <= 'z') ++letters;
  if (letters == i) return i == s.size();
  std::size_t digits = letters;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  return digits > letters && digits == s.size();
}

// modfile's laxGoVersionRE: ^v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)$ -- "1.18rc1",
// "v1.19.2" and the like, which dependencies may carry. The digit runs are maximal, so
// the rune after them must exist and not be a digit; '.' matches anything but '\n'.
bool IsLaxGoVersion(std::string_view s) {
  std::size_t i = StartsWith(s, "v") ? 1 : 0;
  std::size_t j = MatchGoVersionPrefix(s, i);
  if (j == std::string_view::npos || j >= s.size()) return false;
  if (s[j] >= '0' && s[j] <= '9') return false;
  // s[j] starts the one rune [^0-9] takes; a '\n' cannot be inside a multi-byte rune.
  return s.find('\n', j + 1) == std::string_view::npos;
}

// module.CanonicalVersion.
std::string CanonicalVersion(std::string_view v) {
  std::string cv = semver::Canonical(v);
  if (semver::Build(v) == "+incompatible") cv += "+incompatible";
  return cv;
}

// modfile's parseDirectiveComment: the text of the comments on a directive, or on its
// block when the directive has none of its own, one trimmed line per comment.
std::string DirectiveComment(const Node* block, const Node& line) {
  const Node* n = &line;
  if (block != nullptr && line.before.empty() && line.suffix.empty()) n = block;
  std::string text;
  bool first = true;
  for (const std::vector<Comment>* group : {&n->before, &n->suffix}) {
    for (const Comment& c : *group) {
      if (!StartsWith(c.text, "//")) continue;  // a blank line
      if (!first) text += '\n';
      first = false;
      text += TrimSpace(std::string_view(c.text).substr(2));
    }
  }
  return text;
}

// modfile's parseDeprecation: the first paragraph of the directive's comments starting
// with "Deprecated:", without that prefix and the spaces after it, up to the end of the
// paragraph (regexp `(?s)(?:^|\n\n)Deprecated: *(.*?)(?:$|\n\n)`).
std::string Deprecation(const Node* block, const Node& line) {
  const std::string text = DirectiveComment(block, line);
  static constexpr std::string_view kPrefix = "Deprecated:";
  for (std::size_t at = 0; at < text.size(); ++at) {
    std::size_t start;
    if (at == 0 && StartsWith(text, kPrefix)) {
      start = kPrefix.size();
    } else if (StartsWith(std::string_view(text).substr(at), "\n\n") &&
               StartsWith(std::string_view(text).substr(at + 2), kPrefix)) {
      start = at + 2 + kPrefix.size();
    } else {
      continue;
    }
    while (start < text.size() && text[start] == ' ') ++start;
    std::size_t end = text.find("\n\n", start);
    return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return "";
}

struct Checked {
  std::vector<std::string> errors;
  std::optional<ModuleDirective> module;
};

class DirectiveChecker {
 public:
  DirectiveChecker(const Reader& r, std::string_view file) : r_(r), file_(file) {}

  const std::string& go_version() const { return go_version_; }

  Checked Run() {
    for (const Stmt& s : r_.stmts()) {
      if (s.type == Stmt::kLine) {
        const auto& t = s.line.tokens;
        Add(nullptr, s.line, t[0], std::vector<std::string>(t.begin() + 1, t.end()));
      } else if (s.type == Stmt::kBlock) {
        // ParseLax skips blocks it does not know ("verb x (" included) silently.
        if (s.tokens.size() != 1) continue;
        const std::string& verb = s.tokens[0];
        if (verb != "module" && verb != "godebug" && verb != "require" && verb != "exclude" &&
            verb != "replace" && verb != "retract" && verb != "tool" && verb != "ignore") {
          continue;
        }
        for (const Line& l : s.lines) Add(&r_.node(s.node), l, verb, l.tokens);
      }
    }
    return std::move(out_);
  }

 private:
  void Report(const Line& line, const std::string& what) {
    out_.errors.push_back(Where(file_, r_.node(line.node).start) + what);
  }

  // "<verb> <path>: " or "<verb>: ", as modfile.Error prints Verb and ModPath.
  static std::string Directive(const std::string& verb, const std::string& path) {
    return path.empty() ? verb + ": " : verb + " " + path + ": ";
  }

  void Add(const Node* block, const Line& line, const std::string& verb,
           std::vector<std::string> args) {
    // A dependency's go.mod is read for these only; anything else is ignored so that
    // newer directives do not break older go commands.
    if (verb == "go") {
      AddGo(line, args);
    } else if (verb == "module") {
      AddModule(block, line, args);
    } else if (verb == "require") {
      AddRequire(line, args);
    } else if (verb == "ignore") {
      AddIgnore(line, args);
    }
    // "retract": without a version fixer ParseLax ignores malformed intervals and extra
    // tokens, so a retract line can never be an error here. toolchain, godebug, tool,
    // exclude and replace are the main module's business: a dependency's are ignored.
  }

  void AddGo(const Line& line, const std::vector<std::string>& args) {
    if (have_go_) return Report(line, "repeated go statement");
    if (args.size() != 1) return Report(line, "go directive expects exactly one argument");
    if (!IsGoVersion(args[0]) && !IsLaxGoVersion(args[0])) {
      return Report(line, "invalid go version '" + args[0] + "': must match format 1.23.0");
    }
    have_go_ = true;
    // ParseLax keeps a version GoVersionRE accepts, and cuts a lax one to its "N.M".
    std::string_view v = args[0];
    if (!IsGoVersion(v)) {
      v.remove_prefix(StartsWith(v, "v") ? 1 : 0);
      v = v.substr(0, MatchGoVersionPrefix(v, 0));
    }
    go_version_ = std::string(v);
  }

  // Current x/mod reads a dependency's ignore directives too (x/mod 0.7.0 skipped them):
  // a malformed one breaks `go get` of the module with go 1.25 and later.
  void AddIgnore(const Line& line, const std::vector<std::string>& args) {
    if (args.size() != 1) return Report(line, "ignore directive expects exactly one argument");
    Result<std::string> path = ParseString(args[0]);
    if (!path) return Report(line, "invalid quoted string: " + path.message());
  }

  void AddModule(const Node* block, const Line& line, const std::vector<std::string>& args) {
    if (out_.module) return Report(line, "repeated module statement");
    // The directive counts (a second one is "repeated") even when malformed.
    out_.module = ModuleDirective{"", r_.node(line.node).start.line,
                                  Deprecation(block, r_.node(line.node)), ""};
    if (args.size() != 1) return Report(line, "usage: module module/path");
    Result<std::string> path = ParseString(args[0]);
    if (!path) return Report(line, "invalid quoted string: " + path.message());
    out_.module->path = std::move(*path);
  }

  void AddRequire(const Line& line, const std::vector<std::string>& args) {
    if (args.size() != 2) return Report(line, "usage: require module/path v1.2.3");
    Result<std::string> path = ParseString(args[0]);
    if (!path) return Report(line, "invalid quoted string: " + path.message());
    // The version: a string, then a valid semantic version (canonicalised).
    Result<std::string> v = ParseString(args[1]);
    if (!v) {
      return Report(line, Directive("require", *path) + "version " + module::Quote(args[1]) +
                              " invalid: " + v.message());
    }
    const std::string cv = CanonicalVersion(*v);
    if (cv.empty()) {
      return Report(line, Directive("require", *path) + "version " + module::Quote(*v) +
                              " invalid: must be of the form v1.2.3");
    }
    module::PathVersion pv = module::SplitPathVersion(*path);
    if (!pv.ok) return Report(line, "invalid module path");
    if (Status s = module::CheckPathMajor(cv, pv.path_major); !s.ok()) {
      return Report(line, Directive("require", *path) + s.message());
    }
  }

  const Reader& r_;
  std::string file_;
  Checked out_;
  bool have_go_ = false;
  std::string go_version_;
};

// ModulePath ignores everything from the first "//" of a line, even inside quotes.
std::string_view CutComment(std::string_view line) {
  std::size_t i = line.find("//");
  return i == std::string_view::npos ? line : line.substr(0, i);
}

}  // namespace

std::string ModulePath(std::string_view data) {
  while (!data.empty()) {
    std::string_view line = data;
    data = {};
    if (std::size_t nl = line.find('\n'); nl != std::string_view::npos) {
      data = line.substr(nl + 1);
      line = line.substr(0, nl);
    }
    line = TrimSpace(CutComment(line));
    if (!StartsWith(line, "module")) continue;
    line.remove_prefix(std::string_view("module").size());
    const std::size_t n = line.size();
    line = TrimSpace(line);
    // "modulex" is another word; "module" alone names nothing.
    if (line.size() == n || line.empty()) continue;
    if (line[0] == '"' || line[0] == '`') {
      // A malformed quoted path ends the search: there is no module path.
      std::optional<std::string> p = Unquote(line);
      return p ? std::move(*p) : std::string();
    }
    return std::string(line);
  }
  return "";
}

Result<ModuleDirective> ParseModule(std::string_view data, std::string_view file) {
  Reader reader(data, file);
  if (!reader.Parse()) return Fail(reader.error());
  DirectiveChecker checker(reader, file);
  Checked checked = checker.Run();
  if (!checked.errors.empty()) {
    std::string msg;
    for (const std::string& e : checked.errors) msg += (msg.empty() ? "" : "\n") + e;
    return Fail(std::move(msg));
  }
  if (!checked.module) return Fail(std::string(file) + ": no module directive");
  // The go command picks a tag's directory with ModulePath, a line-by-line scan that
  // knows neither blocks nor the lexer's rules; a go.mod it reads differently (block form
  // "module ( ... )", "//" inside a quoted path, a line starting with "module " inside
  // another block) would be served under a path no build agrees with.
  if (std::string quick = ModulePath(data); quick != checked.module->path) {
    return Fail(Where(file, Position{checked.module->line, 1, 0}) +
                "module directive: the go command's quick scan of go.mod reads the module "
                "path as " +
                module::Quote(quick) + ", not " + module::Quote(checked.module->path) +
                "; write it on one line: module " + AutoQuote(checked.module->path));
  }
  checked.module->go_version = checker.go_version();
  return std::move(*checked.module);
}

std::string GoVersion(std::string_view data) {
  Reader reader(data, "go.mod");
  if (!reader.Parse()) return "";
  DirectiveChecker checker(reader, "go.mod");
  return checker.Run().errors.empty() ? checker.go_version() : "";
}

std::string AutoQuote(std::string_view s) {
  // modfile.MustQuote: would s fail to read back as the same single token?
  bool must =
      s.empty() || s.find("//") != std::string_view::npos || s.find("/*") != std::string_view::npos;
  for (std::string_view rest = s; !must && !rest.empty();) {
    module::DecodedRune d = DecodeRune(rest);
    rest.remove_prefix(d.width);
    if (d.rune == ' ' || d.rune == '"' || d.rune == '\'' || d.rune == '`') {
      must = true;
    } else if (IsPunctToken(d.rune)) {
      must = s.size() > 1;  // alone, punctuation is still one token
    } else {
      must = !module::IsPrint(d.rune);  // invalid UTF-8 is U+FFFD: printable
    }
  }
  return must ? module::Quote(s) : std::string(s);
}

std::string LegacyGoMod(std::string_view module_path) {
  return "module " + AutoQuote(module_path) + "\n";
}

}  // namespace modpub::gomod
