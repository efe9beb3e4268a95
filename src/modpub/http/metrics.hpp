// Daemon metrics, rendered in the Prometheus text exposition format (version 0.0.4) at
// /metrics. Thread-safe: workers record, the HTTP thread renders.
//
// Series:
//   modpub_jobs_total{result="done|retried|failed|corrupt"}   counter
//   modpub_module_versions_total{outcome="published|unchanged|refused|failed"}  counter
//   modpub_queue_depth                                         gauge (read at scrape time)
//   modpub_publish_duration_seconds_{bucket,sum,count}         histogram, one per job attempt
//   modpub_last_error_timestamp_seconds                        gauge, 0 = none yet
//   modpub_last_error_info{message="..."} 1                    the last error, escaped
//   modpub_up 1
// and, from modpubd with a cluster queue: modpub_cluster_queue_up (0/1) and
//   modpub_cluster_queue_jobs{state="queued|pending|delayed|dead"}  gauges
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace modpub::http {

class Metrics {
 public:
  // Histogram upper bounds, in seconds (+Inf implied).
  static constexpr std::array<double, 10> kBuckets = {0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,  1,     2.5,  5,   10};

  void CountJob(const std::string& result);             // done | retried | failed | corrupt
  void CountModuleVersion(const std::string& outcome);  // publish::OutcomeName
  void ObservePublish(double seconds);
  void SetLastError(const std::string& message);
  // Called at every scrape to read the queue depth (-1 = unknown, not rendered).
  void SetQueueDepthSource(std::function<long()> source);

  std::string Render() const;
  // More series, rendered after these at every scrape (e.g. the webhook counters).
  void AddSeriesSource(std::function<std::string()> render);

  // For tests and /healthz.
  std::uint64_t JobCount(const std::string& result) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> jobs_;
  std::map<std::string, std::uint64_t> versions_;
  std::array<std::uint64_t, kBuckets.size()> bucket_counts_{};
  std::uint64_t duration_count_ = 0;
  double duration_sum_ = 0;
  std::string last_error_;
  double last_error_time_ = 0;
  std::function<long()> queue_depth_;
  std::vector<std::function<std::string()>> extra_;
};

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string EscapeLabel(const std::string& v);

}  // namespace modpub::http
