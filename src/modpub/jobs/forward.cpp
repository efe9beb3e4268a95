#include "modpub/jobs/forward.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace modpub::jobs {

Result<int> ForwardSpool(const Spool& spool, const Owner& owner, RedisQueue& queue) {
  int forwarded = 0;
  const std::string where = queue.url().stream + " on " + queue.url().endpoint.host + ":" +
                            std::to_string(queue.url().endpoint.port);
  for (;;) {
    auto claim = spool.Claim(owner);
    if (!claim) return claim.error();
    for (const auto& s : claim->set_aside) {
      spdlog::error("job file set aside as {}: {}", s.file, s.reason);
    }
    if (!claim->job) return forwarded;
    Job job = std::move(*claim->job);
    auto id = queue.Enqueue(job);
    if (!id) {
      if (auto s = spool.Release(owner, job); !s) {
        spdlog::error("{} {}: cannot put the job back into queue/: {}", job.import_path, job.tag,
                      s.message());
      }
      return Fail("cannot forward job " + job.id + " (" + job.import_path + " " + job.tag +
                  ") to " + where + ": " + id.message() + "; it stays in " + spool.dir().string() +
                  "/queue");
    }
    spdlog::info("{} {}: job {} forwarded to {}", job.import_path, job.tag, job.id, where);
    job.result_json = nlohmann::json{{"forwarded", where}}.dump();
    if (auto s = spool.Complete(owner, job); !s) {
      spdlog::error("{} {}: forwarded, but cannot record it locally: {}", job.import_path, job.tag,
                    s.message());
    }
    ++forwarded;
  }
}

}  // namespace modpub::jobs
