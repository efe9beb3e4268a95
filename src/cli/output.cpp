// What the subcommands print in common (commands.hpp).
#include <algorithm>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.hpp"

namespace modpub::cli {

std::vector<std::string> RefusalLines(const std::string& tag, const std::string& problems) {
  std::vector<std::string> out;
  const std::string named = "tag " + tag + " ";  // git's "tag v9.9.9 does not exist"
  std::size_t start = 0;
  while (start < problems.size()) {
    auto nl = problems.find('\n', start);
    std::string line = problems.substr(start, nl == std::string::npos ? nl : nl - start);
    if (line.rfind(tag + ": ", 0) == 0) {
      out.push_back(std::move(line));
    } else if (line.rfind(named, 0) == 0) {
      out.push_back(tag + ": tag " + line.substr(named.size()));
    } else if (!line.empty()) {
      out.push_back(tag + ": " + line);
    }
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

void PrintRefused(const std::string& tag, const std::string& problems) {
  for (const auto& line : RefusalLines(tag, problems))
    std::cerr << "modpub: refused " << line << "\n";
}

int ReportUnpublished(const std::string& tag, const publish::TagResult& result) {
  switch (result.kind) {
    case publish::TagResult::kInvalid:
      PrintRefused(tag, result.error);
      return kExitRefused;
    case publish::TagResult::kFailed:
      std::cerr << "modpub: " << tag << ": " << result.error << "\n";
      return kExitFailed;
    case publish::TagResult::kDone:
      break;
  }
  return 0;
}

void Table::Print(std::ostream& out) const {
  std::vector<std::size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out.flush();
}

admin::Caller AuditCaller() {
  return admin::UnixCaller([](const std::string& line) {
    if (!spdlog::should_log(spdlog::level::info)) std::cerr << "modpub: " << line << "\n";
  });
}

}  // namespace modpub::cli
