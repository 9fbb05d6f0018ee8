#include "client/registry_auth.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

using ::nlohmann::json;

constexpr absl::string_view kDockerHub = "docker.io";

// "https://index.docker.io/v1/" -> "index.docker.io", like docker's ConvertToHostname.
std::string KeyHost(absl::string_view key) {
  if (!absl::ConsumePrefix(&key, "https://")) absl::ConsumePrefix(&key, "http://");
  return absl::AsciiStrToLower(key.substr(0, key.find('/')));
}

bool KeyNames(absl::string_view key, absl::string_view domain) {
  std::string host = KeyHost(key);
  std::string want = absl::AsciiStrToLower(domain);
  if (want == kDockerHub) {
    return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
  }
  return host == want;
}

}  // namespace

std::string RegistryDomainOf(absl::string_view reference) {
  absl::string_view name = reference.substr(0, reference.find('@'));
  size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return std::string(kDockerHub);
  absl::string_view first = name.substr(0, slash);
  bool is_domain = absl::StrContains(first, '.') || absl::StrContains(first, ':') ||
                   first == "localhost" || absl::AsciiStrToLower(first) != first;
  if (!is_domain || first == "index.docker.io") return std::string(kDockerHub);
  return std::string(first);
}

absl::StatusOr<std::optional<RegistryLogin>> RegistryLoginFromConfig(absl::string_view config_json,
                                                                     absl::string_view domain) {
  json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return absl::InvalidArgumentError("not a JSON object");
  auto auths = config.find("auths");
  if (auths == config.end() || !auths->is_object()) return std::nullopt;
  for (const auto& [key, entry] : auths->items()) {
    if (!KeyNames(key, domain) || !entry.is_object()) continue;
    RegistryLogin login;
    if (auto it = entry.find("auth");
        it != entry.end() && it->is_string() && !it->get<std::string>().empty()) {
      std::string decoded;
      if (!absl::Base64Unescape(it->get<std::string>(), &decoded)) {
        return absl::InvalidArgumentError(absl::StrCat("auths[\"", key, "\"].auth is not base64"));
      }
      size_t colon = decoded.find(':');
      if (colon == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("auths[\"", key, "\"].auth is not base64 of user:password"));
      }
      login.username = decoded.substr(0, colon);
      login.password = decoded.substr(colon + 1);
      return login;
    }
    if (entry.value("username", "") != "" || entry.value("password", "") != "") {
      login.username = entry.value("username", "");
      login.password = entry.value("password", "");
      return login;
    }
  }
  return std::nullopt;
}

std::string DockerConfigPath(const EnvLookup& env) {
  if (std::optional<std::string> dir = env("DOCKER_CONFIG"); dir && !dir->empty()) {
    return absl::StrCat(*dir, "/config.json");
  }
  if (std::optional<std::string> home = env("HOME"); home && !home->empty()) {
    return absl::StrCat(*home, "/.docker/config.json");
  }
  return "";
}

absl::StatusOr<std::optional<RegistryLogin>> FindRegistryLogin(const EnvLookup& env,
                                                               const FileReader& files,
                                                               absl::string_view domain) {
  std::string path = DockerConfigPath(env);
  if (path.empty()) return std::nullopt;
  absl::StatusOr<std::string> text = files(path);
  if (absl::IsNotFound(text.status())) return std::nullopt;
  if (!text.ok()) return text.status();
  absl::StatusOr<std::optional<RegistryLogin>> login = RegistryLoginFromConfig(*text, domain);
  if (!login.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", login.status().message()));
  }
  return login;
}

}  // namespace kapsel::client
