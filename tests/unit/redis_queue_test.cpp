// jobs::RedisQueue against a real redis-server (AOF, appendfsync always) on a free loopback
// port: delivery to one consumer at a time, settling in one transaction, take-over of a
// dead consumer's jobs, delayed retries, the dead-letter stream, shared delivery dedupe,
// and what survives a SIGKILL of Redis. Skipped where redis-server is not installed.
#include "modpub/jobs/redis_queue.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "support/redis_server.hpp"

namespace modpub::jobs {
namespace {

using ::modpub::testing::RedisTestServer;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

Job MakeJob(const std::string& tag) {
  Job j;
  j.repo = "/srv/git/lib.git";
  j.import_path = "corp.example/lib";
  j.tag = tag;
  j.source = "hook";
  return j;
}

class RedisQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.running());
  }
  std::unique_ptr<RedisQueue> Queue(const std::string& consumer,
                                    milliseconds claim_idle = milliseconds(60000)) {
    auto url = ParseRedisQueueUrl(server_.url("stream=test:jobs&group=workers"));
    EXPECT_TRUE(url.ok()) << url.message();
    auto q = RedisQueue::Open(*url, RedisQueueOptions{consumer, claim_idle});
    EXPECT_TRUE(q.ok()) << q.message();
    return std::move(*q);
  }
  RedisTestServer server_;
};

TEST(RedisQueueUrl, DefaultsPartsAndRefusals) {
  auto d = ParseRedisQueueUrl("redis://cache.internal");
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(d->endpoint.host, "cache.internal");
  EXPECT_EQ(d->endpoint.port, 6379);
  EXPECT_EQ(d->endpoint.db, 0);
  EXPECT_EQ(d->stream, "modpub:jobs");
  EXPECT_EQ(d->group, "modpubd");
  auto f = ParseRedisQueueUrl("redis://:s3cret@10.0.0.5:6380/2?stream=a:b&group=g");
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->endpoint.password, "s3cret");
  EXPECT_EQ(f->endpoint.port, 6380);
  EXPECT_EQ(f->endpoint.db, 2);
  EXPECT_EQ(f->stream, "a:b");
  EXPECT_EQ(f->group, "g");
  EXPECT_EQ(RedactedUrl("redis://:s3cret@10.0.0.5:6380/2"), "redis://***@10.0.0.5:6380/2");
  for (const auto& [url, rule] : std::vector<std::pair<std::string, std::string>>{
           {"http://x", "must start with redis://"},
           {"redis://", "no host"},
           {"redis://h:0", "port must be 1..65535"},
           {"redis://h:99999", "port must be 1..65535"},
           {"redis://h/x", "database after '/' must be a number"},
           {"redis://h?strem=x", "unknown or empty parameter \"strem=x\""},
           {"redis://:pw@h?group=", "unknown or empty parameter"}}) {
    auto r = ParseRedisQueueUrl(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_THAT(r.message(), HasSubstr(rule)) << url;
    EXPECT_THAT(r.message(), ::testing::Not(HasSubstr("pw@"))) << "the password is hidden";
  }
}

TEST_F(RedisQueueTest, AJobIsClaimedOnceAndCompleted) {
  auto q = Queue("node-a-0");
  auto id = q->Enqueue(MakeJob("v1.0.0"));
  ASSERT_TRUE(id.ok()) << id.message();
  auto c = q->Claim(milliseconds(100));
  ASSERT_TRUE(c.ok()) << c.message();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->job.id, *id);
  EXPECT_EQ((*c)->job.tag, "v1.0.0");
  auto claimed = q->List(State::kClaimed);
  ASSERT_TRUE(claimed.ok()) << claimed.message();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].owner, "node-a-0");
  auto none = q->Claim(milliseconds(50));
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_FALSE(none->has_value()) << "a claimed job is not handed out again";
  Job done = (*c)->job;
  done.result_json = R"({"published":1})";
  ASSERT_TRUE(q->Complete(**c, done).ok());
  auto stats = q->Stats();
  ASSERT_TRUE(stats.ok()) << stats.message();
  EXPECT_EQ(stats->queued, 0);
  EXPECT_EQ(stats->pending, 0);
  auto finished = q->List(State::kDone);
  ASSERT_TRUE(finished.ok());
  ASSERT_EQ(finished->size(), 1u);
  EXPECT_EQ((*finished)[0].job.result_json, R"({"published":1})");
}

