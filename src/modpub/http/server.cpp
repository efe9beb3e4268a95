// See server.hpp. One Session per connection, on a strand of the I/O context; a request
// goes: read headers (total deadline) -> header checks -> read body (total deadline) ->
// handler on the worker pool -> write (per-write progress timeout) -> next request, whose
// bytes may already be in the buffer (pipelining).
#include "modpub/http/server.hpp"
#include "modpub/base/text.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/sendfile.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace modpub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 256 * 1024;  // a streamed body is sent in pieces this large
constexpr std::size_t kFileTurn = 4 << 20;  // sendfile bytes per turn of the I/O thread
// How long a closing connection waits for the client to stop sending (see Linger).
constexpr auto kLinger = std::chrono::seconds(1);

struct Counters {
  std::atomic<std::uint64_t> open{0}, refused{0}, header_cuts{0}, body_cuts{0}, too_large{0},
      write_cuts{0};
};

// A log line per second at most for events that an attack repeats thousands of times.
class Throttled {
 public:
  // Counts one event; returns how many to report when a line is due, else 0.
  std::uint64_t Note() {
    std::lock_guard lock(mu_);
    ++pending_;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::seconds(1)) return 0;
    last_ = now;
    return std::exchange(pending_, 0);
  }

 private:
  std::mutex mu_;
  Clock::time_point last_{};
  std::uint64_t pending_ = 0;
};

// What every session shares; lives in Server::Impl.
struct Shared {
  const ServerOptions& opt;
  const Router& router;
  asio::thread_pool* pool = nullptr;  // set once the loop exists
  Counters counters;
  Throttled refused_log, header_log, body_log, write_log;
};

// The target's path without the query, %XX decoded once; a malformed escape stays as is.
std::string DecodePath(std::string_view target) {
  return *PercentDecode(target.substr(0, target.find('?')), /*strict=*/false);
}

Response Plain(int status, const char* text) {
  Response r;
  r.status = status;
  r.set_content(text, "text/plain; charset=utf-8");
  return r;
}

