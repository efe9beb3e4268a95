// `modpub doctor [--config <toml>] [--json]`: checks an installation (doctor/doctor.hpp
// says what and how) and prints one line per check:
//   ✓ <what>
//   ! <what>: <problem> — <what to do>      a warning: works, but should be fixed
//   ✗ <what>: <problem> — <what to do>
//   - <what>: skipped: <why>                 could not run because of an earlier failure
// then a summary line. Exit status 0 when no check failed (warnings allowed), 1 otherwise.
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/commands.hpp"
#include "modpub/doctor/doctor.hpp"

namespace modpub::cli {
namespace {

constexpr std::string_view kShimTemplate =
#include "../../hooks/shim.sh.inc"
    ;

constexpr const char* kDefaultConfig = "/etc/modpub/modpub.toml";

struct DoctorOptions {
  std::string config;
  bool json = false;
};

std::string_view Mark(doctor::Level level) {
  switch (level) {
    case doctor::Level::kOk:
      return "✓";
    case doctor::Level::kWarn:
      return "!";
    case doctor::Level::kFail:
      return "✗";
    case doctor::Level::kSkipped:
      return "-";
  }
  return "?";
}

// A problem of several lines (every problem of a configuration file) goes below its
// finding, indented, and the advice after it.
void PrintText(const doctor::Findings& findings, const doctor::Summary& s,
               const std::string& config) {
  for (const auto& f : findings) {
    std::cout << Mark(f.level) << " " << f.what;
    if (f.level == doctor::Level::kSkipped) std::cout << ": skipped";
    if (!f.problem.empty()) {
      std::string_view p = f.problem;
      auto nl = p.find('\n');
      std::cout << ": " << p.substr(0, nl);
      while (nl != std::string_view::npos) {
        p.remove_prefix(nl + 1);
        nl = p.find('\n');
        std::cout << "\n    " << p.substr(0, nl);
      }
      if (f.problem.find('\n') != std::string::npos && !f.advice.empty()) std::cout << "\n ";
    }
    if (!f.advice.empty()) std::cout << " — " << f.advice;
    std::cout << "\n";
  }
  auto plural = [](int n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::cout << "modpub doctor: " << config << ": " << (s.healthy() ? "healthy" : "NOT healthy")
            << " (" << s.ok << " passed, " << plural(s.warnings, "warning", "warnings") << ", "
            << s.failed << " failed, " << s.skipped << " skipped)\n";
}

void PrintJson(const doctor::Findings& findings, const doctor::Summary& s,
               const std::string& config) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& f : findings) {
    nlohmann::json c = {{"status", doctor::LevelName(f.level)}, {"what", f.what}};
    if (!f.problem.empty()) c["problem"] = f.problem;
    if (!f.advice.empty()) c["advice"] = f.advice;
    checks.push_back(std::move(c));
  }
  nlohmann::json out = {
      {"config", config},
      {"healthy", s.healthy()},
      {"summary",
       {{"ok", s.ok}, {"warnings", s.warnings}, {"failed", s.failed}, {"skipped", s.skipped}}},
      {"checks", checks}};
  std::cout << out.dump(2) << "\n";
}

int RunDoctor(const DoctorOptions& o) {
  doctor::Options options;
  options.config_path = o.config;
  if (options.config_path.empty()) {
    const char* env = std::getenv("MODPUB_CONFIG");
    options.config_path = env && *env ? env : kDefaultConfig;
  }
  options.shim_template = std::string(kShimTemplate);
  auto findings = doctor::Run(options);
  auto summary = doctor::Summarize(findings);
  if (o.json) {
    PrintJson(findings, summary, options.config_path);
  } else {
    PrintText(findings, summary, options.config_path);
  }
  return summary.healthy() ? 0 : 1;
}

void RegisterDoctor(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<DoctorOptions>();
  CLI::App* cmd = app.add_subcommand(
      "doctor",
      "Check an installation: the configuration, each repository and its hooks, the spool\n"
      "and state directories, modpubd (socket and /healthz), a probe write to every\n"
      "storage, the checksum database's key and log, the proxy's auth file and the clock.\n"
      "One line per check (✓ ok, ! warning, ✗ failed, with what to do). Exit status 0 when\n"
      "nothing failed, 1 otherwise.");
  cmd->add_option("--config", opts->config,
                  "the configuration (default: $MODPUB_CONFIG, else /etc/modpub/modpub.toml)");
  cmd->add_flag("--json", opts->json, "print the checks as JSON");
  cmd->callback([opts, exit_code] { *exit_code = RunDoctor(*opts); });
}

}  // namespace

const Registration kRegistration{80, RegisterDoctor};

}  // namespace modpub::cli
