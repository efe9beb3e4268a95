// A small synchronous Redis client for the cluster job queue (redis_queue.hpp), on hiredis.
//
// One Connection is one TCP connection, used by one thread at a time (the caller locks).
// Commands are argument vectors (binary-safe, nothing is interpolated into a command
// line); replies are plain values. Every call is bounded by the endpoint's timeout
// (connect, and each read and write). A failed connection is closed and opened again by
// the next command; the command that saw the failure is not re-sent, since it may have
// been executed (the caller knows whether re-sending is harmless). An error reply
// ("-ERR ...", "-NOGROUP ...") is an Error naming the command and Redis's message.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"

struct redisContext;

namespace modpub::jobs::redis {

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;  // AUTH after connecting when set
  std::chrono::milliseconds timeout{5000};
};

struct Reply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus
  long long integer = 0;
  std::vector<Reply> elements;  // kArray

  bool nil() const { return type == Type::kNil; }
};

class Connection {
 public:
  explicit Connection(Endpoint endpoint);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `argv`, returns the reply. `timeout` > 0 overrides the endpoint's read timeout
  // for this command (a blocking XREADGROUP waits longer than an ordinary command).
  Result<Reply> Command(const std::vector<std::string>& argv,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // "host:port/db", for messages.
  std::string Where() const;

 private:
  Status Ensure();
  void Drop();

  Endpoint endpoint_;
  redisContext* ctx_ = nullptr;
};

}  // namespace modpub::jobs::redis