// The status line and headers of `res`; `length` is the body's (also for HEAD).
std::string HeaderBlock(const Response& res, std::size_t length, bool keep_alive, bool http10) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " ";
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  if (!res.content_type.empty()) out += "Content-Type: " + res.content_type + "\r\n";
  if (res.status != 204 && res.status != 304 && res.status >= 200) {
    out += "Content-Length: " + std::to_string(length) + "\r\n";
  }
  for (const auto& [k, v] : res.headers) {
    if (HeaderNameEquals(k, "Connection") || HeaderNameEquals(k, "Content-Length")) continue;
    out += k + ": " + v + "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

bool WantsClose(const Response& res) {
  const std::string v = res.get_header_value("Connection");
  return HeaderNameEquals(v, "close");
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Shared& shared, Stream stream, std::string remote)
      : sh_(shared), stream_(std::move(stream)), buffer_(shared.opt.max_header_bytes + 16 * 1024) {
    req_.remote_addr = std::move(remote);
  }
  ~Session() { --sh_.counters.open; }

  void Start() {
    if constexpr (kTls) {
      Lowest().expires_after(sh_.opt.header_deadline);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Cut(ec, false);
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(sh_.opt.max_header_bytes));
    // The body's limit is applied after the header checks (OnHeader), so that they see
    // an oversized request first.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    Lowest().expires_after(sh_.opt.header_deadline);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->OnHeader(ec);
                             });
  }

  // A read or handshake that ended in error: a deadline is counted and logged, a bad
  // request answered 400 when a request had begun; then the connection is closed.
  void Cut(beast::error_code ec, bool in_body) {
    if (ec == beast::error::timeout) {
      if (in_body) {
        ++sh_.counters.body_cuts;
        sh_.router.NoteRefusal(req_, 408);
        Log(sh_.body_log, "body not complete within the body deadline");
        return Send(Plain(408, "request body not received in time\n"), false);
      }
      // A kept-alive connection that stays silent is no attack: closed quietly. A new
      // connection without a complete request by the deadline is a cut, whether or not
      // its bytes reached the parser: on a starved I/O thread the deadline can be handled
      // before reads that were already due, and a connection that never sends is the
      // idle-connection attack anyway.
      if (served_ == 0 || (parser_ && parser_->got_some()) || buffer_.size() > 0) {
        ++sh_.counters.header_cuts;
        Log(sh_.header_log, "request headers not complete within the header deadline");
      }
      return Close();
    }
    if (ec == bhttp::error::header_limit) {
      ++sh_.counters.too_large;
      return Send(Plain(431, "request headers too large\n"), false);
    }
    if (ec == bhttp::error::body_limit) {
      ++sh_.counters.too_large;
      sh_.router.NoteRefusal(req_, 413);
      return Send(Plain(413, "request body too large\n"), false);
    }
    const bool gone = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                      ec == asio::error::connection_reset || ec == asio::error::operation_aborted;
    if (!gone && parser_ && parser_->got_some()) return Send(Plain(400, "bad request\n"), false);
    Close();
  }

  void Log(Throttled& t, const char* what) {
    if (std::uint64_t n = t.Note()) {
      spdlog::warn("HTTP: {} connection(s) closed: {} (last from {})", n, what, req_.remote_addr);
    }
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Cut(ec, false);
    const auto& msg = parser_->get();
    req_.method = std::string(msg.method_string());
    req_.target = std::string(msg.target());
    req_.path = DecodePath(req_.target);
    req_.headers.clear();
    req_.body.clear();
    for (const auto& f : msg) {
      req_.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    Response early;
    if (sh_.router.CheckHeaders(req_, early) == Router::Routed::kHandled) {
      return Send(std::move(early), false);
    }
    if (parser_->content_length() && *parser_->content_length() > sh_.opt.max_body_bytes) {
      ++sh_.counters.too_large;
      sh_.router.NoteRefusal(req_, 413);
      return Send(Plain(413, "request body too large\n"), false);
    }
    parser_->body_limit(sh_.opt.max_body_bytes);
    if (parser_->is_done()) return Handle();
    if (HeaderNameEquals(req_.get_header_value("Expect"), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Lowest().expires_after(sh_.opt.write_timeout);
      return asio::async_write(
          stream_, asio::buffer(kContinue),
          [self = this->shared_from_this()](beast::error_code wec, std::size_t) {
            if (wec) return self->Close();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  void ReadBody() {
    Lowest().expires_after(sh_.opt.body_deadline);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->Cut(ec, true);
                        self->req_.body = std::move(self->parser_->get().body());
                        self->Handle();
                      });
  }

  // The handler runs on the worker pool; the answer is written from the I/O thread.
  void Handle() {
    Lowest().expires_never();
    if (Response quick; sh_.router.Quick(req_, quick) == Router::Routed::kHandled) {
      return Send(std::move(quick), true);
    }
    asio::post(*sh_.pool, [self = this->shared_from_this()] {
      auto res = std::make_shared<Response>();
      self->sh_.router.Dispatch(self->req_, *res);
      asio::post(self->stream_.get_executor(), [self, res] { self->Send(std::move(*res), true); });
    });
  }

  // Writes `res`; `may_keep`: the connection may serve another request afterwards.
  void Send(Response res, bool may_keep) {
    const bool http10 = parser_ && parser_->is_header_done() && parser_->get().version() == 10;
    keep_ = may_keep && parser_ && parser_->get().keep_alive() && !WantsClose(res) &&
            ++served_ < sh_.opt.keep_alive_max;
    const bool head = req_.method == "HEAD";
    const std::size_t length = res.provider ? res.content_length : res.body.size();
    res_ = std::move(res);
    head_ = HeaderBlock(res_, length, keep_, http10);
    std::vector<asio::const_buffer> out{asio::buffer(head_)};
    const bool stream_body = res_.provider && !head && length > 0;
    // Not const: with TLS it would be a constant, and clang calls its capture unneeded.
    bool send_file = !kTls && stream_body && res_.file_fd >= 0;
    if (!head && !res_.provider) out.push_back(asio::buffer(res_.body));
    offset_ = 0;
    Lowest().expires_after(sh_.opt.write_timeout);
    asio::async_write(stream_, out,
                      [self = this->shared_from_this(), stream_body, send_file](
                          beast::error_code ec, std::size_t) {
                        if (ec) return self->WriteFailed(ec);
                        if (send_file) return self->SendFile();
                        if (stream_body) return self->NextChunk();
                        self->Done();
                      });
  }

  void WriteFailed(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      ++sh_.counters.write_cuts;
      Log(sh_.write_log, "the client took no data within the write timeout");
    }
    Lowest().close();
  }

  // The next piece of a streamed body, read on the worker pool (never on the I/O thread:
  // a cold disk would stall every connection), written from the I/O thread.
  void NextChunk() {
    if (offset_ >= res_.content_length) return Done();
    Lowest().expires_never();
    asio::post(*sh_.pool, [self = this->shared_from_this()] {
      const std::size_t want = std::min(kChunk, self->res_.content_length - self->offset_);
      auto chunk = std::make_shared<std::string>();
      chunk->reserve(want);
      DataSink sink{[&chunk, want](const char* d, std::size_t n) {
        if (chunk->size() + n > want) return false;
        chunk->append(d, n);
        return true;
      }};
      const bool ok = self->res_.provider(self->offset_, want, sink) && !chunk->empty();
      asio::post(self->stream_.get_executor(), [self, chunk, ok] { self->WriteChunk(chunk, ok); });
    });
  }

  // A file body on plain TCP: sendfile(2) until the socket is full, then a wait for room
  // (bounded by the write timeout), at most kFileTurn bytes per turn so that one fast
  // client does not hold the I/O thread. As nginx's `sendfile on`, a read from a cold disk
  // blocks this I/O thread while it lasts; the files served are mostly fresh in the cache.
  void SendFile() {
    if constexpr (!kTls) {
      auto& sock = Lowest().socket();
      beast::error_code ec;
      sock.native_non_blocking(true, ec);
      std::size_t turn = 0;
      while (offset_ < res_.content_length) {
        if (turn >= kFileTurn) {
          return asio::post(stream_.get_executor(),
                            [self = this->shared_from_this()] { self->SendFile(); });
        }
        off_t off = static_cast<off_t>(offset_);
        const ssize_t n = ::sendfile(sock.native_handle(), res_.file_fd, &off,
                                     std::min(kFileTurn, res_.content_length - offset_));
        if (n > 0) {
          offset_ += static_cast<std::size_t>(n);
          turn += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WaitForRoom();
        spdlog::error("HTTP {} {}: the body could not be completed at byte {}: {}", req_.method,
                      req_.path, offset_, n == 0 ? "the file is shorter" : std::strerror(errno));
        return Lowest().close();
      }
      Done();
    }
  }

  void WaitForRoom() {
    timed_out_ = false;
    wait_timer_.expires_after(sh_.opt.write_timeout);
    wait_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the socket had room
      self->timed_out_ = true;
      beast::error_code ignored;
      self->Lowest().socket().cancel(ignored);
    });
    Lowest().socket().async_wait(tcp::socket::wait_write,
                                 [self = this->shared_from_this()](beast::error_code ec) {
                                   self->wait_timer_.cancel();
                                   if (ec && self->timed_out_) {
                                     return self->WriteFailed(beast::error::timeout);
                                   }
                                   if (ec) return self->Lowest().close();
                                   self->SendFile();
                                 });
  }

  void WriteChunk(const std::shared_ptr<std::string>& chunk, bool ok) {
    if (!ok) {
      spdlog::error("HTTP {} {}: the body could not be completed at byte {}: connection closed",
                    req_.method, req_.path, offset_);
      return Lowest().close();
    }
    Lowest().expires_after(sh_.opt.write_timeout);
    asio::async_write(
        stream_, asio::buffer(*chunk),
        [self = this->shared_from_this(), chunk](beast::error_code ec, std::size_t n) {
          if (ec) return self->WriteFailed(ec);
          self->offset_ += n;
          self->NextChunk();
        });
  }

  void Done() {
    res_ = Response{};
    head_.clear();
    if (keep_) return ReadHeader();
    Close();
  }

  // Closes after the answer: the sending side first, then whatever the client still sends
  // is read and dropped for a moment (as nginx's lingering close), so that the kernel does
  // not answer unread data with a reset that could destroy the answer before the client
  // reads it (a 413 sent before the body was read, say).
  void Close() {
    beast::error_code ec;
    if constexpr (kTls) {
      Lowest().expires_after(kLinger);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Lowest().close(); });
    } else {
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return Lowest().close();
      Lowest().expires_after(kLinger);
      Drain();
    }
  }

  void Drain() {
    Lowest().async_read_some(asio::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->Lowest().close();
                               self->Drain();
                             });
  }

  Shared& sh_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request req_;
  Response res_;
  std::string head_;
  std::size_t offset_ = 0;  // of the streamed body, sent so far
  int served_ = 0;
  bool keep_ = false;
  asio::steady_timer wait_timer_{stream_.get_executor()};  // SendFile's wait for room
  bool timed_out_ = false;
  char drain_[4096];
};

