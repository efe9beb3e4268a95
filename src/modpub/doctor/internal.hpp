// Helpers the doctor's checks share (not part of the layer's interface).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/doctor/doctor.hpp"

namespace modpub::doctor {

inline Finding Good(std::string what) { return {Level::kOk, std::move(what), "", ""}; }
inline Finding Bad(Level level, std::string what, std::string problem, std::string advice) {
  return {level, std::move(what), std::move(problem), std::move(advice)};
}
inline Finding Skipped(std::string what, std::string why) {
  return {Level::kSkipped, std::move(what), std::move(why), ""};
}

// "<config file>:<line>", where a setting is, for advice.
std::string At(const config::Config& cfg, int line);
// "0644", "2775": the permission bits of a mode.
std::string ModeString(mode_t mode);
// The user's / group's name, or its number when it has none.
std::string UserName(uid_t uid);
std::string GroupName(gid_t gid);
// The daemon's user: the owner of its socket (modpubd makes it), else of state_dir.
std::optional<uid_t> DaemonUid(const config::Config& cfg);

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string date;  // the Date header, "" if none
};
// GET http://<listen><path> (listen: "host:port", "[::1]:port"), connect and read each
// bounded by `timeout`. Fails saying what went wrong ("no answer (connection refused)"):
// the caller names the URL.
Result<HttpAnswer> HttpGet(const std::string& listen, const std::string& path,
                           std::chrono::milliseconds timeout);
// The same with an origin "http(s)://host[:port]".
Result<HttpAnswer> HttpGetUrl(const std::string& origin, const std::string& path,
                              std::chrono::milliseconds timeout);

}  // namespace modpub::doctor
