// `modpub serve`: the GOPROXY endpoint and checksum database of modpub::http::MountProxy on
// an http::Server of its own (modpubd mounts the same routes on its server). The server
// serves nothing else, so the requests are answered before the router's route table
// (http::MountProxyFirst).
// `modpub auth-hash`: prints the hash of a password (or token) read from stdin, for the
// auth file (http/auth.hpp).
#include <signal.h>

#include <chrono>
#include <iostream>

#include "cli/commands.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/http/jwt_verifier.hpp"
#include "modpub/http/proxy.hpp"
#include "modpub/http/server.hpp"

namespace modpub::cli {
namespace {

struct ServeOptions {
  std::string from;
  std::string listen = "127.0.0.1:8080";
  std::string prefix;
  std::string sumdb;
  std::string sumdb_key;
  std::string auth;
  std::string upstream;        // "<verifier key> <url>" of a public checksum database
  std::string upstream_proxy;  // http://host:port
  std::vector<std::string> private_prefixes;
  std::string tls_cert;
  std::string tls_key;
  http::ServerOptions server;
  int header_deadline_ms = 10000;
  int body_deadline_ms = 10000;
};

// SIGHUP: the auth file is read again; what else `serve` uses comes from its command line.
void ReloadAuth(const std::string& file, http::Auth* auth) {
  if (!auth) {
    std::cerr << "modpub: SIGHUP: nothing to reload (no --auth; the rest is the command line)\n";
    return;
  }
  auto n = auth->Reload();
  if (!n) {
    std::cerr << "modpub: SIGHUP: " << n.message() << "; the credentials in effect stay\n";
    return;
  }
  std::cerr << "modpub: SIGHUP: reloaded " << file << ": " << *n << " user(s) and token(s)\n";
  if (auto st = http::AttachJwtVerifier(*auth); !st) {
    std::cerr << "modpub: SIGHUP: [oidc]: " << st.message()
              << "; the token verifier in effect stays\n";
  }
}

int RunServe(const ServeOptions& o) {
  http::ProxySettings settings;
  settings.from = o.from;
  settings.prefix = o.prefix;
  settings.sumdb_log = o.sumdb;
  settings.sumdb_key = o.sumdb_key;
  settings.auth_file = o.auth;
  settings.upstream = o.upstream;
  settings.upstream_proxy = o.upstream_proxy;
  settings.private_prefixes = o.private_prefixes;
  if (!o.upstream.empty() && !o.sumdb.empty() && !o.sumdb.starts_with("s3://")) {
    settings.upstream_state = (std::filesystem::absolute(o.sumdb) / "upstream-latest").string();
  }
  auto config = http::OpenProxy(settings);
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
  http::ServerOptions options = o.server;
  options.header_deadline = std::chrono::milliseconds(o.header_deadline_ms);
  options.body_deadline = std::chrono::milliseconds(o.body_deadline_ms);
  options.write_timeout = options.header_deadline;
  options.tls_cert_file = o.tls_cert;
  options.tls_key_file = o.tls_key;
  http::Server server(options);
  std::shared_ptr<http::Auth> auth = config->auth;  // SIGHUP reloads it
  try {
    http::MountProxyFirst(server.router(), std::move(*config));
  } catch (const std::invalid_argument& e) {
    std::cerr << "modpub: " << e.what() << "\n";
    return 2;
  }
  // SIGINT/SIGTERM (stop) and SIGHUP (reload) are taken by this thread (sigwait); the mask
  // is set before any server thread starts, so they inherit it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const std::uint64_t wanted = options.max_connections + 64;
  if (std::uint64_t limit = http::RaiseOpenFileLimit(wanted); limit < wanted) {
    std::cerr << "modpub: warning: open files limited to " << limit << " (ulimit -n), below "
              << "--max-connections " << options.max_connections << " + 64\n";
  }
  if (auto st = server.Start(host, port); !st) {
    std::cerr << "modpub: " << (o.tls_cert.empty() ? "" : "--tls-cert/--tls-key: ") << st.message()
              << "\n";
    return 2;
  }
  std::cerr << "modpub: serving " << o.from << " on " << (o.tls_cert.empty() ? "http" : "https")
            << "://" << host << ":" << server.port() << o.prefix
            << (name.empty() ? "" : " with checksum database " + name) << "\n";
  for (int sig = 0; sigwait(&set, &sig) == 0 && sig == SIGHUP;) ReloadAuth(o.auth, auth.get());
  server.Stop();
  return 0;
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
                  "checksum database: state directory or s3:// URL (modpub publish --sumdb)");
  cmd->add_option("--sumdb-key", opts->sumdb_key, "signer key file of the checksum database");
  cmd->add_option("--sumdb-upstream", opts->upstream,
                  "\"<verifier key> <url>\" of a public checksum database (e.g. sum.golang.org's): "
                  "lookups of module versions the log lacks, outside --private, are verified "
                  "there and logged, so go needs only this database");
  cmd->add_option("--sumdb-upstream-proxy", opts->upstream_proxy,
                  "HTTP proxy (http://host:port) for --sumdb-upstream");
  cmd->add_option("--private", opts->private_prefixes,
                  "module path prefix never asked of --sumdb-upstream (repeatable)");
  cmd->add_option("--auth", opts->auth, "auth file: TOML ([[user]], [[token]]) or user:hash lines");
  cmd->add_option("--tls-cert", opts->tls_cert,
                  "PEM certificate: serve https (go sends .netrc "
                  "credentials only over https)");
  cmd->add_option("--tls-key", opts->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--header-deadline-ms", opts->header_deadline_ms,
                  "the request line and headers must arrive within this total time, on a new "
                  "or kept-alive connection, else it is closed (default 10000)")
      ->check(CLI::Range(10, 600000));
  cmd->add_option("--body-deadline-ms", opts->body_deadline_ms,
                  "a request body must arrive within this total time, else 408 (default 10000)")
      ->check(CLI::Range(10, 3600000));
  cmd->add_option("--max-connections", opts->server.max_connections,
                  "connections open at once; one more is answered 503 and closed (default 10000)")
      ->check(CLI::Range(16, 1000000));
  cmd->add_option("--threads", opts->server.worker_threads,
                  "threads running the handlers (storage reads); slow clients hold none "
                  "(default 16)")
      ->check(CLI::Range(1, 1024));
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
