// Test support: a sumdb::ObjectStore in memory, with the failures an S3 server and its
// client can show: a request that fails before it is applied, and a conditional write
// that is applied but whose answer is lost (the client's retry then finds its own write
// and reports the condition as failed, 412). Thread-safe; counts requests.
#pragma once

#include <map>
#include <mutex>
#include <random>
#include <string>

#include "modpub/sumdb/object_log.hpp"

namespace modpub::testing {

class MemoryObjects : public sumdb::ObjectStore {
 public:
  const std::string& Where() const override { return where_; }

  Result<std::optional<sumdb::StoredObject>> Get(const std::string& name) override {
    std::lock_guard g(mu_);
    ++requests_;
    if (Roll(fail_rate)) return Fail("memory: GET " + name + ": injected failure");
    auto it = objects_.find(name);
    if (it == objects_.end()) return std::optional<sumdb::StoredObject>();
    return std::optional<sumdb::StoredObject>(it->second);
  }

  Result<std::optional<std::string>> Create(const std::string& name,
                                            std::string_view data) override {
    std::lock_guard g(mu_);
    ++requests_;
    if (Roll(fail_rate) || (writes_left >= 0 && writes_left-- == 0)) {
      if (writes_left >= 0) writes_left = 0;
      return Fail("memory: PUT " + name + ": injected failure");
    }
    if (objects_.count(name)) return std::optional<std::string>();
    objects_[name] = {std::string(data), NextTag()};
    return Answer(objects_[name].etag);
  }

  Result<std::optional<std::string>> Swap(const std::string& name, std::string_view data,
                                          const std::string& etag) override {
    std::lock_guard g(mu_);
    ++requests_;
    if (Roll(fail_rate) || (writes_left >= 0 && writes_left-- == 0)) {
      if (writes_left >= 0) writes_left = 0;
      return Fail("memory: PUT " + name + ": injected failure");
    }
    auto it = objects_.find(name);
    if (it == objects_.end() || it->second.etag != etag) return std::optional<std::string>();
    it->second = {std::string(data), NextTag()};
    return Answer(it->second.etag);
  }

  // Direct access for checks and for damaging the store on purpose.
  std::map<std::string, sumdb::StoredObject> Snapshot() {
    std::lock_guard g(mu_);
    return objects_;
  }
  void Set(const std::string& name, const std::string& data) {
    std::lock_guard g(mu_);
    objects_[name] = {data, NextTag()};
  }
  std::uint64_t requests() {
    std::lock_guard g(mu_);
    return requests_;
  }

  double fail_rate = 0;  // a request fails, not applied
  double lose_rate = 0;  // a write is applied, its answer lost (reported as 412)
  int writes_left = -1;  // >= 0: that many more writes succeed, then every write fails

 private:
  // The write's answer: its tag, or (lost, and the retry refused) a failed condition.
  std::optional<std::string> Answer(const std::string& tag) {
    if (Roll(lose_rate)) return std::nullopt;
    return tag;
  }
  bool Roll(double p) { return p > 0 && std::uniform_real_distribution<>(0, 1)(rng_) < p; }
  std::string NextTag() { return "\"" + std::to_string(++tag_) + "\""; }

  std::mutex mu_;
  std::string where_ = "memory://sumdb";
  std::map<std::string, sumdb::StoredObject> objects_;
  std::mt19937 rng_{12345};
  std::uint64_t tag_ = 0;
  std::uint64_t requests_ = 0;
};

}  // namespace modpub::testing