TEST_F(RedisQueueTest, ConcurrentConsumersEachGetDistinctJobs) {
  auto producer = Queue("producer");
  std::set<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    auto id = producer->Enqueue(MakeJob("v1.0." + std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.message();
    ids.insert(*id);
  }
  std::mutex mu;
  std::multiset<std::string> seen;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      auto q = Queue("worker-" + std::to_string(w));
      for (;;) {
        auto c = q->Claim(milliseconds(100));
        if (!c.ok() || !c->has_value()) return;
        {
          std::lock_guard g(mu);
          seen.insert((*c)->job.id);
        }
        EXPECT_TRUE(q->Complete(**c, (*c)->job).ok());
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(seen.size(), ids.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), ids) << "each job exactly once";
}

TEST_F(RedisQueueTest, ADeadConsumersJobIsTakenOverAndItsLateSettleRefused) {
  auto a = Queue("node-a-0", milliseconds(300));
  auto b = Queue("node-b-0", milliseconds(300));
  ASSERT_TRUE(a->Enqueue(MakeJob("v2.0.0")).ok());
  auto held = a->Claim(milliseconds(100));
  ASSERT_TRUE(held.ok() && held->has_value());
  auto early = b->Claim(milliseconds(50));
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value()) << "not idle long enough yet";
  std::this_thread::sleep_for(milliseconds(400));
  auto taken = b->Claim(milliseconds(50));
  ASSERT_TRUE(taken.ok()) << taken.message();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->job.id, (*held)->job.id);
  EXPECT_TRUE((*taken)->taken_over);
  EXPECT_FALSE((*held)->taken_over);
  auto late = a->Complete(**held, (*held)->job);
  ASSERT_FALSE(late.ok());
  EXPECT_THAT(late.message(), HasSubstr("another worker took it over"));
  ASSERT_TRUE(b->Complete(**taken, (*taken)->job).ok());
  auto done = b->List(State::kDone);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size(), 1u) << "settled once";
}

TEST_F(RedisQueueTest, TouchKeepsAJobFromBeingTakenOver) {
  auto a = Queue("node-a-0", milliseconds(300));
  auto b = Queue("node-b-0", milliseconds(300));
  ASSERT_TRUE(a->Enqueue(MakeJob("v2.1.0")).ok());
  auto held = a->Claim(milliseconds(100));
  ASSERT_TRUE(held.ok() && held->has_value());
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_TRUE(a->Touch(**held).ok());
    auto other = b->Claim(milliseconds(1));
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(other->has_value()) << "round " << i;
  }
  EXPECT_TRUE(a->Complete(**held, (*held)->job).ok());
}

TEST_F(RedisQueueTest, RetriesWaitUntilDue) {
  auto q = Queue("node-a-0");
  ASSERT_TRUE(q->Enqueue(MakeJob("v3.0.0")).ok());
  auto c = q->Claim(milliseconds(100));
  ASSERT_TRUE(c.ok() && c->has_value());
  Job j = (*c)->job;
  j.attempts = 1;
  j.last_error = "storage: no answer";
  ASSERT_TRUE(q->Retry(**c, j, Clock::now() + milliseconds(400)).ok());
  auto queued = q->List(State::kQueued);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].job.attempts, 1);
  auto early = q->Claim(milliseconds(50));
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value()) << "not due yet";
  std::this_thread::sleep_for(milliseconds(450));
  auto due = q->Claim(milliseconds(50));
  ASSERT_TRUE(due.ok() && due->has_value()) << (due.ok() ? "" : due.message());
  EXPECT_EQ((*due)->job.id, j.id);
  EXPECT_EQ((*due)->job.attempts, 1);
  EXPECT_EQ((*due)->job.last_error, "storage: no answer");
}

