#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/ipam.h"

namespace kapsel::daemon {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr char kDefaultDataRoot[] = "/var/lib/kapsel";
constexpr char kDefaultExecRoot[] = "/run/kapsel";
constexpr char kDefaultLogLevel[] = "info";
constexpr int64_t kDefaultLogMaxSize = 20 << 20;  // bytes
constexpr int kDefaultLogMaxFiles = 5;
constexpr int64_t kMinLogMaxSize = 4096;  // bytes, as --log-opt max-size (log_options.h)
constexpr size_t kMaxConfigBytes = 1 << 20;

const char* const kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
// Fields a SIGHUP applies; every other one needs a restart.
const char* const kReloadable[] = {"log_level", "log_format", "log_rotation", "insecure_registries",
                                   "metrics"};

absl::Status FieldError(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::StatusOr<std::string> AbsolutePath(absl::string_view field, const std::string& value) {
  if (value.empty() || value.front() != '/') {
    return FieldError(field, absl::StrCat("\"", value, "\" is not an absolute path"));
  }
  if (value.find('\0') != std::string::npos) return FieldError(field, "contains a NUL byte");
  std::string normal = std::filesystem::path(value).lexically_normal().string();
  if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// A user or group name as shadow-utils accepts it, or a number.
bool ValidAccountName(absl::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (name.front() == '-') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// Replaces, field by field, what `from` sets; message fields recurse.
void OverrideSetFields(const Message& from, Message* to) {
  std::unique_ptr<Message> rest(from.New());
  rest->CopyFrom(from);
  std::vector<const FieldDescriptor*> fields;
  from.GetReflection()->ListFields(from, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE && !f->is_repeated()) {
      OverrideSetFields(from.GetReflection()->GetMessage(from, f),
                        to->GetReflection()->MutableMessage(to, f));
      rest->GetReflection()->ClearField(rest.get(), f);
    } else {
      to->GetReflection()->ClearField(to, f);
    }
  }
  to->MergeFrom(*rest);
}

// protobuf 3.21 says "(log_rotation.max_files): invalid value "x" for type TYPE_INT32",
// "frob: Cannot find field." or "(log_rotation) frob: Cannot find field."; kapseld says
// "log_rotation.max_files: invalid value "x" (want an integer)" and "log_rotation.frob: unknown
// field".
std::string ExplainJsonError(std::string message) {
  std::string path;
  if (absl::StartsWith(message, "(")) {
    const size_t close = message.find(')');
    if (close != std::string::npos) {
      path = message.substr(1, close - 1);
      message = std::string(absl::StripLeadingAsciiWhitespace(
          absl::StripPrefix(absl::string_view(message).substr(close + 1), ":")));
    }
  }
  constexpr absl::string_view kUnknown = ": Cannot find field.";
  if (absl::EndsWith(message, kUnknown)) {
    const std::string field = message.substr(0, message.size() - kUnknown.size());
    return absl::StrCat(path, path.empty() ? "" : ".", field, ": unknown field");
  }
  message = absl::StrReplaceAll(message, {{" for type TYPE_BOOL", " (want true or false)"},
                                          {" for type TYPE_INT32", " (want an integer)"},
                                          {" for type TYPE_INT64", " (want an integer)"},
                                          {" for type TYPE_STRING", " (want a string)"}});
  return path.empty() ? message : absl::StrCat(path, ": ", message);
}

}  // namespace

absl::StatusOr<v1::DaemonConfig> ParseConfig(absl::string_view json) {
  v1::DaemonConfig config;
  if (absl::StripAsciiWhitespace(json).empty()) return config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(std::string(json), &config, options);
  if (!s.ok()) return absl::InvalidArgumentError(ExplainJsonError(std::string(s.message())));
  return config;
}

absl::StatusOr<v1::DaemonConfig> LoadConfigFile(const std::string& path, bool required) {
  linux::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT && !required) return v1::DaemonConfig();
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
    }
  }
  auto config = ParseConfig(text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

void ApplyOverrides(const v1::DaemonConfig& overrides, v1::DaemonConfig* config) {
  OverrideSetFields(overrides, config);
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(s[digits])) ++digits;
  if (digits == 0) return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a size"));
  std::string unit(absl::StripAsciiWhitespace(absl::string_view(s).substr(digits)));
  int shift = 0;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    shift = 10;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    shift = 20;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    shift = 30;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": unknown unit \"", unit, "\" (b, k, m or g)"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(s.substr(0, digits), &n) || n > (INT64_MAX >> shift)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is too large"));
  }
  return n << shift;
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  ListenAddress out;
  out.text = std::string(text);
  if (absl::StartsWith(text, "unix:")) {
    out.kind = ListenAddress::Kind::kUnix;
    out.path = std::string(text.substr(strlen("unix:")));
    if (out.path.empty() || out.path.front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": a Unix socket needs an absolute path"));
    }
    if (out.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": socket path too long"));
    }
    return out;
  }
  out.kind = ListenAddress::Kind::kTcp;
  absl::string_view host, port;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": want [ADDRESS]:PORT"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": want unix:/PATH or 127.0.0.1:PORT"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": bad port \"", port, "\""));
  }
  out.port = static_cast<uint16_t>(port_number);
  if (host == "localhost") host = "127.0.0.1";
  const std::string host_str(host);
  in_addr v4;
  in6_addr v6;
  bool loopback = false;
  if (inet_pton(AF_INET, host_str.c_str(), &v4) == 1) {
    loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, host_str.c_str(), &v6) == 1) {
    loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": \"", host, "\" is not a numeric address or localhost"));
  }
  if (!loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\": ", host,
        " is not a loopback address; metrics are served on loopback or a Unix socket only"));
  }
  out.host = host_str;
  return out;
}

