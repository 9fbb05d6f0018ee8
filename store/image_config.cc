#include "store/image_config.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace kapsel::store {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
         c == '-';
}

bool IsTagChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-'; }

absl::Status BadReference(const std::string& reference, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid reference format \"", reference, "\": ", why));
}

// The exec form (a JSON array of strings) or the shell form, wrapped in /bin/sh -c.
absl::StatusOr<nlohmann::json> CommandLine(absl::string_view instruction, absl::string_view args,
                                           const std::string& change) {
  if (absl::StartsWith(args, "[")) {
    nlohmann::json parsed =
        nlohmann::json::parse(args.begin(), args.end(), nullptr, /*allow_exceptions=*/false);
    bool ok = parsed.is_array();
    if (ok) {
      for (const auto& item : parsed) ok = ok && item.is_string();
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(instruction, " in change \"", change,
                                                     "\": expected a JSON array of strings"));
    }
    return parsed;
  }
  if (args.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(instruction, " in change \"", change, "\": missing command"));
  }
  return nlohmann::json::array({"/bin/sh", "-c", std::string(args)});
}

std::string Unquote(absl::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

// Splits "K=V" (or "K V"); false when there is no key.
bool SplitKeyValue(absl::string_view args, std::string* key, std::string* value) {
  size_t eq = args.find('=');
  size_t sp = args.find_first_of(" \t");
  size_t cut =
      eq != absl::string_view::npos && (sp == absl::string_view::npos || eq < sp) ? eq : sp;
  if (cut == absl::string_view::npos || cut == 0) return false;
  *key = Unquote(absl::StripAsciiWhitespace(args.substr(0, cut)));
  *value = Unquote(absl::StripAsciiWhitespace(args.substr(cut + 1)));
  return !key->empty();
}

}  // namespace

absl::StatusOr<ImageReference> ParseImageReference(const std::string& reference) {
  ImageReference ref;
  // A tag follows the last '/': in "localhost:5000/app" the colon belongs to the registry.
  size_t colon = reference.rfind(':');
  size_t slash = reference.rfind('/');
  if (colon != std::string::npos && slash != std::string::npos && colon < slash) {
    colon = std::string::npos;
  }
  if (colon == std::string::npos) {
    ref.name = reference;
    ref.tag = "latest";
  } else {
    ref.name = reference.substr(0, colon);
    ref.tag = reference.substr(colon + 1);
  }
  if (ref.name.empty()) return BadReference(reference, "empty name");
  if (ref.name.size() > kMaxNameLength) return BadReference(reference, "name too long");
  // A registry given as a bracketed IPv6 literal ("[::1]:5000/app", as docker writes one) is
  // checked here; the rest of the name is checked as if the registry were a plain host.
  std::string name = ref.name;
  if (name.front() == '[') {
    size_t close = name.find(']');
    size_t slash_after = name.find('/');
    struct in6_addr addr;
    if (close == std::string::npos || slash_after == std::string::npos || close > slash_after ||
        inet_pton(AF_INET6, name.substr(1, close - 1).c_str(), &addr) != 1) {
      return BadReference(reference,
                          "a '[' must open an IPv6 registry address, as in [::1]:5000/name");
    }
    name = absl::StrCat("ipv6", name.substr(close + 1));
  }
  // The first component may be a registry with a port: "host:5000/...".
  size_t first_slash = name.find('/');
  size_t port_colon = name.find(':');
  if (port_colon != std::string::npos) {
    bool port_ok = first_slash != std::string::npos && port_colon < first_slash &&
                   port_colon + 1 < first_slash && port_colon > 0;
    for (size_t i = port_colon + 1; port_ok && i < first_slash; ++i) {
      port_ok = absl::ascii_isdigit(name[i]);
    }
    if (!port_ok) return BadReference(reference, "a ':' in the name must start a registry port");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i]) && i != port_colon) {
      return BadReference(reference, "name must be lowercase letters, digits and . _ / -");
    }
  }
  if (name.front() == '/' || name.back() == '/' || absl::StrContains(name, "//") ||
      !absl::ascii_isalnum(name.front())) {
    return BadReference(reference,
                        "name must start with a letter or digit and have no empty "
                        "path components");
  }
  if (ref.tag.empty() || ref.tag.size() > kMaxTagLength) {
    return BadReference(reference, "tag must be 1 to 128 characters");
  }
  for (char c : ref.tag) {
    if (!IsTagChar(c)) return BadReference(reference, "tag must be letters, digits and _ . -");
  }
  return ref;
}