// A connection over max_connections: "503" and "Connection: close", then a lingering
// close as in Session::Close. Holds its socket for kLinger at most.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  explicit Refusal(tcp::socket socket) : stream_(std::move(socket)) {}
  void Start() {
    static const std::string kBody = "server busy: too many connections, try again\n";
    static const std::string kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: " +
        std::to_string(kBody.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + kBody;
    stream_.expires_after(kLinger);
    asio::async_write(stream_, asio::buffer(kBusy),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        beast::error_code ignored;
                        if (!ec)
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        if (ec || ignored) return self->stream_.close();
                        self->Drain();
                      });
  }

 private:
  void Drain() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->stream_.close();
                              self->Drain();
                            });
  }
  beast::tcp_stream stream_;
  char drain_[1024];
};

}  // namespace

// Everything the event loop owns, destroyed at Stop (which closes every connection).
// Declaration order is destruction order reversed: the TLS context outlives the streams
// that the pool's and the I/O context's pending handlers still hold.
struct Loop {
  explicit Loop(int workers) : pool(static_cast<std::size_t>(std::max(1, workers))) {}
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  asio::thread_pool pool;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer retry{ioc};  // after an accept error such as EMFILE
  std::vector<std::thread> threads;
};

struct Server::Impl {
  Impl(const ServerOptions& opt, const Router& router)
      : shared{opt, router, nullptr, {}, {}, {}, {}, {}},
        loop(std::make_unique<Loop>(opt.worker_threads)) {
    shared.pool = &loop->pool;
  }

