// Installing modpub's receive hooks into a repository, and taking them out again.
//
// `pre-receive` and `post-receive` in the repository's hooks directory (core.hooksPath if
// set, relative to the repository directory for a bare repository; else <git dir>/hooks)
// become small shell scripts ("shims", made from a template with the placeholders
// @HOOK@, @PROGRAM@ and @ARGS@) that exec the modpub-hook program. The shim looks the
// program up when git runs it ($MODPUB_HOOK, else PATH: hooks/shim.sh.inc); @PROGRAM@,
// the modpub-hook beside the installing `modpub`, is only its last fallback, so moving or
// upgrading the binaries needs no new install.
//
// State: a hook that was there before is moved, unchanged (content, mode, mtime), to
// <hooks>/modpub-chained/<hook> (same name, so a hook that looks at its own name still
// works; a relative symbolic link gets "../" added to its target there, and removed
// again on the way back); the shim runs it first with the same standard input,
// and in pre-receive its refusal stands. A marker file modpub-chained/created-hooks-dir
// records that Install had to create the hooks directory itself.
//
// Invariants:
//  * A shim is recognised by the marker line kShimMarker; nothing else is ever removed.
//    Shims of every modpub version carry it, so an install replaces an older shim.
//  * Install is idempotent: a shim already in place is rewritten only if its text would
//    change (other program or config), and never chained to itself.
//  * Uninstall after Install leaves the hooks directory exactly as before Install (the
//    moved hooks are renamed back; the state directory, and a hooks directory Install
//    created, are removed).
//  * A hook that is not a shim while modpub-chained/ holds one of the same name (someone
//    replaced the shim by hand) is an error: neither is touched, the user decides.
// With core.hooksPath shared by several repositories, the hooks are shared too.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::receive {

inline constexpr std::string_view kShimMarker = "# modpub-hook-shim";
inline constexpr std::string_view kChainedDir = "modpub-chained";

struct InstallOptions {
  std::filesystem::path repo;                   // the repository (bare or not)
  std::filesystem::path program;                // modpub-hook's fallback path (absolute)
  std::optional<std::filesystem::path> config;  // passed as --config (made absolute)
  std::string shim_template;                    // text with @HOOK@, @PROGRAM@, @ARGS@
};

// The hooks directory git uses for `repo` (see above).
Result<std::filesystem::path> HooksDir(const std::filesystem::path& repo);

// The shim text for `hook` ("pre-receive", "post-receive"); arguments shell-quoted.
std::string ShimText(std::string_view shim_template, std::string_view hook,
                     const std::filesystem::path& program,
                     const std::optional<std::filesystem::path>& config);

// What a shim says, for checks of an installation: the program it falls back to and the
// configuration it passes. Reads the shims of this and of earlier versions (whose only
// program was the recorded one). nullopt when `text` is not a shim or has no program.
struct ShimInfo {
  std::filesystem::path recorded_program;
  std::optional<std::filesystem::path> config;
};
std::optional<ShimInfo> ParseShim(std::string_view text);

// Each returns what it did, one line per hook, for the user.
Result<std::vector<std::string>> Install(const InstallOptions& options);
Result<std::vector<std::string>> Uninstall(const std::filesystem::path& repo);

}  // namespace modpub::receive
