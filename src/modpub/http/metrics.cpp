#include "modpub/http/metrics.hpp"

#include <chrono>
#include <cstdio>
#include <sstream>

namespace modpub::http {

void Metrics::CountJob(const std::string& result) {
  std::lock_guard lock(mu_);
  ++jobs_[result];
}

void Metrics::CountModuleVersion(const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++versions_[outcome];
}

void Metrics::ObservePublish(double seconds) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  }
  ++duration_count_;
  duration_sum_ += seconds;
}

void Metrics::SetLastError(const std::string& message) {
  std::lock_guard lock(mu_);
  last_error_ = message;
  last_error_time_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::SetQueueDepthSource(std::function<long()> source) {
  std::lock_guard lock(mu_);
  queue_depth_ = std::move(source);
}

std::uint64_t Metrics::JobCount(const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(result);
  return it == jobs_.end() ? 0 : it->second;
}

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}
}  // namespace

std::string Metrics::Render() const {
  std::function<long()> depth_source;
  {
    std::lock_guard lock(mu_);
    depth_source = queue_depth_;
  }
  long depth = depth_source ? depth_source() : -1;  // outside the lock: it reads the disk

  std::lock_guard lock(mu_);
  std::ostringstream o;
  o << "# HELP modpub_up 1 while modpubd runs.\n# TYPE modpub_up gauge\nmodpub_up 1\n";
  o << "# HELP modpub_jobs_total Jobs handled, by result (done, retried, failed, corrupt).\n"
       "# TYPE modpub_jobs_total counter\n";
  for (const char* r : {"done", "retried", "failed", "corrupt"}) {
    auto it = jobs_.find(r);
    o << "modpub_jobs_total{result=\"" << r << "\"} " << (it == jobs_.end() ? 0 : it->second)
      << "\n";
  }
  o << "# HELP modpub_module_versions_total Module versions handed to a storage, by outcome.\n"
       "# TYPE modpub_module_versions_total counter\n";
  for (const char* r : {"published", "unchanged", "refused", "failed"}) {
    auto it = versions_.find(r);
    o << "modpub_module_versions_total{outcome=\"" << r << "\"} "
      << (it == versions_.end() ? 0 : it->second) << "\n";
  }
  if (depth >= 0) {
    o << "# HELP modpub_queue_depth Jobs waiting: in the spool's queue/ and in this daemon's "
         "webhook intake journal.\n"
         "# TYPE modpub_queue_depth gauge\nmodpub_queue_depth "
      << depth << "\n";
  }
  o << "# HELP modpub_publish_duration_seconds Time to publish one job (all storages).\n"
       "# TYPE modpub_publish_duration_seconds histogram\n";
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    o << "modpub_publish_duration_seconds_bucket{le=\"" << Num(kBuckets[i]) << "\"} "
      << bucket_counts_[i] << "\n";
  }
  o << "modpub_publish_duration_seconds_bucket{le=\"+Inf\"} " << duration_count_ << "\n";
  o << "modpub_publish_duration_seconds_sum " << Num(duration_sum_) << "\n";
  o << "modpub_publish_duration_seconds_count " << duration_count_ << "\n";
  o << "# HELP modpub_last_error_timestamp_seconds When the last error happened (0: never).\n"
       "# TYPE modpub_last_error_timestamp_seconds gauge\n"
       "modpub_last_error_timestamp_seconds "
    << Num(last_error_time_) << "\n";
  if (!last_error_.empty()) {
    o << "# HELP modpub_last_error_info The last error message.\n"
         "# TYPE modpub_last_error_info gauge\n"
         "modpub_last_error_info{message=\""
      << EscapeLabel(last_error_) << "\"} 1\n";
  }
  for (const auto& extra : extra_) o << extra();
  return o.str();
}

void Metrics::AddSeriesSource(std::function<std::string()> render) {
  std::lock_guard lock(mu_);
  extra_.push_back(std::move(render));
}

}  // namespace modpub::http
