// Fuzzes spool job files (jobs/spool.hpp FromJson, ParseTime): the daemon reads every file
// that appears in its spool, written by hooks and webhooks, and after a crash half-written
// ones. Invariants: a job that reads writes a file that reads back to the same job (its
// text is a fixed point after one round: times keep milliseconds); a time that parses
// prints as RFC 3339 UTC and re-parses to the same text; errors say which key is wrong.
#include "fuzz_support.hpp"
#include "modpub/jobs/spool.hpp"

using namespace modpub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  if (auto t = jobs::ParseTime(in)) {
    const std::string text = jobs::FormatTime(*t);
    FUZZ_CHECK(text.ends_with("Z"), text);
    auto again = jobs::ParseTime(text);
    FUZZ_CHECK(again && jobs::FormatTime(*again) == text, text);
  }

  auto job = jobs::FromJson(in);
  if (!job) {
    FUZZ_CHECK(!job.message().empty(), std::string(in));
    return 0;
  }
  const std::string once = jobs::ToJson(*job);
  auto back = jobs::FromJson(once);
  FUZZ_CHECK(back.ok(), once + " -> " + (back ? "" : back.message()));
  const std::string twice = jobs::ToJson(*back);
  FUZZ_CHECK(twice == once, once + " vs " + twice);
  FUZZ_CHECK(back->id == job->id && back->repo == job->repo &&
                 back->import_path == job->import_path && back->tag == job->tag &&
                 back->commit == job->commit && back->source == job->source &&
                 back->attempts == job->attempts && back->last_error == job->last_error,
             once);
  return 0;
}
