// See env.hpp.
#include "modpub/fsio/env.hpp"

#include <atomic>
#include <thread>

namespace modpub::fsio {
namespace {

Env default_env;
std::atomic<Env*> active{&default_env};

}  // namespace

void SlowStepsEnv::StepBoundary() { std::this_thread::sleep_for(delay_); }

Env* SetEnv(Env* env) { return active.exchange(env ? env : &default_env); }

void StepBoundary() { active.load(std::memory_order_acquire)->StepBoundary(); }

}  // namespace modpub::fsio
