#include "modpub/config/checker.hpp"

#include <sstream>

namespace modpub::config::internal {
namespace {

const char* TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

}  // namespace

void Checker::Problem(const toml::source_region& where, const std::string& key,
                      const std::string& what) {
  std::ostringstream s;
  s << source_ << ":" << where.begin.line << ":" << where.begin.column << ": " << key << ": "
    << what;
  problems_.push_back(s.str());
}

void Checker::Problem(const std::string& key, const std::string& what) {
  problems_.push_back(source_ + ": " + key + ": " + what);
}

void Checker::Unknown(const toml::table& table, const std::string& prefix,
                      const std::set<std::string>& known) {
  for (const auto& [k, v] : table) {
    std::string name(k.str());
    if (!known.count(name)) {
      Problem(v.source(), prefix + name, "unknown key (known: " + Join(known) + ")");
    }
  }
}

void Checker::CheckString(const toml::node& n, const std::string& name, const Key& key,
                          const std::string& value) {
  if (!key.choices.empty()) {
    const std::set<std::string> choices(key.choices.begin(), key.choices.end());
    if (!choices.count(value)) {
      Problem(n.source(), name, "\"" + value + "\" is not one of " + Join(choices));
    }
  }
  if (key.check) {
    if (std::string what = key.check(value); !what.empty()) Problem(n.source(), name, what);
  }
}

bool Checker::Read(const toml::node& n, const std::string& name, const Key& key, std::string* out) {
  if (!n.is_string()) {
    Problem(n.source(), name, std::string("must be a string, not ") + TypeName(n));
    return false;
  }
  *out = *n.value<std::string>();
  CheckString(n, name, key, *out);
  return true;
}

bool Checker::Read(const toml::node& n, const std::string& name, const Key&, bool* out) {
  if (!n.is_boolean()) {
    Problem(n.source(), name, std::string("must be true or false, not ") + TypeName(n));
    return false;
  }
  *out = *n.value<bool>();
  return true;
}

// Elements are checked only when every one is a string (the message then names the
// element the index points at).
bool Checker::Read(const toml::node& n, const std::string& name, const Key& key,
                   std::vector<std::string>* out) {
  const toml::array* a = n.as_array();
  if (!a) {
    Problem(n.source(), name, std::string("must be an array of strings, not ") + TypeName(n));
    return false;
  }
  out->clear();
  bool ok = true;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    if (!e.is_string()) {
      Problem(e.source(), name + "[" + std::to_string(i) + "]",
              std::string("must be a string, not ") + TypeName(e));
      ok = false;
      continue;
    }
    out->push_back(*e.value<std::string>());
  }
  for (std::size_t i = 0; ok && i < out->size(); ++i) {
    CheckString(*a->get(i), name + "[" + std::to_string(i) + "]", key, (*out)[i]);
  }
  return ok;
}

bool Checker::ReadInt(const toml::node& n, const std::string& name, const Key& key,
                      std::int64_t* out) {
  if (!n.is_integer()) {
    Problem(n.source(), name, std::string("must be an integer, not ") + TypeName(n));
    return false;
  }
  std::int64_t v = *n.value<std::int64_t>();
  if (v < key.min || v > key.max) {
    Problem(n.source(), name,
            std::to_string(v) + " is out of range " + std::to_string(key.min) + ".." +
                std::to_string(key.max));
    return false;
  }
  *out = v;
  return true;
}

bool Checker::Read(const toml::node& n, const std::string& name, const Key& key, int* out) {
  std::int64_t v = 0;
  if (!ReadInt(n, name, key, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool Checker::Read(const toml::node& n, const std::string& name, const Key& key,
                   std::int64_t* out) {
  return ReadInt(n, name, key, out);
}

bool Checker::Read(const toml::node& n, const std::string& name, const Key& key,
                   std::chrono::milliseconds* out) {
  std::int64_t v = 0;
  if (!ReadInt(n, name, key, &v)) return false;
  *out = std::chrono::milliseconds(v);
  return true;
}

std::string Checker::Join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::string Checker::Message() const {
  std::string out;
  for (const auto& p : problems_) out += (out.empty() ? "" : "\n") + p;
  return out;
}

toml::source_region Scope::Where(std::string_view leaf) const {
  const toml::node* n = Node(leaf);
  return n ? n->source() : table.source();
}

void Scope::Problem(const toml::source_region& where, std::string_view leaf,
                    const std::string& what) {
  checker.Problem(where, prefix + std::string(leaf), what);
}

void Scope::Missing(std::string_view leaf, const char* hint) {
  std::string what = std::string("missing (required)") + (*hint ? ": " : "") + hint;
  if (top_level) {
    checker.Problem(prefix + std::string(leaf), what);
  } else {
    Problem(table.source(), leaf, what);
  }
}

void ReadSection(const Key& section, Scope& scope) {
  const std::vector<const Key*> keys = KeysOf(section.name);
  std::set<std::string> known;
  for (const Key* k : keys) known.emplace(LeafOf(*k));
  if (scope.top_level) {
    for (const Key& k : Keys()) {
      if (k.kind != Kind::kValue && !k.name.empty()) known.emplace(k.name);
    }
  }
  scope.checker.Unknown(scope.table, scope.prefix, known);
  for (const Key* k : keys) {
    const std::string leaf(LeafOf(*k));
    const toml::node* n = scope.table.get(leaf);
    if (!n) {
      if (k->required) scope.Missing(leaf, k->required);
      continue;
    }
    const std::string name = scope.prefix + leaf;
    const bool read = std::visit([&](auto* out) { return scope.checker.Read(*n, name, *k, out); },
                                 k->field(scope.cfg, scope.repo));
    if (read) scope.read.insert(leaf);
  }
  if (section.finish) section.finish(scope);
}

}  // namespace modpub::config::internal
