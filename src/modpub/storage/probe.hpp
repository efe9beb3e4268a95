// The write probe of the local filesystem backends (Backend::Probe for file:// and
// athens-disk://), and the rule for a probe's name that every backend applies.
#pragma once

#include <filesystem>
#include <string>

#include "modpub/base/result.hpp"

namespace modpub::storage {

// The directory (on disk) or key prefix (in a bucket) below a storage's root that probes
// use: no module path starts with ".", so no module's files are ever touched.
inline constexpr const char* kProbeDir = ".modpub-doctor";

// Fails unless `name` is one path element of [A-Za-z0-9._-], not "." or "..".
Status CheckProbeName(const std::string& storage, const std::string& name);

// Backend::Probe on a directory tree rooted at `root` (absolute): makes the directories
// missing on the way to <root>/.modpub-doctor, creates <name> there (O_EXCL), writes,
// reads back and compares, then removes the file and every directory it made, deepest
// first, whatever failed on the way. `storage` names the backend in messages.
Status ProbeDirectory(const std::string& storage, const std::filesystem::path& root,
                      const std::string& name);

}  // namespace modpub::storage