absl::Status ApplyChanges(const std::vector<std::string>& changes, nlohmann::json& config) {
  for (const std::string& change : changes) {
    absl::string_view line = absl::StripAsciiWhitespace(change);
    size_t sp = line.find_first_of(" \t");
    std::string instruction = absl::AsciiStrToUpper(line.substr(0, sp));
    absl::string_view args =
        sp == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(line.substr(sp));
    if (instruction.empty()) return absl::InvalidArgumentError("empty change");
    if (instruction == "CMD" || instruction == "ENTRYPOINT") {
      absl::StatusOr<nlohmann::json> argv = CommandLine(instruction, args, change);
      if (!argv.ok()) return argv.status();
      config[instruction == "CMD" ? "Cmd" : "Entrypoint"] = *std::move(argv);
    } else if (instruction == "ENV") {
      std::string key, value;
      if (!SplitKeyValue(args, &key, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("ENV in change \"", change, "\": expected KEY=VALUE"));
      }
      nlohmann::json env = nlohmann::json::array();
      std::string prefix = key + "=";
      if (config.contains("Env")) {
        for (const auto& item : config["Env"]) {
          if (!absl::StartsWith(item.get<std::string>(), prefix)) env.push_back(item);
        }
      }
      env.push_back(prefix + value);
      config["Env"] = std::move(env);
    } else if (instruction == "WORKDIR") {
      if (args.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("WORKDIR in change \"", change, "\": missing path"));
      }
      config["WorkingDir"] = Unquote(args);
    } else if (instruction == "USER") {
      if (args.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("USER in change \"", change, "\": missing user"));
      }
      config["User"] = Unquote(args);
    } else if (instruction == "VOLUME") {
      // VOLUME ["/data", "/logs"] or VOLUME /data /logs: anonymous volumes of every container.
      std::vector<std::string> paths;
      if (absl::StartsWith(args, "[")) {
        nlohmann::json list = nlohmann::json::parse(args, nullptr, /*allow_exceptions=*/false);
        if (!list.is_array()) {
          return absl::InvalidArgumentError(
              absl::StrCat("VOLUME in change \"", change, "\": not a JSON array"));
        }
        for (const auto& item : list) {
          if (!item.is_string()) {
            return absl::InvalidArgumentError(
                absl::StrCat("VOLUME in change \"", change, "\": paths must be strings"));
          }
          paths.push_back(item.get<std::string>());
        }
      } else {
        paths = absl::StrSplit(args, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      }
      if (paths.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("VOLUME in change \"", change, "\": missing path"));
      }
      for (const std::string& path : paths) {
        if (path.empty() || path.front() != '/') {
          return absl::InvalidArgumentError(absl::StrCat("VOLUME in change \"", change, "\": \"",
                                                         path, "\" is not an absolute path"));
        }
        config["Volumes"][path] = nlohmann::json::object();
      }
    } else if (instruction == "LABEL") {
      std::string key, value;
      if (!SplitKeyValue(args, &key, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("LABEL in change \"", change, "\": expected KEY=VALUE"));
      }
      config["Labels"][key] = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown instruction \"", line.substr(0, sp),
                                                     "\" in change \"", change, "\""));
    }
  }
  return absl::OkStatus();
}

nlohmann::json MakeImageConfig(const nlohmann::json& config,
                               const std::vector<std::string>& diff_ids, int64_t created_nanos) {
#if defined(__x86_64__)
  constexpr const char* kArchitecture = "amd64";
#elif defined(__aarch64__)
  constexpr const char* kArchitecture = "arm64";
#elif defined(__riscv)
  constexpr const char* kArchitecture = "riscv64";
#else
  constexpr const char* kArchitecture = "unknown";
#endif
  nlohmann::json out;
  out["architecture"] = kArchitecture;
  out["os"] = "linux";
  out["created"] = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixNanos(created_nanos),
                                    absl::UTCTimeZone());
  out["config"] = config.is_null() ? nlohmann::json::object() : config;
  out["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  return out;
}

}  // namespace kapsel::store
