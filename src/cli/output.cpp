// What the subcommands print in common (commands.hpp).
#include <iostream>

#include "cli/commands.hpp"

namespace modpub::cli {

void PrintRefused(const std::string& problems) {
  std::size_t start = 0;
  while (start < problems.size()) {
    auto nl = problems.find('\n', start);
    std::cerr << "modpub: refused " << problems.substr(start, nl - start) << "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

int ReportUnpublished(const publish::TagResult& result) {
  switch (result.kind) {
    case publish::TagResult::kInvalid:
      PrintRefused(result.error);
      return kExitRefused;
    case publish::TagResult::kFailed:
      std::cerr << "modpub: " << result.error << "\n";
      return kExitFailed;
    case publish::TagResult::kDone:
      break;
  }
  return 0;
}

}  // namespace modpub::cli
