// See render.hpp.
#include "modpub/status/render.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "modpub/base/text.hpp"
#include "modpub/module/module.hpp"

namespace modpub::status {
namespace {

using Json = nlohmann::ordered_json;

// The style sheet: one column, long words wrapped, light and dark. No external asset.
constexpr std::string_view kStyle = R"(
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;
--line:#d1d9e0;--bad:#b3261e;--link:#0550ae;--warn:#8a5a00}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#151b23;--line:#3d444d;--bad:#ff8182;--link:#71b7ff;--warn:#e3b341}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);overflow-wrap:anywhere;
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:62rem;margin:0 auto;padding:1rem}
a{color:var(--link)}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.15rem;margin:0}
h3{font-size:.8rem;margin:.9rem 0 .2rem;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
.meta{color:var(--muted);font-size:.9rem;margin:0 0 1rem}
.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;
margin:0 0 1.5rem}
.summary div{background:var(--card);border:1px solid var(--line);border-radius:.5rem;
padding:.5rem .75rem}
.summary dt{color:var(--muted);font-size:.8rem}
.summary dd{margin:0;font-size:1.1rem;font-weight:600}
.repo{border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1rem}
.path{color:var(--muted);font-size:.85rem;margin:.1rem 0 0}
ul{list-style:none;margin:0;padding:0}
li{padding:.35rem 0;border-top:1px solid var(--line)}
li:first-child{border-top:0}
.name{font-weight:600}
.detail{display:block;color:var(--muted);font-size:.85rem}
.reason{display:block;color:var(--bad);font-size:.85rem}
.empty{color:var(--muted);font-style:italic;margin:.2rem 0}
.warn{color:var(--warn)}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.92em}
footer{color:var(--muted);font-size:.8rem;margin-top:1.5rem}
)";

std::string Rfc3339(Clock::time_point t) {
  const std::time_t secs = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "2026-01-02 03:04 UTC (5m ago)", the machine form in <time datetime>.
std::string When(Clock::time_point t, Clock::time_point now) {
  std::string iso = Rfc3339(t);
  std::string shown = iso.substr(0, 10) + " " + iso.substr(11, 8) + " UTC";
  auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - t);
  std::string rel = ago.count() < 0 ? "" : " (" + FormatDuration(ago) + " ago)";
  return "<time datetime=\"" + iso + "\">" + shown + "</time>" + rel;
}

// "4m 10s ago", the full time as its title (the summary's short form).
std::string Ago(Clock::time_point t, Clock::time_point now) {
  const std::string iso = Rfc3339(t);
  auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - t);
  return "<time datetime=\"" + iso + "\" title=\"" + iso + "\">" + FormatDuration(ago) +
         " ago</time>";
}

Json TimeOrNull(const std::optional<Clock::time_point>& t) {
  return t ? Json(Rfc3339(*t)) : Json(nullptr);
}

// The @v/list URL of `module` below the proxy prefix; "" when it has no escaped form.
std::string ListUrl(const PageContext& page, const std::string& module) {
  auto escaped = module::EscapePath(module);
  if (!escaped) return "";
  return page.proxy_prefix + "/" + *escaped + "/@v/list";
}

std::string ModuleItem(const ModuleStatus& m, const PageContext& page) {
  std::string url = page.proxy ? ListUrl(page, m.path) : "";
  std::string out = "<li>";
  out += url.empty()
             ? "<code class=\"name\">" + HtmlEscape(m.path) + "</code>"
             : "<a class=\"name\" href=\"" + HtmlEscape(url) + "\">" + HtmlEscape(m.path) + "</a>";
  out += "<span class=\"detail\">latest <b>" + HtmlEscape(m.latest) + "</b>";
  if (!m.latest_time.empty()) out += " (committed " + HtmlEscape(m.latest_time) + ")";
  out += " · " + Plural(m.versions, "version", "versions");
  if (m.last_published) out += " · published " + When(*m.last_published, page.now);
  return out + "</span></li>";
}

std::string JobItem(const JobLine& j, const PageContext& page, bool show_repo) {
  std::string out = "<li><code class=\"name\">" + HtmlEscape(OneLine(j.tag, 200)) + "</code>";
  out += "<span class=\"detail\">" + HtmlEscape(j.state);
  if (j.attempts > 0)
    out += " · " + Plural(static_cast<std::size_t>(j.attempts), "attempt", "attempts");
  if (j.created.time_since_epoch().count() != 0) out += " · created " + When(j.created, page.now);
  if (show_repo) out += " · " + HtmlEscape(j.repo);
  out += "</span>";
  if (!j.error.empty()) out += "<span class=\"reason\">" + HtmlEscape(OneLine(j.error)) + "</span>";
  return out + "</li>";
}

