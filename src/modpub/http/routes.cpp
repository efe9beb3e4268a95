// See routes.hpp.
#include "modpub/http/routes.hpp"

#include <cctype>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "modpub/http/auth.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::http {
namespace {

// [sumdb] without [proxy]: serve the checksum database, not the storage's modules.
void MountChecksumDatabaseOnly(Router& raw, const ProxyConfig& proxy) {
  raw.Get(R"(/(?!sumdb/).*)", [](const Request&, Response& res) {
    res.status = 404;
    res.set_content("not found ([proxy] is not configured)\n", "text/plain; charset=utf-8");
  });
  MountProxy(raw, proxy);
}

// Module files are answered before the route table is searched (no regular expression
// per request).
void MountModulesFirst(Router& raw, const RouteSet& routes) {
  raw.SetPreRouting(MountProxyPreRouting(raw, *routes.proxy));
}

std::string SignerKeyProblem(const std::string& file, const std::string& sumdb_name,
                             std::string* setting) {
  std::ifstream in(file);
  std::string key;
  if (!in || !std::getline(in, key)) {
    return file + ": cannot read the signer key file: " +
           std::error_code(errno, std::generic_category()).message();
  }
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  auto signer = sign::Signer::Parse(key);
  if (!signer) {
    return file +
           ": not a signer key (PRIVATE+KEY+<name>+..., from `modpub keygen`): " + signer.message();
  }
  if (signer->name() != sumdb_name) {
    *setting = "sumdb.name";
    return "\"" + sumdb_name + "\" but the key " + file + " is for \"" + signer->name() +
           "\" (go looks the database up by the key's name)";
  }
  return "";
}

// A local log is checked now; a bucket only when modpubd opens it (checking the
// configuration needs no network).
Status LogProblem(const std::string& dir) {
  if (dir.starts_with("s3://")) return storage::CheckSumdbLocation(dir);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return Ok();  // made on first use
  auto log = sumdb::Log::Open(dir);
  if (!log) return log.error();
  if (auto head = log->Latest(); !head) return head.error();
  return Ok();
}

// Each page behind the proxy's auth (when it has one): any principal may open it, and
// sees the modules its rules let it read.
void MountPages(Router& raw, const RouteSet& routes) {
  std::shared_ptr<Auth> auth = routes.proxy ? routes.proxy->auth : nullptr;
  for (const auto& page : routes.pages) {
    raw.Get(page.path, [auth, handler = page.handler](const Request& req, Response& res) {
      if (!auth) return handler(req, res, [](std::string_view) { return true; });
      auto d = auth->Check(req, std::nullopt);
      if (d.verdict != Auth::Verdict::kAllow) {
        res.status = 401;
        auth->Challenge(req, res);
        res.set_content("401 Unauthorized: " + d.reason + "\n", "text/plain; charset=utf-8");
        return;
      }
      // Not audited: a page asks about every module it could show.
      handler(req, res, [&auth, &req](std::string_view module_path) {
        return auth->Check(req, std::string(module_path), false).verdict == Auth::Verdict::kAllow;
      });
    });
  }
}

}  // namespace

std::string MountRoutes(Server& server, const RouteSet& routes) {
  Router& raw = server.router();
  std::string names = "/healthz, /metrics";
  MountPages(raw, routes);
  for (const auto& page : routes.pages) names += ", " + page.path;
  if (routes.extra) {
    routes.extra(raw);
    names += ", " + routes.extra_names;
  }
  if (!routes.proxy) return names;
  if (routes.serve_modules) {
    MountModulesFirst(raw, routes);
    names += ", GOPROXY " + routes.proxy->prefix + "/ from " + routes.modules_from;
  } else {
    MountChecksumDatabaseOnly(raw, *routes.proxy);
  }
  if (routes.proxy->signer) {
    names += ", " + routes.proxy->prefix + "/sumdb/" + routes.proxy->signer->name() + "/";
  }
  return names;
}

std::vector<SettingProblem> CheckProxyFiles(const ProxySettings& settings,
                                            const std::string& sumdb_name) {
  std::vector<SettingProblem> out;
  if (!settings.sumdb_key.empty()) {
    std::string setting = "sumdb.signer_key";
    std::string what = SignerKeyProblem(settings.sumdb_key, sumdb_name, &setting);
    if (!what.empty()) out.push_back({setting, what});
    if (Status st = LogProblem(settings.sumdb_log); !st) {
      out.push_back(
          {settings.sumdb_log.starts_with("s3://") ? "sumdb.storage" : "sumdb.dir", st.message()});
    }
  }
  if (!settings.sumdb_key.empty() && !settings.upstream.empty() &&
      settings.private_prefixes.empty()) {
    out.push_back({"sumdb.upstream", kNoPrivatePrefix});
  }
  if (!settings.auth_file.empty()) {
    if (auto auth = Auth::Load(settings.auth_file); !auth) {
      out.push_back({"proxy.auth", auth.message()});
    }
  }
  return out;
}

}  // namespace modpub::http