  Shared shared;
  std::unique_ptr<Loop> loop;
  bool started = false;

  void Accept() {
    loop->acceptor.async_accept(
        asio::make_strand(loop->ioc), [this](beast::error_code ec, tcp::socket s) {
          if (ec == asio::error::operation_aborted || !loop->acceptor.is_open()) return;
          if (ec) {
            // Out of file descriptors and the like: the connection stays in the backlog;
            // try again shortly instead of spinning.
            if (std::uint64_t n = shared.refused_log.Note()) {
              spdlog::error("HTTP: cannot accept a connection: {} ({} time(s))", ec.message(), n);
            }
            loop->retry.expires_after(std::chrono::milliseconds(50));
            loop->retry.async_wait([this](beast::error_code) { Accept(); });
            return;
          }
          OnAccepted(std::move(s));
          Accept();
        });
  }

  void OnAccepted(tcp::socket s) {
    beast::error_code ec;
    const auto peer = s.remote_endpoint(ec);
    if (ec) return;  // already gone
    s.set_option(tcp::no_delay(true), ec);
    if (shared.counters.open.load() >= shared.opt.max_connections) {
      ++shared.counters.refused;
      if (std::uint64_t n = shared.refused_log.Note()) {
        spdlog::warn(
            "HTTP: refused {} connection(s) with 503: {} open, the limit (max_connections); "
            "last from {}",
            n, shared.opt.max_connections, peer.address().to_string());
      }
      if (loop->tls) return;  // no TLS handshake spent on a refusal: closed at once
      return std::make_shared<Refusal>(std::move(s))->Start();
    }
    ++shared.counters.open;
    std::string remote = peer.address().to_string();
    if (loop->tls) {
      using TlsStream = beast::ssl_stream<beast::tcp_stream>;
      std::make_shared<Session<TlsStream>>(
          shared, TlsStream(beast::tcp_stream(std::move(s)), *loop->tls), std::move(remote))
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(shared, beast::tcp_stream(std::move(s)),
                                                   std::move(remote))
          ->Start();
    }
  }
};

