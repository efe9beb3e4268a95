#include "modpub/storage/deadline.hpp"

#include <spdlog/fmt/fmt.h>

namespace modpub::storage {

Deadline Deadline::After(std::chrono::milliseconds budget, std::string setting) {
  Deadline d;
  d.setting_ = std::move(setting);
  if (budget.count() <= 0) return d;
  d.bounded_ = true;
  d.budget_ = budget;
  d.at_ = Clock::now() + budget;
  return d;
}

std::chrono::milliseconds Deadline::Remaining() const {
  if (!bounded_) return std::chrono::hours(24 * 365);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

std::string Deadline::Exceeded() const {
  std::string out = fmt::format("no answer within the {:g} s storage deadline",
                                static_cast<double>(budget_.count()) / 1000.0);
  if (!setting_.empty()) out += " (" + setting_ + ")";
  return out;
}

}  // namespace modpub::storage
