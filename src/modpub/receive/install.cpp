#include "modpub/receive/install.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "modpub/git/git.hpp"

namespace fs = std::filesystem;

namespace modpub::receive {
namespace {

constexpr const char* kHooks[] = {"pre-receive", "post-receive"};
constexpr std::string_view kCreatedMarker = "created-hooks-dir";

// Single-quoted for sh: every ' becomes '\''.
std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The word ShellQuote wrote at `pos` ('…' runs and \' escapes), up to white space; nullopt
// when there is none.
std::optional<std::string> ShellUnquote(std::string_view s, std::size_t pos) {
  std::string out;
  bool any = false;
  while (pos < s.size()) {
    if (s[pos] == '\'') {
      auto end = s.find('\'', pos + 1);
      if (end == std::string_view::npos) return std::nullopt;
      out.append(s.substr(pos + 1, end - pos - 1));
      pos = end + 1;
    } else if (s[pos] == '\\' && pos + 1 < s.size()) {
      out += s[pos + 1];
      pos += 2;
    } else {
      break;
    }
    any = true;
  }
  if (!any) return std::nullopt;
  return out;
}

// The quoted word after the first `prefix` in `s`.
std::optional<std::string> QuotedAfter(std::string_view s, std::string_view prefix) {
  auto pos = s.find(prefix);
  if (pos == std::string_view::npos) return std::nullopt;
  return ShellUnquote(s, pos + prefix.size());
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

Result<std::optional<std::string>> ReadIfExists(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(p, ec))) return std::optional<std::string>();
  std::ifstream in(p, std::ios::binary);
  // A dangling symbolic link is a hook too (a broken one, and not a shim).
  if (!in && fs::is_symlink(p, ec)) return std::optional<std::string>(std::string());
  if (!in) return Fail(p.string() + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return std::optional<std::string>(ss.str());
}

bool IsShim(const std::optional<std::string>& text) {
  return text && text->find(std::string(kShimMarker) + "\n") != std::string::npos;
}

// Writes `text` as an executable file at `path`, atomically (temp + rename).
Status WriteExecutable(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".modpub-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Fail(tmp.string() + ": cannot write");
  }
  if (::chmod(tmp.c_str(), 0755) != 0) return Fail(tmp.string() + ": cannot make executable");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Fail(path.string() + ": " + ec.message());
  }
  return Ok();
}

Status Rename(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return Fail("moving " + from.string() + " to " + to.string() + ": " + ec.message());
  return Ok();
}

// Moves a hook one directory down (hooks/<hook> -> hooks/modpub-chained/<hook>) or back
// up. A relative symbolic link would point elsewhere from there, so it is re-created
// with "../" added to its target going down, and that "../" removed coming back up:
// stored relative targets always start with "../", absolute ones never change.
Status MoveHook(const fs::path& from, const fs::path& to, bool down) {
  std::error_code ec;
  if (!fs::is_symlink(from, ec)) return Rename(from, to);
  fs::path target = fs::read_symlink(from, ec);
  if (ec) return Fail(from.string() + ": " + ec.message());
  if (target.is_absolute()) return Rename(from, to);
  std::string text = target.string();
  if (down) {
    text = "../" + text;
  } else if (text.rfind("../", 0) == 0) {
    text = text.substr(3);
  }
  fs::create_symlink(text, to, ec);
  if (ec) return Fail("linking " + to.string() + " to " + text + ": " + ec.message());
  fs::remove(from, ec);
  if (ec) return Fail(from.string() + ": " + ec.message());
  return Ok();
}

// The current text of each of kHooks (nullopt: absent). Fails when a hook is not a shim
// while modpub-chained/ holds one of the same name: then only a person can tell which
// of the two is meant.
Result<std::vector<std::optional<std::string>>> ReadHooks(const fs::path& hooks) {
  fs::path chained = hooks / kChainedDir;
  std::error_code ec;
  std::vector<std::optional<std::string>> current;
  for (const char* hook : kHooks) {
    auto text = ReadIfExists(hooks / hook);
    if (!text) return text.error();
    if (*text && !IsShim(*text) && fs::exists(fs::symlink_status(chained / hook, ec))) {
      return Fail((hooks / hook).string() + " is not modpub's, and " + (chained / hook).string() +
                  " holds an earlier hook: decide by hand which one to keep");
    }
    current.push_back(std::move(*text));
  }
  return current;
}

}  // namespace

Result<fs::path> HooksDir(const fs::path& repo_path) {
  auto repo = git::Repository::Open(repo_path);
  if (!repo) return repo.error();
  // git::Repository deliberately ignores configuration; core.hooksPath is read from the
  // repository's own config file.
  fs::path gitdir = fs::absolute(git_repository_path(repo->raw())).lexically_normal();
  if (!gitdir.has_filename()) gitdir = gitdir.parent_path();
  git::ConfigHandle cfg;
  fs::path config_file = gitdir / "config";
  std::error_code ec;
  if (fs::exists(config_file, ec)) {
    if (git_config_open_ondisk(cfg.out(), config_file.c_str()) != 0) {
      return Fail(config_file.string() + ": " + git::LastError());
    }
    git::Buf value;
    int rc = git_config_get_path(value.get(), cfg.get(), "core.hooksPath");
    if (rc == 0 && !value.view().empty()) {
      fs::path p(std::string(value.view()));
      if (p.is_relative()) {
        // git runs hooks in the repository directory of a bare repository and at the top
        // of the work tree otherwise; a relative core.hooksPath is taken from there.
        const char* workdir = git_repository_workdir(repo->raw());
        p = (workdir && !git_repository_is_bare(repo->raw()) ? fs::path(workdir) : gitdir) / p;
      }
      return p.lexically_normal();
    }
    if (rc != 0 && rc != GIT_ENOTFOUND) {
      return Fail(config_file.string() + ": core.hooksPath: " + git::LastError());
    }
  }
  return gitdir / "hooks";
}

