// Which handler answers a request (http::Server asks; handlers see message.hpp).
//
// Order, for every request:
//   1. header checks (AddHeaderCheck), in the order added, as soon as the request line
//      and headers are in and BEFORE the body is read, on the server's I/O thread: they
//      must not block. One that answers (kHandled) ends the exchange: its answer is sent
//      and the connection closed, the body never read (e.g. the webhooks' early 413).
//   2. the quick handler (SetQuick), if any, with the complete request, on the I/O thread:
//      it answers only what needs no waiting (an in-memory cache hit), else kUnhandled.
//      Saves the two thread hops of the worker pool for the commonest small answers.
//   2b. the pre-routing handler (SetPreRouting), if any, with the complete request, on a
//      worker thread; kHandled: its answer is sent.
//   3. the routes, in registration order: the first whose method matches (a GET route
//      also answers HEAD; the server then sends no body) and whose pattern matches the
//      whole path. A pattern without regular-expression characters is compared as a
//      string; others are std::regex (ECMAScript), as cpp-httplib's routes were.
//   4. no route: 404 "not found".
// A handler that throws is answered 500 and logged. Handlers run on the server's worker
// pool, several at once: they must be thread-safe. Routes are added before Start.
#pragma once

#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "modpub/http/message.hpp"

namespace modpub::http {

class Router {
 public:
  // Longer paths are answered 414 before any route is matched.
  static constexpr std::size_t kMaxRoutedPath = 4096;
  using Handler = std::function<void(const Request&, Response&)>;
  enum class Routed { kHandled, kUnhandled };
  using PreRouting = std::function<Routed(const Request&, Response&)>;
  // A request the server answered itself after a header check passed: 408 (body not in
  // before the body deadline) or 413 (body over the limit), for the route's own counters.
  using RefusalObserver = std::function<void(const Request&, int status)>;

  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void SetPreRouting(PreRouting handler) { pre_routing_ = std::move(handler); }
  void SetQuick(PreRouting handler) { quick_ = std::move(handler); }
  void AddHeaderCheck(PreRouting check) { header_checks_.push_back(std::move(check)); }
  void AddRefusalObserver(RefusalObserver o) { refusal_observers_.push_back(std::move(o)); }

  // For the server (steps 1 and 2-4 above).
  Routed CheckHeaders(const Request& req, Response& res) const;
  void Dispatch(const Request& req, Response& res) const;
  Routed Quick(const Request& req, Response& res) const;
  void NoteRefusal(const Request& req, int status) const;

 private:
  struct Route {
    std::string method;
    std::string literal;  // compared as is when `regex` is empty
    std::shared_ptr<const std::regex> regex;
    Handler handler;
  };
  void Add(std::string method, const std::string& pattern, Handler handler);
  void Match(const Request& req, Response& res) const;

  std::vector<Route> routes_;
  PreRouting pre_routing_;
  PreRouting quick_;
  std::vector<PreRouting> header_checks_;
  std::vector<RefusalObserver> refusal_observers_;
};

}  // namespace modpub::http