absl::StatusOr<DaemonSettings> ResolveSettings(const v1::DaemonConfig& c) {
  DaemonSettings out;
  auto path_or = [](absl::string_view field, const std::string& value,
                    const std::string& fallback) -> absl::StatusOr<std::string> {
    return AbsolutePath(field, value.empty() ? fallback : value);
  };
  auto data_root = path_or("data_root", c.data_root(), kDefaultDataRoot);
  if (!data_root.ok()) return data_root.status();
  out.data_root = *data_root;
  auto exec_root = path_or("exec_root", c.exec_root(), kDefaultExecRoot);
  if (!exec_root.ok()) return exec_root.status();
  out.exec_root = *exec_root;
  auto socket = path_or("socket", c.socket(), out.exec_root + "/kapsel.sock");
  if (!socket.ok()) return socket.status();
  if (socket->size() >= sizeof(sockaddr_un::sun_path)) {
    return FieldError("socket", absl::StrCat("\"", *socket, "\" is longer than ",
                                             sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  out.socket_path = *socket;

  out.socket_group = c.socket_group().empty() ? kDefaultSocketGroup : c.socket_group();
  out.socket_group_explicit = !c.socket_group().empty();
  if (!ValidAccountName(out.socket_group)) {
    return FieldError("socket_group",
                      absl::StrCat("\"", out.socket_group, "\" is not a valid group name"));
  }

  out.log_level = c.log_level().empty() ? kDefaultLogLevel : c.log_level();
  if (std::find(std::begin(kLogLevels), std::end(kLogLevels), out.log_level) ==
      std::end(kLogLevels)) {
    return FieldError("log_level", absl::StrCat("\"", out.log_level, "\" is not one of ",
                                                absl::StrJoin(kLogLevels, ", ")));
  }
  if (c.log_format().empty() || c.log_format() == "text") {
    out.log_format = LogFormat::kText;
  } else if (c.log_format() == "json") {
    out.log_format = LogFormat::kJson;
  } else {
    return FieldError("log_format",
                      absl::StrCat("\"", c.log_format(), "\" is not one of text, json"));
  }

  out.log_rotation.max_size_bytes = kDefaultLogMaxSize;
  out.log_rotation.max_files = kDefaultLogMaxFiles;
  if (!c.log_rotation().max_size().empty()) {
    auto size = ParseByteSize(c.log_rotation().max_size());
    if (!size.ok()) return FieldError("log_rotation.max_size", size.status().message());
    if (*size < kMinLogMaxSize) {
      return FieldError("log_rotation.max_size",
                        absl::StrCat(*size, " bytes is below the minimum of 4k"));
    }
    out.log_rotation.max_size_bytes = *size;
  }
  if (c.log_rotation().max_files() != 0) {
    if (c.log_rotation().max_files() < 1 || c.log_rotation().max_files() > (1 << 20)) {
      return FieldError("log_rotation.max_files",
                        absl::StrCat(c.log_rotation().max_files(), " is not in 1..1048576"));
    }
    out.log_rotation.max_files = c.log_rotation().max_files();
  }

  if (!c.bridge_subnet().empty()) {
    auto subnet = network::Ipv4Subnet::Parse(c.bridge_subnet());
    if (!subnet.ok()) return FieldError("bridge_subnet", subnet.status().message());
    out.bridge_subnet = subnet->ToString();
  }
  out.ip_forward = c.has_ip_forward() ? c.ip_forward() : true;

  if (!c.cgroup_parent().empty()) {
    const std::string& parent = c.cgroup_parent();
    if (parent.front() == '/' || parent.back() == '/' || absl::StrContains(parent, "..") ||
        absl::StrContains(parent, "//")) {
      return FieldError("cgroup_parent",
                        absl::StrCat("\"", parent, "\" must be a relative cgroup path"));
    }
    for (char ch : parent) {
      if (!absl::ascii_isalnum(ch) && ch != '_' && ch != '-' && ch != '.' && ch != '/' &&
          ch != '@') {
        return FieldError("cgroup_parent", absl::StrCat("\"", parent,
                                                        "\": only letters, digits and _-.@/ are "
                                                        "allowed"));
      }
    }
    out.cgroup_parent = parent;
  }

  for (int i = 0; i < c.default_ulimits_size(); ++i) {
    auto u = ParseUlimit(c.default_ulimits(i), absl::StrCat("default_ulimits[", i, "]"));
    if (!u.ok()) return u.status();
    for (const ProcessRlimit& seen : out.default_ulimits) {
      if (seen.type == u->type) {
        return FieldError(absl::StrCat("default_ulimits[", i, "]"),
                          absl::StrCat(c.default_ulimits(i).name(), " is given twice"));
      }
    }
    out.default_ulimits.push_back(*u);
  }

  if (!c.userns_remap().empty()) {
    const std::string& remap = c.userns_remap();
    size_t colon = remap.find(':');
    absl::string_view user = absl::string_view(remap).substr(0, colon);
    absl::string_view group =
        colon == std::string::npos ? "" : absl::string_view(remap).substr(colon + 1);
    if (!ValidAccountName(user) || (colon != std::string::npos && !ValidAccountName(group))) {
      return FieldError("userns_remap",
                        absl::StrCat("\"", remap, "\" is not \"default\" or USER[:GROUP]"));
    }
    // Its ranges are read from /etc/subuid and /etc/subgid when kapseld starts.
    out.userns_remap = remap;
  }

  for (int i = 0; i < c.insecure_registries_size(); ++i) {
    const std::string& r = c.insecure_registries(i);
    const std::string field = absl::StrCat("insecure_registries[", i, "]");
    if (r.empty() || absl::StrContains(r, "://") || absl::StrContains(r, "/")) {
      return FieldError(field, absl::StrCat("\"", r, "\" is not a registry HOST[:PORT]"));
    }
    for (char ch : r) {
      if (!absl::ascii_isalnum(ch) && ch != '.' && ch != '-' && ch != ':' && ch != '[' &&
          ch != ']') {
        return FieldError(field, absl::StrCat("\"", r, "\" is not a registry HOST[:PORT]"));
      }
    }
    out.insecure_registries.push_back(r);
  }

  if (!c.cni_config_dir().empty()) {
    auto path = AbsolutePath("cni_config_dir", c.cni_config_dir());
    if (!path.ok()) return path.status();
    out.cni_config_dir = *path;
  }
  if (c.cni_plugin_dirs_size() > 0) out.cni_plugin_dirs.clear();
  for (int i = 0; i < c.cni_plugin_dirs_size(); ++i) {
    auto path = AbsolutePath(absl::StrCat("cni_plugin_dirs[", i, "]"), c.cni_plugin_dirs(i));
    if (!path.ok()) return path.status();
    // CNI_PATH is ':'-separated.
    if (absl::StrContains(*path, ':')) {
      return FieldError(absl::StrCat("cni_plugin_dirs[", i, "]"),
                        absl::StrCat("\"", *path, "\" must not contain ':'"));
    }
    out.cni_plugin_dirs.push_back(*path);
  }
  out.init_path = kDefaultInitPath;
  if (!c.init_path().empty()) {
    auto path = AbsolutePath("init_path", c.init_path());
    if (!path.ok()) return path.status();
    out.init_path = *path;
  }
  if (!c.metrics().empty()) {
    auto address = ParseListenAddress(c.metrics());
    if (!address.ok()) return FieldError("metrics", address.status().message());
    out.metrics = *address;
  }
  return out;
}

v1::DaemonConfig Normalize(const v1::DaemonConfig& config) {
  v1::DaemonConfig n = config;
  auto settings = ResolveSettings(config);
  if (!settings.ok()) return n;
  n.set_data_root(settings->data_root);
  n.set_exec_root(settings->exec_root);
  n.set_socket(settings->socket_path);
  n.set_socket_group(settings->socket_group);
  n.set_log_level(settings->log_level);
  n.set_log_format(settings->log_format == LogFormat::kJson ? "json" : "text");
  n.mutable_log_rotation()->set_max_size(absl::StrCat(settings->log_rotation.max_size_bytes));
  n.mutable_log_rotation()->set_max_files(settings->log_rotation.max_files);
  n.set_bridge_subnet(settings->bridge_subnet);
  n.set_ip_forward(settings->ip_forward);
  n.set_cgroup_parent(settings->cgroup_parent);
  n.set_userns_remap(settings->userns_remap);
  n.set_cni_config_dir(settings->cni_config_dir);
  n.clear_cni_plugin_dirs();
  for (const std::string& d : settings->cni_plugin_dirs) n.add_cni_plugin_dirs(d);
  return n;
}

absl::StatusOr<DaemonSettings> LoadSettings(const std::string& path, bool required,
                                            const v1::DaemonConfig& overrides,
                                            v1::DaemonConfig* normalized) {
  auto config = LoadConfigFile(path, required);
  if (!config.ok()) return config.status();
  ApplyOverrides(overrides, &*config);
  auto settings = ResolveSettings(*config);
  if (!settings.ok()) return settings.status();
  if (normalized != nullptr) *normalized = Normalize(*config);
  return settings;
}

ReloadPlan PlanReload(const v1::DaemonConfig& running, const v1::DaemonConfig& fresh) {
  ReloadPlan plan;
  const google::protobuf::Descriptor* d = v1::DaemonConfig::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    google::protobuf::util::MessageDifferencer differ;
    if (differ.CompareWithFields(running, fresh, {f}, {f})) continue;
    const bool reloadable = std::find(std::begin(kReloadable), std::end(kReloadable), f->name()) !=
                            std::end(kReloadable);
    (reloadable ? plan.applied : plan.restart_needed).push_back(f->name());
  }
  return plan;
}

void ApplyReload(const ReloadPlan& plan, const v1::DaemonConfig& fresh, v1::DaemonConfig* running) {
  v1::DaemonConfig applied = fresh;
  const google::protobuf::Descriptor* d = v1::DaemonConfig::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const bool reload =
        std::find(plan.applied.begin(), plan.applied.end(), f->name()) != plan.applied.end();
    if (reload) {
      running->GetReflection()->ClearField(running, f);
    } else {
      applied.GetReflection()->ClearField(&applied, f);
    }
  }
  running->MergeFrom(applied);
}

absl::StatusOr<uint32_t> ResolveSocketGroup(const std::string& name) {
  struct group g;
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  int rc;
  while ((rc = getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1 << 22)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return absl::ErrnoToStatus(rc, absl::StrCat("getgrnam ", name));
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("socket_group: group \"", name, "\" does not exist"));
  }
  return static_cast<uint32_t>(g.gr_gid);
}

}  // namespace kapsel::daemon
