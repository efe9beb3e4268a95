// The key table rendered as TOML: the commented example (examples/modpub.toml) and the
// effective configuration of a loaded file.
#include <cstdio>
#include <string>
#include <string_view>

#include "modpub/config/config.hpp"
#include "modpub/config/keys.hpp"

namespace modpub::config {
namespace {

using internal::Field;
using internal::Key;
using internal::Kind;

// A TOML basic string.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(ch));
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

struct Literal {
  std::string operator()(const std::string* v) const { return Quote(*v); }
  std::string operator()(const std::vector<std::string>* v) const {
    std::string out = "[";
    for (const auto& s : *v) out += (out.size() > 1 ? ", " : "") + Quote(s);
    return out + "]";
  }
  std::string operator()(const bool* v) const { return *v ? "true" : "false"; }
  std::string operator()(const int* v) const { return std::to_string(*v); }
  std::string operator()(const std::int64_t* v) const { return std::to_string(*v); }
  std::string operator()(const std::chrono::milliseconds* v) const {
    return std::to_string(v->count());
  }
};

std::string Comment(std::string_view text) {
  std::string out;
  while (true) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    out += line.empty() ? "#\n" : "# " + std::string(line) + "\n";
    if (nl == std::string_view::npos) return out;
    text.remove_prefix(nl + 1);
  }
}

// What the table says besides the help: required, range, accepted values.
std::string Rules(const Key& k) {
  std::string out;
  auto add = [&out](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
  if (k.required) add("Required.");
  if (k.min != k.max) add("Range: " + std::to_string(k.min) + ".." + std::to_string(k.max) + ".");
  if (!k.choices.empty()) {
    std::string choices;
    for (auto c : k.choices) choices += (choices.empty() ? "" : " | ") + std::string(c);
    add("One of: " + choices + ".");
  }
  return out.empty() ? "" : Comment(out);
}

std::string SectionHeader(const Key& section) {
  const std::string name(section.name);
  return section.kind == Kind::kTables ? "[[" + name + "]]" : "[" + name + "]";
}

std::string ExampleSection(const Key& section) {
  if (section.name.empty()) return Comment(section.help);
  return "\n" + Comment(section.help) + (section.commented ? "# " : "") + SectionHeader(section) +
         "\n";
}

// A blank line separates the key from the one before, not from its table's header.
std::string ExampleKey(const Key& k, bool first_in_table, bool in_commented_section) {
  Config defaults;
  RepoConfig repo_defaults;
  const std::string value = k.example.empty()
                                ? std::visit(Literal{}, k.field(defaults, repo_defaults))
                                : std::string(k.example);
  return (first_in_table ? "" : "\n") + Comment(k.help) + Rules(k) +
         (k.commented || in_commented_section ? "# " : "") + std::string(internal::LeafOf(k)) +
         " = " + value + "\n";
}

// The keys of one table of `cfg` (repo: the [[repository]] shown), one line each.
// Empty strings that are also the default say nothing and are left out; secrets are
// never printed.
std::string EffectiveKeys(std::string_view section, Config& cfg, RepoConfig& repo) {
  std::string out;
  for (const Key* k : internal::KeysOf(section)) {
    const std::string leaf(internal::LeafOf(*k));
    const Field f = k->field(cfg, repo);
    const auto* s = std::get_if<std::string*>(&f);
    if (s && (*s)->empty()) {
      Config defaults;
      RepoConfig repo_defaults;
      if (std::get<std::string*>(k->field(defaults, repo_defaults))->empty()) continue;
    }
    if (k->secret) {
      out += "# " + leaf + " = (set, not shown)\n";
      continue;
    }
    out += leaf + " = " + std::visit(Literal{}, f) + "\n";
  }
  return out;
}

}  // namespace

std::string ExampleToml() {
  std::string out;
  const Key* table = nullptr;  // the table being rendered
  bool first = false;          // the next key is the first of a [table]
  auto end_table = [&] {
    if (table && !table->example.empty()) out += "\n" + std::string(table->example);
  };
  for (const Key& k : internal::Keys()) {
    if (k.kind == Kind::kValue) {
      out += ExampleKey(k, first, table && table->commented);
      first = false;
    } else {
      end_table();
      table = &k;
      first = !k.name.empty();
      out += ExampleSection(k);
    }
  }
  end_table();
  return out;
}

std::string EffectiveToml(const Config& loaded) {
  Config cfg = loaded;  // the table's fields are writable pointers
  std::string out = "# " + cfg.source + ", as loaded (defaults filled in, secrets not shown)\n";
  for (const Key& section : internal::Keys()) {
    if (section.kind == Kind::kValue) continue;
    RepoConfig scratch;
    if (section.name.empty()) {
      out += EffectiveKeys(section.name, cfg, scratch);
    } else if (section.kind == Kind::kTables) {  // [[repository]], the only one
      for (RepoConfig& repo : cfg.repositories) {
        out += "\n" + SectionHeader(section) + "\n" + EffectiveKeys(section.name, cfg, repo);
      }
    } else if (!section.present || section.present(cfg)) {
      out += "\n" + SectionHeader(section) + "\n" + EffectiveKeys(section.name, cfg, scratch);
    }
  }
  return out;
}

}  // namespace modpub::config
