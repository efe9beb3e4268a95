// Forwarding a machine's spool into the cluster queue (redis_queue.hpp).
//
// In a cluster every job still enters through the local spool first: pre-receive holds it,
// post-receive releases it into queue/, the webhook intake journals it (spool.hpp,
// intake.hpp), each durable on this machine before the push or the delivery is answered,
// whether Redis is reachable or not. ForwardSpool then moves what is due in queue/ into
// Redis, one job at a time: XADD, then the local job goes to done/ with the result
// {"forwarded": "<stream> on <host>:<port>"}.
//
// Who forwards, and when:
//  * post-receive, right after it queued the push's jobs (and everything older still
//    waiting there, say from a push made while Redis was down);
//  * modpubd, when woken (a hook's datagram, the webhook intake) and at every scan;
//  * `modpub jobs forward`, by hand or from a timer on a git server without a daemon.
// When Redis does not take a job, it goes back to queue/ as it was and forwarding stops
// there (the error says why); the next forwarder tries again. A job Redis took whose local
// record then failed is forwarded again later: a second run of a job finds its versions
// stored ("unchanged"), so the duplicate costs a fetch, never a second version.
#pragma once

#include "modpub/base/result.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::jobs {

// Forwards every due job of `spool`'s queue/ (claimed as `owner`) into `queue`; how many.
Result<int> ForwardSpool(const Spool& spool, const Owner& owner, RedisQueue& queue);

}  // namespace modpub::jobs
