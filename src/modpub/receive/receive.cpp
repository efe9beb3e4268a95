#include "modpub/receive/receive.hpp"

#include <utility>

#include "modpub/module/gotext.hpp"
#include "modpub/module/module.hpp"
#include "modpub/modzip/modzip.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::receive {
namespace {

constexpr std::string_view kTagsPrefix = "refs/tags/";

std::string_view LastElement(std::string_view tag) {
  auto slash = tag.rfind('/');
  return slash == std::string_view::npos ? tag : tag.substr(slash + 1);
}

std::string Directory(std::string_view tag) {
  auto slash = tag.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(tag.substr(0, slash));
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Adds each line of `message` to `out`, each beginning with "<tag>: ".
void AddProblems(std::vector<std::string>& out, const std::string& tag,
                 const std::string& message) {
  const std::string lead = tag + ": ";
  std::size_t start = 0;
  while (start <= message.size()) {
    auto nl = message.find('\n', start);
    std::string line = message.substr(start, nl == std::string::npos ? nl : nl - start);
    if (!line.empty()) out.push_back(line.rfind(lead, 0) == 0 ? line : lead + line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

bool ParseOid(std::string_view hex, git::Oid& out) {
  if (hex.size() != GIT_OID_HEXSZ) return false;
  for (char c : hex) {
    bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!digit) return false;
  }
  return git_oid_fromstrn(&out.raw, hex.data(), hex.size()) == 0;
}

// Every module version a version tag may have been published as (coderepo.go: the
// directory's module path, and for vN >= 2 its /vN form or the +incompatible version),
// whatever the tag's old tree held: the stored versions are what counts.
std::vector<std::pair<std::string, std::string>> Candidates(const std::string& import_path,
                                                            const std::string& tag) {
  std::string v(LastElement(tag));
  if (!semver::IsValid(v) || semver::Canonical(v) != v) return {};
  std::string dir = Directory(tag);
  std::string base = dir.empty() ? import_path : import_path + "/" + dir;
  std::vector<std::pair<std::string, std::string>> out{{base, v}};
  std::string major = semver::Major(v);
  if (major != "v0" && major != "v1" && module::SplitPathVersion(base).path_major.empty()) {
    out.emplace_back(base, v + "+incompatible");
    out.emplace_back(base + "/" + major, v);
  }
  std::erase_if(out, [](const auto& pv) {
    return !storage::ValidateModuleVersion(pv.first, pv.second).ok();
  });
  return out;
}

// Refuses moving or deleting tag `tag` if a version it may name is stored anywhere.
void CheckNotPublished(const Policy& policy, const std::string& tag, std::string_view action,
                       std::vector<std::string>& problems) {
  for (const auto& [path, version] : Candidates(policy.repo.import_path, tag)) {
    for (storage::Backend* backend : policy.published_in) {
      auto stat = backend->Stat(path, version);
      if (!stat) {
        AddProblems(problems, tag,
                    "cannot tell whether " + path + "@" + version + " is published in " +
                        backend->Name() + " (" + stat.message() + "); " + std::string(action) +
                        " a version tag is refused until the storage can be read");
      } else if (stat->has_value()) {
        std::string state =
            (*stat)->state == storage::VersionState::kComplete
                ? "published"
                : "being published (" + std::string(storage::StateName((*stat)->state)) + ")";
        AddProblems(problems, tag,
                    path + "@" + version + " is " + state + " in " + backend->Name() + "; " +
                        std::string(action) +
                        " the tag of a published version is not allowed: its content is "
                        "fixed forever (tag a new version instead)");
      }
    }
  }
}

// The file that states module version `mv`'s path: its go.mod, or (a module without one)
// the repository's import path.
std::string PathSource(git::Repository& repo, const modzip::ModuleVersion& mv) {
  std::string file = mv.dir.empty() ? "go.mod" : mv.dir + "/go.mod";
  auto tagged = repo.ResolveCommit(mv.commit, "tag " + mv.tag);
  if (!tagged) return file;
  auto entry = repo.EntryAt(tagged->tree, file);
  if (entry && !entry->has_value()) return "import path (no go.mod)";
  return file;
}

void CheckAllowed(git::Repository& repo, const Policy& policy, const modzip::ModuleVersion& mv,
                  std::vector<std::string>& problems) {
  if (policy.repo.AllowsModule(mv.path)) return;
  std::string list;
  for (const std::string& prefix : policy.repo.allowed_prefixes) {
    list += (list.empty() ? "" : ", ") + Quote(prefix);
  }
  AddProblems(problems, mv.tag,
              PathSource(repo, mv) + ": module path " + Quote(mv.path) +
                  " is not under the allowed module path prefixes of this repository (" + list +
                  ")");
}

}  // namespace

bool RefUpdate::Creates() const { return git_oid_is_zero(&old_id.raw) != 0; }
bool RefUpdate::Deletes() const { return git_oid_is_zero(&new_id.raw) != 0; }

std::string RefUpdate::Tag() const {
  if (ref.size() <= kTagsPrefix.size() || ref.compare(0, kTagsPrefix.size(), kTagsPrefix) != 0) {
    return "";
  }
  return ref.substr(kTagsPrefix.size());
}

Result<std::vector<RefUpdate>> ParseUpdates(std::string_view input) {
  std::vector<RefUpdate> out;
  std::size_t start = 0;
  for (int lineno = 1; start < input.size(); ++lineno) {
    auto nl = input.find('\n', start);
    std::string_view line = input.substr(start, nl == std::string_view::npos ? nl : nl - start);
    start = nl == std::string_view::npos ? input.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    RefUpdate u;
    if (sp2 == std::string_view::npos || !ParseOid(line.substr(0, sp1), u.old_id) ||
        !ParseOid(line.substr(sp1 + 1, sp2 - sp1 - 1), u.new_id) || sp2 + 1 >= line.size()) {
      return Fail("ref update line " + std::to_string(lineno) + " " + Quote(line) +
                  " is not \"<old id> <new id> <ref>\" (40 hex digits each)");
    }
    u.ref = std::string(line.substr(sp2 + 1));
    out.push_back(std::move(u));
  }
  return out;
}

bool IsVersionTag(std::string_view tag) {
  return publish::OrderVersionTags({std::string(tag)}).versions.size() == 1;
}

TagVerdict JudgeTagName(std::string_view import_path, std::string_view tag) {
  const std::string name(tag);
  if (!git::IsValidRefName("refs/tags/" + name)) {
    return {TagVerdict::kNotAGitRef,
            "refs/tags/" + module::Quote(name) +
                " is not a ref name git allows (git check-ref-format): no git server sends it"};
  }
  if (!IsVersionTag(name)) return {TagVerdict::kNotVersion, ""};
  const auto slash = name.rfind('/');
  const std::string version = slash == std::string::npos ? name : name.substr(slash + 1);
  if (!semver::IsValid(version) || semver::Canonical(version) != version) {
    return {TagVerdict::kNever, "tag " + module::Quote(name) + ": " + module::Quote(version) +
                                    " is not a canonical semantic version (vMAJOR.MINOR.PATCH): "
                                    "the go command never fetches it"};
  }
  if (slash == std::string::npos) return {};
  const std::string path = std::string(import_path) + "/" + name.substr(0, slash);
  if (Status st = module::CheckPath(path); !st) {
    return {TagVerdict::kNever, "tag " + module::Quote(name) + " would be a version of " +
                                    st.message() + ": the go command never fetches it"};
  }
  return {};
}

Verdict Review(git::Repository& repo, const Policy& policy, const std::vector<RefUpdate>& updates) {
  Verdict out;
  for (const RefUpdate& u : updates) {
    std::string tag = u.Tag();
    if (tag.empty()) continue;
    bool version_tag = IsVersionTag(tag);
    const std::size_t problems_before = out.problems.size();
    if (!u.Creates()) {
      std::string_view action = u.Deletes() ? "deleting" : "moving";
      if (policy.repo.immutable_tags && semver::IsValid(LastElement(tag))) {
        AddProblems(out.problems, tag,
                    std::string(action) +
                        " a version tag is not allowed: tags are immutable in this repository "
                        "(immutable_tags = true)");
      } else if (version_tag) {
        CheckNotPublished(policy, tag, action, out.problems);
      }
    }
    if (u.Deletes() || !version_tag) continue;

    auto mvs = modzip::ResolveAt(repo, policy.repo.import_path, tag, u.new_id);
    if (!mvs) {
      AddProblems(out.problems, tag, mvs.message());
      continue;
    }
    for (const modzip::ModuleVersion& mv : *mvs) {
      CheckAllowed(repo, policy, mv, out.problems);
      if (auto st = modzip::Check(repo, mv); !st) AddProblems(out.problems, tag, st.message());
    }
    if (out.problems.size() != problems_before) continue;  // this update is refused
    for (const modzip::ModuleVersion& mv : *mvs) {
      out.accepted.push_back({tag, mv.path, mv.version, mv.commit});
    }
  }
  return out;
}

Verdict Published(git::Repository& repo, const std::string& import_path,
                  const std::vector<RefUpdate>& updates) {
  Verdict out;
  for (const RefUpdate& u : updates) {
    std::string tag = u.Tag();
    if (tag.empty() || u.Deletes() || !IsVersionTag(tag)) continue;
    auto mvs = modzip::ResolveAt(repo, import_path, tag, u.new_id);
    if (!mvs) {
      AddProblems(out.problems, tag, mvs.message());
      continue;
    }
    for (const modzip::ModuleVersion& mv : *mvs)
      out.accepted.push_back({tag, mv.path, mv.version, mv.commit});
  }
  return out;
}

}  // namespace modpub::receive
