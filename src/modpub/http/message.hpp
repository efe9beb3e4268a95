// One HTTP request and its response as plain data, what the handlers of the GOPROXY
// endpoint, the checksum database, the daemon's own routes and the webhooks read and
// write (http::Server parses and sends them; http::Router picks the handler).
//
// The member names follow cpp-httplib's Request/Response, which these replaced when the
// server moved to Boost.Beast (ARCHITECTURE.md, "The HTTP server"): handlers changed type
// names only. Nothing here depends on Boost or cpp-httplib.
//
// Invariants: `path` is the request target's path, percent-decoded once (a malformed
// escape is kept as it is), without the query; `body` is complete (the server read all of
// it within its limits before any handler runs). Header names compare case-insensitively.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modpub::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

bool HeaderNameEquals(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string target;  // as sent: path and query, percent-encoded
  std::string path;    // decoded, without the query
  std::string remote_addr;
  Headers headers;
  std::string body;

  bool has_header(std::string_view name) const;
  // The first value of header `name`, or "" when absent.
  std::string get_header_value(std::string_view name) const;
};

// Where a content provider writes a streamed body: write() returns false when the
// connection is gone (the provider then stops).
struct DataSink {
  std::function<bool(const char* data, std::size_t n)> write;
};

// Fills [offset, offset + length) of a streamed body, through sink.write, with at least
// one byte; false: the body cannot be completed (the server closes the connection, as
// the announced length would be wrong). Called on a worker thread, one call at a time,
// only when the client has taken the previous chunk.
using ContentProvider = std::function<bool(std::size_t offset, std::size_t length, DataSink& sink)>;

struct Response {
  int status = 200;
  Headers headers;  // besides Content-Type and Content-Length, which the server writes
  std::string body;
  std::string content_type;
  // A streamed body of content_length bytes, when set (body is then empty).
  ContentProvider provider;
  std::size_t content_length = 0;
  // The same streamed body as an open regular file (bytes 0..content_length), when the
  // handler has one: on plain TCP the server then sends it with sendfile(2), from the page
  // cache to the socket with no copy and no worker; TLS uses `provider`. The descriptor
  // stays open while `file_owner` lives.
  int file_fd = -1;
  std::shared_ptr<const void> file_owner;

  void set_header(std::string name, std::string value);
  bool has_header(std::string_view name) const;
  std::string get_header_value(std::string_view name) const;
  void set_content(std::string content, std::string type);
  void set_content_provider(std::size_t length, std::string type, ContentProvider fill);
};

}  // namespace modpub::http