Server::Server(ServerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, router_)) {}

Server::Server(Metrics& metrics, std::function<Status()> health, ServerOptions options)
    : Server(std::move(options)) {
  router_.Get("/healthz", [health = std::move(health)](const Request&, Response& res) {
    Status st = health ? health() : Ok();
    if (st.ok()) {
      res.set_content("ok\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content(st.message() + "\n", "text/plain; charset=utf-8");
    }
  });
  router_.Get("/metrics", [this, &metrics](const Request&, Response& res) {
    res.set_content(metrics.Render() + RenderStats(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

Server::~Server() { Stop(); }

Status Server::Start(const std::string& host, int port) {
  Impl& im = *impl_;
  if (im.started) return Fail("HTTP server already started");
  im.started = true;
  Loop& lp = *im.loop;
  const std::string where = host + ":" + std::to_string(port);
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    return Fail("a TLS certificate needs its key, and a key its certificate");
  }
  beast::error_code ec;
  if (!options_.tls_cert_file.empty()) {
    lp.tls.emplace(asio::ssl::context::tls_server);
    lp.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    lp.tls->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (!ec) lp.tls->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return Fail("cannot use the TLS certificate " + options_.tls_cert_file + " and key " +
                  options_.tls_key_file + ": " + ec.message());
    }
  }
  tcp::resolver resolver(lp.ioc);
  auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) return Fail("cannot listen on " + where + ": " + ec.message());
  const tcp::endpoint ep = found.begin()->endpoint();
  lp.acceptor.open(ep.protocol(), ec);
  if (!ec) lp.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) lp.acceptor.bind(ep, ec);
  if (!ec) lp.acceptor.listen(options_.backlog, ec);
  if (ec) {
    return Fail("cannot listen on " + where + " (address in use or not local?): " + ec.message());
  }
  port_ = lp.acceptor.local_endpoint().port();
  im.Accept();
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    lp.threads.emplace_back([&lp] { lp.ioc.run(); });
  }
  return Ok();
}

void Server::Stop() {
  Impl& im = *impl_;
  if (!im.loop) return;
  im.loop->ioc.stop();
  for (auto& t : im.loop->threads) t.join();
  // Handlers already running finish; queued ones are dropped with their connections.
  im.loop->pool.stop();
  im.loop->pool.join();
  im.loop.reset();  // closes the listening socket and every connection
}

ServerStats Server::stats() const {
  const Counters& c = impl_->shared.counters;
  return {c.open.load(),      c.refused.load(),   c.header_cuts.load(),
          c.body_cuts.load(), c.too_large.load(), c.write_cuts.load()};
}

std::string Server::RenderStats() const {
  const ServerStats s = stats();
  std::string out =
      "# HELP modpub_http_connections_open HTTP connections open now.\n"
      "# TYPE modpub_http_connections_open gauge\n"
      "modpub_http_connections_open " +
      std::to_string(s.connections_open) +
      "\n# HELP modpub_http_connections_refused_total Connections answered 503 over the "
      "connection limit.\n"
      "# TYPE modpub_http_connections_refused_total counter\n"
      "modpub_http_connections_refused_total " +
      std::to_string(s.connections_refused) +
      "\n# HELP modpub_http_requests_cut_total Requests cut by a deadline or a size limit.\n"
      "# TYPE modpub_http_requests_cut_total counter\n";
  for (const auto& [reason, n] : {std::pair{"header_deadline", s.header_deadline_cuts},
                                  {"body_deadline", s.body_deadline_cuts},
                                  {"too_large", s.too_large},
                                  {"write_timeout", s.write_timeout_cuts}}) {
    out += std::string("modpub_http_requests_cut_total{reason=\"") + reason + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

std::uint64_t RaiseOpenFileLimit(std::uint64_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur >= wanted) return rl.rlim_cur;
  rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, rl.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return rl.rlim_cur;
  return raised.rlim_cur;
}

}  // namespace modpub::http