std::string ShimText(std::string_view shim_template, std::string_view hook, const fs::path& program,
                     const std::optional<fs::path>& config) {
  std::string text(shim_template);
  std::string args;
  if (config) args = "--config " + ShellQuote(config->string());
  ReplaceAll(text, "@HOOK@", hook);
  ReplaceAll(text, "@PROGRAM@", ShellQuote(program.string()));
  ReplaceAll(text, "@ARGS@", args);
  return text;
}

std::optional<ShimInfo> ParseShim(std::string_view text) {
  if (!IsShim(std::string(text))) return std::nullopt;
  // This version: "recorded='<program>'"; earlier ones exec'd it: "exec '<program>' ".
  auto program = QuotedAfter(text, "\nrecorded=");
  if (!program) program = QuotedAfter(text, "\nexec ");
  if (!program) return std::nullopt;
  ShimInfo info{fs::path(*program), std::nullopt};
  if (auto config = QuotedAfter(text, " --config ")) info.config = fs::path(*config);
  return info;
}

Result<std::vector<std::string>> Install(const InstallOptions& o) {
  if (o.shim_template.find(kShimMarker) == std::string::npos) {
    throw std::logic_error("shim template lacks the marker line");
  }
  std::error_code ec;
  if (!o.program.is_absolute() || !fs::is_regular_file(o.program, ec) ||
      ::access(o.program.c_str(), X_OK) != 0) {
    return Fail(o.program.string() + ": the modpub-hook program is missing or not executable");
  }
  std::optional<fs::path> config;
  if (o.config) {
    config = fs::absolute(*o.config, ec).lexically_normal();
    if (!fs::is_regular_file(*config, ec)) return Fail(config->string() + ": no such file");
  }
  auto hooks = HooksDir(o.repo);
  if (!hooks) return hooks.error();
  fs::path chained = *hooks / kChainedDir;
  bool created = false;
  if (!fs::is_directory(*hooks, ec)) {
    fs::create_directories(*hooks, ec);
    if (ec) return Fail(hooks->string() + ": " + ec.message());
    created = true;
  }
  // Every hook is checked before anything changes, so a refusal changes nothing.
  auto current = ReadHooks(*hooks);
  if (!current) return current.error();
  fs::create_directories(chained, ec);
  if (ec) return Fail(chained.string() + ": " + ec.message());
  if (created) {
    std::ofstream(chained / kCreatedMarker)
        << "modpub hook install created " << hooks->string() << "\n";
  }

  std::vector<std::string> lines;
  for (std::size_t i = 0; i < std::size(kHooks); ++i) {
    const std::string hook = kHooks[i];
    fs::path target = *hooks / hook;
    std::string text = ShimText(o.shim_template, hook, o.program, config);
    if (IsShim((*current)[i])) {
      if (*(*current)[i] == text) {
        lines.push_back(hook + ": already installed in " + hooks->string());
        continue;
      }
      if (auto st = WriteExecutable(target, text); !st) return st.error();
      lines.push_back(hook + ": updated in " + hooks->string());
      continue;
    }
    std::string note;
    if ((*current)[i]) {
      if (auto st = MoveHook(target, chained / hook, /*down=*/true); !st) return st.error();
      note = " (the existing hook, kept in " + (chained / hook).string() + ", runs first)";
    }
    if (auto st = WriteExecutable(target, text); !st) return st.error();
    lines.push_back(hook + ": installed in " + hooks->string() + note);
  }
  return lines;
}

Result<std::vector<std::string>> Uninstall(const fs::path& repo) {
  auto hooks = HooksDir(repo);
  if (!hooks) return hooks.error();
  fs::path chained = *hooks / kChainedDir;
  std::error_code ec;
  // Every hook is checked before anything changes, so a refusal changes nothing.
  auto current = ReadHooks(*hooks);
  if (!current) return current.error();
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < std::size(kHooks); ++i) {
    const std::string hook = kHooks[i];
    fs::path target = *hooks / hook;
    const std::optional<std::string>& text = (*current)[i];
    bool have_chained = fs::exists(fs::symlink_status(chained / hook, ec));
    if (text && !IsShim(text)) {
      lines.push_back(hook + ": not modpub's, left as it is");
      continue;
    }
    if (text) {
      fs::remove(target, ec);
      if (ec) return Fail(target.string() + ": " + ec.message());
    }
    if (have_chained) {
      if (auto st = MoveHook(chained / hook, target, /*down=*/false); !st) return st.error();
      lines.push_back(hook + ": removed; the earlier hook is back in place");
    } else {
      lines.push_back(hook + (text ? ": removed" : ": was not installed"));
    }
  }
  bool created = fs::exists(chained / kCreatedMarker, ec);
  fs::remove(chained / kCreatedMarker, ec);
  if (fs::is_directory(chained, ec)) {
    fs::remove(chained, ec);  // only if empty: anything else in it is someone's
    if (ec) lines.push_back(chained.string() + ": left in place, it holds other files");
  }
  if (created && fs::is_empty(*hooks, ec)) fs::remove(*hooks, ec);
  return lines;
}

}  // namespace modpub::receive