TEST_F(RedisQueueTest, FailedJobsGoToTheDeadLetterStreamAndCanBeRetried) {
  auto q = Queue("node-a-0");
  ASSERT_TRUE(q->Enqueue(MakeJob("v4.0.0")).ok());
  auto c = q->Claim(milliseconds(100));
  ASSERT_TRUE(c.ok() && c->has_value());
  Job j = (*c)->job;
  j.attempts = 5;
  ASSERT_TRUE(q->MarkFailed(**c, j, "gave up after 5 attempts: no such tag").ok());
  auto failed = q->List(State::kFailed);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].job.last_error, "gave up after 5 attempts: no such tag");
  auto unknown = q->RetryFailed("nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.message(), HasSubstr("job nope is not among the failed jobs"));
  ASSERT_TRUE(q->RetryFailed(j.id).ok());
  EXPECT_TRUE(q->List(State::kFailed)->empty());
  auto again = q->Claim(milliseconds(100));
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->job.id, j.id);
  EXPECT_EQ((*again)->job.attempts, 0);
}

TEST_F(RedisQueueTest, AnEntryThatIsNoJobIsDeadLetteredNotRedelivered) {
  auto q = Queue("node-a-0");
  redis::Connection raw(q->url().endpoint);
  ASSERT_TRUE(raw.Command({"XADD", "test:jobs", "*", "job", "{not json"}).ok());
  auto bad = q->Claim(milliseconds(100));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("moved to test:jobs:dead"));
  ASSERT_TRUE(q->Enqueue(MakeJob("v5.0.0")).ok());
  auto good = q->Claim(milliseconds(100));
  ASSERT_TRUE(good.ok() && good->has_value()) << (good.ok() ? "" : good.message());
  EXPECT_EQ((*good)->job.tag, "v5.0.0");
  auto dead = q->Stats();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->dead, 1);
}

TEST_F(RedisQueueTest, DeliveryIdsAreSharedByEveryNode) {
  auto a = Queue("node-a");
  auto b = Queue("node-b");
  auto first = a->FirstDelivery("github", "d-1", std::chrono::seconds(60));
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*b->FirstDelivery("github", "d-1", std::chrono::seconds(60)));
  EXPECT_TRUE(*b->FirstDelivery("gitlab", "d-1", std::chrono::seconds(60)));
  ASSERT_TRUE(a->ForgetDelivery("github", "d-1").ok());  // its handling failed
  EXPECT_TRUE(*b->FirstDelivery("github", "d-1", std::chrono::seconds(60)));
}

TEST_F(RedisQueueTest, AcknowledgedJobsSurviveAKilledRedis) {
  auto q = Queue("node-a-0");
  std::set<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    auto id = q->Enqueue(MakeJob("v6.0." + std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.message();
    ids.insert(*id);
  }
  server_.Kill();
  auto down = q->Enqueue(MakeJob("v6.1.0"));
  ASSERT_FALSE(down.ok()) << "Redis is down";
  EXPECT_THAT(down.message(), HasSubstr("redis 127.0.0.1:"));
  ASSERT_TRUE(server_.Start());
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) {
    auto c = q->Claim(milliseconds(50));
    ASSERT_TRUE(c.ok()) << c.message();
    if (!c->has_value()) break;
    seen.insert((*c)->job.id);
    ASSERT_TRUE(q->Complete(**c, (*c)->job).ok());
  }
  EXPECT_EQ(seen, ids);
}

}  // namespace
}  // namespace modpub::jobs
