#include "modpub/http/router.hpp"

#include "modpub/http/message.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstring>
#include <exception>

namespace modpub::http {

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

namespace {

const std::string* Find(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (HeaderNameEquals(k, name)) return &v;
  }
  return nullptr;
}

}  // namespace

bool Request::has_header(std::string_view name) const { return Find(headers, name) != nullptr; }

std::string Request::get_header_value(std::string_view name) const {
  const std::string* v = Find(headers, name);
  return v ? *v : std::string();
}

void Response::set_header(std::string name, std::string value) {
  // CR or LF in a value would split the header (response splitting): never sent.
  if (name.find_first_of("\r\n:") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos) {
    return;
  }
  headers.emplace_back(std::move(name), std::move(value));
}

bool Response::has_header(std::string_view name) const { return Find(headers, name) != nullptr; }

std::string Response::get_header_value(std::string_view name) const {
  const std::string* v = Find(headers, name);
  return v ? *v : std::string();
}

void Response::set_content(std::string content, std::string type) {
  body = std::move(content);
  content_type = std::move(type);
  provider = nullptr;
  content_length = 0;
}

void Response::set_content_provider(std::size_t length, std::string type, ContentProvider fill) {
  body.clear();
  content_type = std::move(type);
  provider = std::move(fill);
  content_length = length;
}

void Router::Get(const std::string& pattern, Handler handler) {
  Add("GET", pattern, std::move(handler));
}

void Router::Post(const std::string& pattern, Handler handler) {
  Add("POST", pattern, std::move(handler));
}

void Router::Add(std::string method, const std::string& pattern, Handler handler) {
  Route r;
  r.method = std::move(method);
  r.handler = std::move(handler);
  if (pattern.find_first_of(".^$|()[]{}*+?\\") == std::string::npos) {
    r.literal = pattern;
  } else {
    r.regex = std::make_shared<const std::regex>(pattern);
  }
  routes_.push_back(std::move(r));
}

Router::Routed Router::CheckHeaders(const Request& req, Response& res) const {
  for (const auto& check : header_checks_) {
    if (check(req, res) == Routed::kHandled) return Routed::kHandled;
  }
  return Routed::kUnhandled;
}

void Router::NoteRefusal(const Request& req, int status) const {
  for (const auto& o : refusal_observers_) o(req, status);
}

void Router::Match(const Request& req, Response& res) const {
  if (pre_routing_ && pre_routing_(req, res) == Routed::kHandled) return;
  // std::regex matches by recursion, a stack frame per character: a path longer than any
  // route serves never reaches it (the header cap alone, 16 KiB, leaves too little margin).
  if (req.path.size() > kMaxRoutedPath) {
    res.status = 414;
    res.set_content("URI too long\n", "text/plain; charset=utf-8");
    return;
  }
  const std::string& method = req.method == "HEAD" ? "GET" : req.method;
  for (const Route& r : routes_) {
    if (r.method != method) continue;
    if (r.regex ? std::regex_match(req.path, *r.regex) : r.literal == req.path) {
      r.handler(req, res);
      return;
    }
  }
  res.status = 404;
  res.set_content("not found\n", "text/plain; charset=utf-8");
}

Router::Routed Router::Quick(const Request& req, Response& res) const {
  if (!quick_) return Routed::kUnhandled;
  try {
    return quick_(req, res);
  } catch (const std::exception& e) {  // the pool's handlers answer it again
    spdlog::error("HTTP {} {}: quick handler failed: {}", req.method, req.path, e.what());
    res = Response{};
    return Routed::kUnhandled;
  }
}

void Router::Dispatch(const Request& req, Response& res) const {
  try {
    Match(req, res);
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: handler failed: {}", req.method, req.path, e.what());
    res = Response{};
    res.status = 500;
    res.set_content("internal error\n", "text/plain; charset=utf-8");
  }
}

}  // namespace modpub::http
