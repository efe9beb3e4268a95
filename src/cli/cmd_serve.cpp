// `modpub serve`: the GOPROXY endpoint and checksum database of modpub::http::MountProxy on
// a cpp-httplib server of its own (modpubd mounts the same routes on its server). The
// server serves nothing else, so the requests are answered before cpp-httplib's regex route
// table (http::MountProxyFirst).
// `modpub auth-hash`: prints the hash of a password (or token) read from stdin, for the
// auth file (http/auth.hpp).
#include <signal.h>

#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/http/proxy.hpp"

namespace modpub::cli {
namespace {

struct ServeOptions {
  std::string from;
  std::string listen = "127.0.0.1:8080";
  std::string prefix;
  std::string sumdb;
  std::string sumdb_key;
  std::string auth;
  std::string tls_cert;
  std::string tls_key;
};

int RunServe(const ServeOptions& o) {
  auto config = http::OpenProxy({o.from, o.prefix, o.sumdb, o.sumdb_key, o.auth});
  if (!config) {
    std::cerr << "modpub: " << config.message() << "\n";
    return 2;
  }
  auto colon = o.listen.rfind(':');
  int port = 0;
  try {
    port = colon == std::string::npos ? -1 : std::stoi(o.listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535) {
    std::cerr << "modpub: --listen " << o.listen << ": expected HOST:PORT\n";
    return 2;
  }
  const std::string host = o.listen.substr(0, colon);
  const std::string name = config->signer ? config->signer->name() : "";

  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::cerr << "modpub: --tls-cert and --tls-key go together\n";
    return 2;
  }
  // go sends .netrc credentials only over https: TLS is needed for auth with go.
  std::unique_ptr<httplib::Server> owned;
  if (!o.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    if (!tls->is_valid()) {
      std::cerr << "modpub: cannot use the TLS certificate " << o.tls_cert << " and key "
                << o.tls_key << "\n";
      return 2;
    }
    owned = std::move(tls);
  } else {
    owned = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *owned;
  server.set_tcp_nodelay(true);
  // go and other clients reuse connections: close one after 1000 requests (nginx's
  // default), not after cpp-httplib's default of 5.
  server.set_keep_alive_max_count(1000);
  try {
    http::MountProxyFirst(server, std::move(*config));
  } catch (const std::invalid_argument& e) {
    std::cerr << "modpub: " << e.what() << "\n";
    return 2;
  }
  // SIGINT/SIGTERM stop the server from a thread of their own (stop() is not
  // async-signal-safe); the mask is set before any server thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (!server.bind_to_port(host, port)) {
    std::cerr << "modpub: cannot listen on " << o.listen << "\n";
    return 2;
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  });
  std::cerr << "modpub: serving " << o.from << " on " << (o.tls_cert.empty() ? "http" : "https")
            << "://" << o.listen << o.prefix
            << (name.empty() ? "" : " with checksum database " + name) << "\n";
  bool ok = server.listen_after_bind();
  if (stopper.joinable()) {
    pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
  }
  return ok ? 0 : 2;
}

void RegisterServe(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve a storage over the GOPROXY protocol (/<module>/@v/list|.info|.mod|.zip|.sig,\n"
      "/<module>/@latest) and, with --sumdb, the checksum database at /sumdb/<name>/ for\n"
      "GOSUMDB=\"<verifier key> http://HOST:PORT/sumdb/<name>\". With --auth, Basic/Bearer\n"
      "credentials and per-module read rules (401/403). Stops on SIGINT/SIGTERM.");
  cmd->add_option("--from", opts->from,
                  "storage URL: file:///abs/dir, athens-disk:///abs/dir or "
                  "s3://bucket/prefix?endpoint=…&layout=goproxy|athens[&cache_dir=/abs/dir"
                  "&cache_mib=N] (S3: objects are downloaded into a bounded local cache)")
      ->required();
  cmd->add_option("--listen", opts->listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  cmd->add_option("--prefix", opts->prefix, "URL path prefix, e.g. /goproxy (default none)");
  cmd->add_option("--sumdb", opts->sumdb,
                  "checksum database state directory (modpub publish --sumdb)");
  cmd->add_option("--sumdb-key", opts->sumdb_key, "signer key file of the checksum database");
  cmd->add_option("--auth", opts->auth, "auth file: TOML ([[user]], [[token]]) or user:hash lines");
  cmd->add_option("--tls-cert", opts->tls_cert,
                  "PEM certificate: serve https (go sends .netrc "
                  "credentials only over https)");
  cmd->add_option("--tls-key", opts->tls_key, "PEM private key of --tls-cert");
  cmd->callback([opts, exit_code] { *exit_code = RunServe(*opts); });

  auto token = std::make_shared<bool>(false);
  CLI::App* h = app.add_subcommand(
      "auth-hash",
      "Read a password (first line of stdin) and print its yescrypt hash for an auth file's\n"
      "`password`; with --token, print the SHA-256 of a bearer token for `sha256`.");
  h->add_flag("--token", *token, "hash a bearer token instead of a password");
  h->callback([token, exit_code] {
    std::string secret;
    std::getline(std::cin, secret);
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (*token) {
      std::cout << http::HashToken(secret) << "\n";
      *exit_code = 0;
      return;
    }
    auto hash = http::HashPassword(secret);
    if (!hash) {
      std::cerr << "modpub: " << hash.message() << "\n";
      *exit_code = 2;
      return;
    }
    std::cout << *hash << "\n";
    *exit_code = 0;
  });
}

}  // namespace

const Registration kRegistration{70, RegisterServe};

}  // namespace modpub::cli