std::string JobList(const std::vector<JobLine>& jobs, std::size_t total, const PageContext& page,
                    bool show_repo, std::string_view empty) {
  if (jobs.empty()) return "<p class=\"empty\">" + std::string(empty) + "</p>";
  std::string out = "<ul>";
  for (const auto& j : jobs) out += JobItem(j, page, show_repo);
  out += "</ul>";
  if (total > jobs.size())
    out += "<p class=\"empty\">and " + std::to_string(total - jobs.size()) + " more</p>";
  return out;
}

std::string RepoSection(const RepoStatus& r, const PageContext& page, bool unconfigured) {
  std::string out = "<section class=\"repo\">";
  if (unconfigured) {
    out +=
        "<h2>Not in the configuration</h2><p class=\"path\">modules and jobs of no "
        "configured repository</p>";
  } else {
    out += "<h2>" + HtmlEscape(r.import_path) + "</h2><p class=\"path\">" + HtmlEscape(r.path) +
           "</p>";
  }
  out += "<h3>Modules</h3>";
  if (r.modules.empty()) {
    out += "<p class=\"empty\">No published versions yet.</p>";
  } else {
    out += "<ul>";
    for (const auto& m : r.modules) out += ModuleItem(m, page);
    out += "</ul>";
  }
  out += "<h3>Pending (" + std::to_string(r.pending_total) + ")</h3>";
  out += JobList(r.pending, r.pending_total, page, unconfigured, "Nothing pending.");
  out += "<h3>Failed (" + std::to_string(r.failed_total) + ")</h3>";
  out += JobList(r.failed, r.failed_total, page, unconfigured, "No failed tags.");
  return out + "</section>";
}

bool Empty(const RepoStatus& r) {
  return r.modules.empty() && r.pending_total == 0 && r.failed_total == 0;
}

std::string Summary(const Snapshot& s, const PageContext& page) {
  std::size_t modules = s.unconfigured.modules.size(), versions = 0, pending = 0, failed = 0;
  auto add = [&](const RepoStatus& r) {
    for (const auto& m : r.modules) versions += m.versions;
    pending += r.pending_total;
    failed += r.failed_total;
  };
  for (const auto& r : s.repositories) {
    modules += r.modules.size();
    add(r);
  }
  add(s.unconfigured);
  auto cell = [](std::string_view name, const std::string& value) {
    return "<div><dt>" + std::string(name) + "</dt><dd>" + value + "</dd></div>";
  };
  std::string out = "<dl class=\"summary\">";
  out += cell("Queue depth", s.queue_depth ? std::to_string(*s.queue_depth) : "unknown");
  out += cell("Pending tags", std::to_string(pending));
  out += cell("Failed tags", std::to_string(failed));
  out += cell("Modules", std::to_string(modules));
  out += cell("Versions", std::to_string(versions));
  out += cell("Last publish", s.last_publish ? Ago(*s.last_publish, page.now) : "never");
  return out + "</dl>";
}

// What the listing could not do, or has not done yet.
std::string Warnings(const Snapshot& s) {
  std::string out;
  if (!s.storage_listed) out += "<p class=\"warn\">Storage not listed yet (starting).</p>";
  if (!s.storage_error.empty())
    out += "<p class=\"warn\">Storage listing failed: " + HtmlEscape(OneLine(s.storage_error)) +
           "</p>";
  if (!s.jobs_error.empty())
    out += "<p class=\"warn\">Job listing failed: " + HtmlEscape(OneLine(s.jobs_error)) + "</p>";
  return out;
}

Json JobsJson(const std::vector<JobLine>& jobs) {
  Json out = Json::array();
  for (const auto& j : jobs) {
    out.push_back(
        {{"id", j.id},
         {"repo", j.repo},
         {"tag", j.tag},
         {"state", j.state},
         {"attempts", j.attempts},
         {"created", TimeOrNull(j.created.time_since_epoch().count() != 0 ? std::optional(j.created)
                                                                          : std::nullopt)},
         {"error", j.error}});
  }
  return out;
}

