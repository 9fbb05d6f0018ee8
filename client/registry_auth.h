#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/parse.h"

// Registry logins from docker's client configuration, which kapselctl reads for `pull` so that
// `docker login` works for kapsel too. The daemon never reads a user's files: the CLI sends the
// login for the one registry in the pull request.
namespace kapsel::client {

struct RegistryLogin {
  std::string username;
  std::string password;
};

// The registry domain of an image reference, as docker splits it: the first path component when
// it contains '.' or ':', is "localhost" or has upper-case letters, else "docker.io".
std::string RegistryDomainOf(absl::string_view reference);

// The login for registry `domain` in config.json text: an "auths" entry whose key, without a
// scheme and a path, is the domain ("https://index.docker.io/v1/" and "registry-1.docker.io"
// count for docker.io). Its "auth" is base64 of "user:password"; "username" and "password" are
// taken too. nullopt when there is no entry, or only an identity token or a credential helper
// (not supported). InvalidArgument for a config that is not JSON or an auth that does not decode.
absl::StatusOr<std::optional<RegistryLogin>> RegistryLoginFromConfig(absl::string_view config_json,
                                                                     absl::string_view domain);

// The docker config of the user running kapselctl: $DOCKER_CONFIG/config.json, else
// $HOME/.docker/config.json. "" when neither variable is set.
std::string DockerConfigPath(const EnvLookup& env);

// RegistryLoginFromConfig of DockerConfigPath; nullopt when the file does not exist. Errors
// name the file.
absl::StatusOr<std::optional<RegistryLogin>> FindRegistryLogin(const EnvLookup& env,
                                                               const FileReader& files,
                                                               absl::string_view domain);

}  // namespace kapsel::client
