#include "modpub/receive/handoff.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>

#include "modpub/dirhash/dirhash.hpp"

namespace fs = std::filesystem;

namespace modpub::receive {
namespace {

constexpr char kFormat[] = "modpub-handoff/1";
constexpr auto kStaleAfter = std::chrono::hours(1);

fs::path FileFor(const fs::path& dir, const std::string& repo_path, const RefUpdate& u) {
  return dir / (UpdateKey(repo_path, u) + ".json");
}

// Leftovers of pushes refused after pre-receive; best effort (a racing hook may remove the
// same file first).
void RemoveStale(const fs::path& dir) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - kStaleAfter;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e;
    if (auto t = fs::last_write_time(it->path(), e); !e && t < cutoff) fs::remove(it->path(), e);
  }
}

}  // namespace

std::string UpdateKey(const std::string& repo_path, const RefUpdate& u) {
  std::string key = repo_path;
  key.push_back('\0');
  key += u.ref;
  key.push_back('\0');
  key += u.new_id.Hex();
  return dirhash::Hex(dirhash::Sha256::Of(key)).substr(0, 32);
}

Status WriteHandoff(const fs::path& dir, const std::string& repo_path, const RefUpdate& u,
                    const std::vector<Accepted>& accepted) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(dir.string() + ": cannot create the handoff directory: " + ec.message());
  RemoveStale(dir);

  nlohmann::json j;
  j["format"] = kFormat;
  j["repo"] = repo_path;
  j["ref"] = u.ref;
  j["new"] = u.new_id.Hex();
  j["accepted"] = nlohmann::json::array();
  for (const Accepted& a : accepted) {
    j["accepted"].push_back(
        {{"tag", a.tag}, {"path", a.path}, {"version", a.version}, {"commit", a.commit.Hex()}});
  }
  const fs::path file = FileFor(dir, repo_path, u);
  fs::path tmp = file;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump() << "\n";
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return Fail(tmp.string() + ": cannot write the handoff");
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return Fail(file.string() + ": cannot write the handoff: " + ec.message());
  }
  return Ok();
}

std::optional<std::vector<Accepted>> TakeHandoff(const fs::path& dir, const std::string& repo_path,
                                                 const RefUpdate& u) {
  const fs::path file = FileFor(dir, repo_path, u);
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::error_code ec;
  fs::remove(file, ec);

  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto str = [&](const nlohmann::json& o, const char* key) -> std::optional<std::string> {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (!j.is_object() || str(j, "format") != kFormat || str(j, "repo") != repo_path ||
      str(j, "ref") != u.ref || str(j, "new") != u.new_id.Hex()) {
    return std::nullopt;
  }
  auto list = j.find("accepted");
  if (list == j.end() || !list->is_array() || list->empty()) return std::nullopt;
  std::vector<Accepted> out;
  for (const auto& e : *list) {
    if (!e.is_object()) return std::nullopt;
    auto tag = str(e, "tag");
    auto path = str(e, "path");
    auto version = str(e, "version");
    auto commit = str(e, "commit");
    Accepted a;
    if (!tag || !path || !version || !commit || commit->size() != GIT_OID_HEXSZ ||
        git_oid_fromstr(&a.commit.raw, commit->c_str()) != 0) {
      return std::nullopt;
    }
    a.tag = *tag;
    a.path = *path;
    a.version = *version;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace modpub::receive