Json RepoJson(const RepoStatus& r, const PageContext& page) {
  Json modules = Json::array();
  for (const auto& m : r.modules) {
    const std::string url = page.proxy ? ListUrl(page, m.path) : "";
    modules.push_back({{"path", m.path},
                       {"latest", m.latest.empty() ? Json(nullptr) : Json(m.latest)},
                       {"latest_time", m.latest_time.empty() ? Json(nullptr) : Json(m.latest_time)},
                       {"versions", m.versions},
                       {"last_published", TimeOrNull(m.last_published)},
                       {"list_url", url.empty() ? Json(nullptr) : Json(url)}});
  }
  return {{"path", r.path},
          {"import_path", r.import_path},
          {"modules", std::move(modules)},
          {"pending", JobsJson(r.pending)},
          {"pending_total", r.pending_total},
          {"failed", JobsJson(r.failed)},
          {"failed_total", r.failed_total}};
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatDuration(std::chrono::seconds d) {
  long long s = d.count() < 0 ? 0 : d.count();
  const long long days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60;
  if (days > 0) return std::to_string(days) + "d " + std::to_string(hours) + "h";
  if (hours > 0) return std::to_string(hours) + "h " + std::to_string(minutes) + "m";
  if (minutes > 0) return std::to_string(minutes) + "m " + std::to_string(s % 60) + "s";
  return std::to_string(s) + "s";
}

std::string RenderHtml(const Snapshot& s, const PageContext& page) {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(page.now - page.started);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"robots\" content=\"noindex\"><title>modpub status</title><style>";
  out += kStyle;
  out += "</style></head><body><main><h1>modpub status</h1><p class=\"meta\">modpubd " +
         HtmlEscape(page.daemon_version) + " · up " + FormatDuration(uptime) + " · storage <code>" +
         HtmlEscape(s.storage) + "</code> · " + When(page.now, page.now) + "</p>";
  out += Summary(s, page);
  out += Warnings(s);
  if (s.repositories.empty()) out += "<p class=\"empty\">No repositories configured.</p>";
  for (const auto& r : s.repositories) out += RepoSection(r, page, false);
  if (!Empty(s.unconfigured)) out += RepoSection(s.unconfigured, page, true);
  out += "<footer>JSON: <a href=\"/api/status\">/api/status</a></footer></main></body></html>\n";
  return out;
}

std::string RenderJson(const Snapshot& s, const PageContext& page) {
  Json repos = Json::array();
  for (const auto& r : s.repositories) repos.push_back(RepoJson(r, page));
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(page.now - page.started);
  Json j = {
      {"format", "modpub-status/1"},
      {"generated", Rfc3339(page.now)},
      {"daemon",
       {{"version", page.daemon_version},
        {"started", Rfc3339(page.started)},
        {"uptime_seconds", uptime.count() < 0 ? 0 : uptime.count()}}},
      {"queue_depth", s.queue_depth ? Json(*s.queue_depth) : Json(nullptr)},
      {"last_publish", TimeOrNull(s.last_publish)},
      {"storage",
       {{"url", s.storage}, {"listed", TimeOrNull(s.storage_listed)}, {"error", s.storage_error}}},
      {"jobs", {{"listed", TimeOrNull(s.jobs_listed)}, {"error", s.jobs_error}}},
      {"proxy", page.proxy ? Json{{"prefix", page.proxy_prefix}} : Json(nullptr)},
      {"repositories", std::move(repos)},
      {"unconfigured", Empty(s.unconfigured) ? Json(nullptr) : RepoJson(s.unconfigured, page)}};
  // A tag or an error may hold bytes that are not UTF-8: replaced, never a throw.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Snapshot Visible(const Snapshot& s, const std::function<bool(std::string_view)>& readable) {
  Snapshot out = s;
  auto filter = [&](RepoStatus& r, bool jobs_readable) {
    std::erase_if(r.modules, [&](const ModuleStatus& m) { return !readable(m.path); });
    if (!jobs_readable) {
      r.pending.clear();
      r.failed.clear();
      r.pending_total = r.failed_total = 0;
    }
  };
  std::erase_if(out.repositories, [&](RepoStatus& r) {
    const bool jobs_readable = readable(r.import_path);
    filter(r, jobs_readable);
    return !jobs_readable && r.modules.empty();
  });
  filter(out.unconfigured, false);
  out.last_publish.reset();
  auto latest = [&](const RepoStatus& r) {
    for (const auto& m : r.modules) {
      if (m.last_published && (!out.last_publish || *m.last_published > *out.last_publish))
        out.last_publish = m.last_published;
    }
  };
  for (const auto& r : out.repositories) latest(r);
  latest(out.unconfigured);
  return out;
}

}  // namespace modpub::status
