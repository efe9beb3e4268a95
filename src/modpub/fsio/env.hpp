// The seam between modpub's durable writers and the world, after LevelDB's Env: the place
// where a test (or a program wired for one) injects faults and delays. Production code
// calls StepBoundary() between the steps of every multi-step write (temporary written,
// synced, renamed; staged directory moved; list updated), and never reads the environment
// for it: which Env is active is decided by whoever wires the program (a main, a test).
//
// Contract: the default Env does nothing. SetEnv is meant to be called once, before the
// writers start (a program's main, a test's set-up); the active Env must outlive every
// call to StepBoundary. Implementations must be thread-safe.
#pragma once

#include <chrono>

namespace modpub::fsio {

class Env {
 public:
  virtual ~Env() = default;
  // Called between two steps of a durable write. A test Env may sleep here, so that a
  // process can be killed at any step, or count the steps.
  virtual void StepBoundary() {}
};

// An Env that sleeps `delay` at every step boundary (crash-safety tests kill the writer
// while it waits).
class SlowStepsEnv : public Env {
 public:
  explicit SlowStepsEnv(std::chrono::milliseconds delay) : delay_(delay) {}
  void StepBoundary() override;

 private:
  std::chrono::milliseconds delay_;
};

// Makes `env` (nullptr: the default) the active Env; returns the previous one.
Env* SetEnv(Env* env);

// The active Env's StepBoundary().
void StepBoundary();

}  // namespace modpub::fsio
