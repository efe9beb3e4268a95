#include "modpub/jobs/redis.hpp"

#include <hiredis.h>

#include <utility>

namespace modpub::jobs::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      break;  // nil
  }
  return out;
}

// The first word of a command, for messages; AUTH's argument is never shown.
std::string CommandName(const std::vector<std::string>& argv) {
  return argv.empty() ? std::string("(empty)") : argv[0];
}

// An error reply nested in an EXEC answer is an error of the whole transaction here.
const redisReply* FirstError(const redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR) return r;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) {
      if (const redisReply* e = FirstError(r->element[i])) return e;
    }
  }
  return nullptr;
}

}  // namespace

Connection::Connection(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

Connection::~Connection() { Drop(); }

std::string Connection::Where() const {
  return endpoint_.host + ":" + std::to_string(endpoint_.port) + "/" + std::to_string(endpoint_.db);
}

void Connection::Drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

Status Connection::Ensure() {
  if (ctx_ && ctx_->err == 0) return Ok();
  Drop();
  ctx_ =
      redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, ToTimeval(endpoint_.timeout));
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    Drop();
    return Fail("redis " + Where() + ": cannot connect: " + why);
  }
  redisSetTimeout(ctx_, ToTimeval(endpoint_.timeout));
  std::vector<std::vector<std::string>> setup;
  if (!endpoint_.password.empty()) setup.push_back({"AUTH", endpoint_.password});
  if (endpoint_.db != 0) setup.push_back({"SELECT", std::to_string(endpoint_.db)});
  for (const auto& argv : setup) {
    auto r = Command(argv);
    if (!r) {
      Drop();
      return r.error();
    }
  }
  return Ok();
}

Result<Reply> Connection::Command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  if (auto s = Ensure(); !s) return s.error();
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  if (timeout.count() > 0) redisSetTimeout(ctx_, ToTimeval(timeout));
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
  if (timeout.count() > 0 && ctx_->err == 0) redisSetTimeout(ctx_, ToTimeval(endpoint_.timeout));
  if (!raw) {
    std::string why = ctx_->errstr;
    Drop();
    return Fail("redis " + Where() + ": " + CommandName(argv) + ": " + why);
  }
  std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
  if (const redisReply* e = FirstError(raw)) {
    return Fail("redis " + Where() + ": " + CommandName(argv) + ": " + std::string(e->str, e->len));
  }
  return Convert(raw);
}

}  // namespace modpub::jobs::redis
