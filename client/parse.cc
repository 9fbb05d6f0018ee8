#include "client/parse.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kapsel::client {
namespace {

struct SignalName {
  const char* name;
  int number;
};

// The first name of a number is its canonical one. Numbers come from <csignal>, so they are the
// ones of the architecture kapselctl and kapseld run on.
constexpr SignalName kSignals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},         {"POLL", SIGPOLL},     {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

bool IsLowerAlnum(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }

// A path component of a repository name: lower-case alphanumerics separated by '.', '_', "__"
// or dashes, neither first nor last.
absl::Status CheckPathComponent(absl::string_view component, absl::string_view ref) {
  if (component.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid reference format \"", ref, "\": empty name component"));
  }
  for (char c : component) {
    if (absl::ascii_isupper(c)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid reference format \"", ref,
                                                     "\": repository name must be lowercase"));
    }
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat("invalid reference format \"", ref,
                                                     "\": invalid character '", std::string(1, c),
                                                     "' in repository name"));
    }
  }
  if (!IsLowerAlnum(component.front()) || !IsLowerAlnum(component.back())) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid reference format \"", ref,
                     "\": name components must start and end with a letter or digit"));
  }
  return absl::OkStatus();
}

// A registry host: letters, digits, '.' and '-', with an optional :port.
bool IsDomain(absl::string_view component) {
  absl::string_view host = component;
  // An IPv6 literal in brackets: "[::1]", "[::1]:5000".
  if (absl::ConsumePrefix(&host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    struct in6_addr addr;
    if (inet_pton(AF_INET6, std::string(host.substr(0, close)).c_str(), &addr) != 1) return false;
    absl::string_view port = host.substr(close + 1);
    if (port.empty()) return true;
    if (!absl::ConsumePrefix(&port, ":") || port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return false;
    }
    return true;
  }
  if (size_t colon = component.find(':'); colon != absl::string_view::npos) {
    host = component.substr(0, colon);
    absl::string_view port = component.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return false;
    }
  }
  if (host.empty()) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool LooksLikeDomain(absl::string_view component) {
  return absl::StrContains(component, '.') || absl::StrContains(component, ':') ||
         component == "localhost" || absl::AsciiStrToLower(component) != component;
}

absl::Status CheckTag(absl::string_view tag, absl::string_view ref) {
  bool ok = !tag.empty() && tag.size() <= 128 && (absl::ascii_isalnum(tag[0]) || tag[0] == '_');
  for (char c : tag) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid reference format \"", ref, "\": invalid tag \"", tag, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckDigest(absl::string_view digest, absl::string_view ref) {
  absl::string_view hex = digest;
  bool ok = absl::ConsumePrefix(&hex, "sha256:") && hex.size() == 64;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid reference format \"", ref, "\": invalid digest \"", digest, "\""));
  }
  return absl::OkStatus();
}

absl::Status InvalidSize(absl::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid size \"", value, "\": want a number with an optional unit b, k, m, g, t or p"));
}

bool IsValidContainerName(absl::string_view name) {
  if (name.size() < 2 || !absl::ascii_isalnum(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<std::optional<std::string>> ParseEnvVar(absl::string_view arg,
                                                       const EnvLookup& env) {
  size_t eq = arg.find('=');
  absl::string_view key = arg.substr(0, eq);
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid environment variable \"", arg, "\": empty name"));
  }
  if (eq != absl::string_view::npos) return std::string(arg);
  std::optional<std::string> value = env(std::string(key));
  if (!value.has_value()) return std::nullopt;
  return absl::StrCat(key, "=", *value);
}

absl::StatusOr<std::vector<std::string>> ParseEnvVars(const std::vector<std::string>& args,
                                                      const EnvLookup& env) {
  std::vector<std::string> result;
  result.reserve(args.size());
  for (const std::string& arg : args) {
    absl::StatusOr<std::optional<std::string>> var = ParseEnvVar(arg, env);
    if (!var.ok()) return var.status();
    if (var->has_value()) result.push_back(**var);
  }
  return result;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view arg) {
  std::pair<std::string, std::string> label = absl::StrSplit(arg, absl::MaxSplits('=', 1));
  if (label.first.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid label \"", arg, "\": empty key"));
  }
  return label;
}

std::string ImageReference::String() const {
  std::string s = name;
  if (!tag.empty()) absl::StrAppend(&s, ":", tag);
  if (!digest.empty()) absl::StrAppend(&s, "@", digest);
  return s;
}

absl::StatusOr<ImageReference> ParseImageReference(absl::string_view ref) {
  if (ref.empty()) {
    return absl::InvalidArgumentError("invalid reference format: empty image reference");
  }
  ImageReference result;
  absl::string_view rest = ref;
  if (size_t at = rest.find('@'); at != absl::string_view::npos) {
    result.digest = std::string(rest.substr(at + 1));
    if (absl::Status s = CheckDigest(result.digest, ref); !s.ok()) return s;
    rest = rest.substr(0, at);
  }
  // A colon after the last slash starts the tag; one before it belongs to a registry port.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    result.tag = std::string(rest.substr(colon + 1));
    if (absl::Status s = CheckTag(result.tag, ref); !s.ok()) return s;
    rest = rest.substr(0, colon);
  }
  std::vector<absl::string_view> components = absl::StrSplit(rest, '/');
  for (size_t i = 0; i < components.size(); ++i) {
    if (i == 0 && components.size() > 1 && LooksLikeDomain(components[0])) {
      if (!IsDomain(components[0])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid reference format \"", ref, "\": invalid registry \"", components[0], "\""));
      }
      continue;
    }
    if (absl::Status s = CheckPathComponent(components[i], ref); !s.ok()) return s;
  }
  result.name = std::string(rest);
  if (result.tag.empty() && result.digest.empty()) result.tag = "latest";
  return result;
}

absl::StatusOr<int64_t> ParseMemorySize(absl::string_view value) {
  std::string lower = absl::AsciiStrToLower(value);
  absl::string_view s = lower;
  size_t digits_end = 0;
  while (digits_end < s.size() && (absl::ascii_isdigit(s[digits_end]) || s[digits_end] == '.')) {
    ++digits_end;
  }
  absl::string_view number = s.substr(0, digits_end);
  absl::string_view unit = s.substr(digits_end);
  if (number.empty() || !absl::ascii_isdigit(number.front()) ||
      !absl::ascii_isdigit(number.back()) || std::count(number.begin(), number.end(), '.') > 1) {
    return InvalidSize(value);
  }
  int shift = 0;
  if (!unit.empty()) {
    constexpr absl::string_view kUnits = "bkmgtp";
    size_t index = kUnits.find(unit.front());
    if (index == absl::string_view::npos) return InvalidSize(value);
    shift = static_cast<int>(index) * 10;
    unit.remove_prefix(1);
    // "b" alone, or "k", "kb", "kib" and the like.
    if (shift != 0 && !unit.empty() && unit != "b" && unit != "ib") return InvalidSize(value);
    if (shift == 0 && !unit.empty()) return InvalidSize(value);
  }
  if (!absl::StrContains(number, '.')) {
    uint64_t n;
    if (!absl::SimpleAtoi(number, &n)) return InvalidSize(value);
    if (n > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) >> shift)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid size \"", value, "\": too large"));
    }
    return static_cast<int64_t>(n << shift);
  }
  double d;
  if (!absl::SimpleAtod(number, &d)) return InvalidSize(value);
  double bytes = std::ldexp(d, shift);
  // 2^63 is the first double past int64's range.
  if (!(bytes < std::ldexp(1.0, 63))) {
    return absl::InvalidArgumentError(absl::StrCat("invalid size \"", value, "\": too large"));
  }
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<int> ParseSignal(absl::string_view value) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("invalid signal \"", value, "\""));
  };
  if (!value.empty() && absl::ascii_isdigit(value.front())) {
    int n;
    if (!absl::SimpleAtoi(value, &n) || n < 1 || n > SIGRTMAX) return invalid();
    return n;
  }
  std::string name = absl::AsciiStrToUpper(value);
  absl::string_view bare = name;
  absl::ConsumePrefix(&bare, "SIG");
  for (const SignalName& signal : kSignals) {
    if (bare == signal.name) return signal.number;
  }
  // Real-time signals: RTMIN, RTMIN+n, RTMAX, RTMAX-n (signal(7)).
  int base = 0;
  int sign = 1;
  if (absl::ConsumePrefix(&bare, "RTMIN")) {
    base = SIGRTMIN;
  } else if (absl::ConsumePrefix(&bare, "RTMAX")) {
    base = SIGRTMAX;
    sign = -1;
  } else {
    return invalid();
  }
  int offset = 0;
  if (!bare.empty()) {
    if (!absl::ConsumePrefix(&bare, sign > 0 ? "+" : "-") || bare.empty() ||
        !absl::ascii_isdigit(bare.front()) || !absl::SimpleAtoi(bare, &offset)) {
      return invalid();
    }
  }
  int n = base + sign * offset;
  if (n < SIGRTMIN || n > SIGRTMAX) return invalid();
  return n;
}

absl::StatusOr<std::string> NormalizeSignal(absl::string_view value) {
  absl::StatusOr<int> n = ParseSignal(value);
  if (!n.ok()) return n.status();
  for (const SignalName& signal : kSignals) {
    if (signal.number == *n) return std::string(signal.name);
  }
  return absl::StrCat(*n);
}

absl::StatusOr<double> ParseCpus(absl::string_view value) {
  double cpus;
  if (!absl::SimpleAtod(value, &cpus) || !std::isfinite(cpus) || cpus < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid cpus \"", value, "\": want a non-negative number of CPUs such as 0.5"));
  }
  return cpus;
}

FileReader LocalFiles() {
  return [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    return ss.str();
  };
}

absl::Status ParseSecurityOpt(absl::string_view opt, const FileReader& files,
                              kapsel::v1::SecurityOptions* security) {
  // docker accepts both "key=value" and the older "key:value".
  size_t sep = opt.find_first_of("=:");
  absl::string_view key = opt.substr(0, sep);
  absl::string_view value =
      sep == absl::string_view::npos ? absl::string_view() : opt.substr(sep + 1);
  if (key == "no-new-privileges") {
    if (sep == absl::string_view::npos || value == "true") {
      security->set_no_new_privileges(true);
    } else if (value == "false") {
      security->set_no_new_privileges(false);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid --security-opt \"", opt,
                                                     "\": no-new-privileges takes true or false"));
    }
    return absl::OkStatus();
  }
  if (key == "seccomp") {
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid --security-opt \"", opt, "\": want seccomp=unconfined or seccomp=FILE"));
    }
    if (value == "unconfined") {
      security->set_seccomp_unconfined(true);
      security->clear_seccomp_profile_json();
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> text = files(std::string(value));
    if (!text.ok()) {
      return absl::Status(text.status().code(),
                          absl::StrCat("--security-opt seccomp: ", text.status().message()));
    }
    security->set_seccomp_unconfined(false);
    security->set_seccomp_profile_json(*std::move(text));
    return absl::OkStatus();
  }
  if (key == "label" || key == "apparmor" || key == "systempaths") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --security-opt \"", opt, "\": ", key, " is not supported by kapsel"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid --security-opt \"", opt,
                   "\": want seccomp=unconfined, seccomp=FILE or no-new-privileges[=true|false]"));
}

absl::StatusOr<kapsel::v1::MountSpec> ParseVolume(absl::string_view value) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid volume \"", value, "\": ", why));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(value, ':');
  if (parts.size() < 2 || parts.size() > 3)
    return invalid("want HOST-PATH:CONTAINER-PATH[:OPTIONS]");
  if (parts[0].empty() || parts[0].front() != '/') {
    return invalid("the host path must be absolute (named volumes are not supported)");
  }
  if (parts[1].empty() || parts[1].front() != '/') {
    return invalid("the container path must be absolute");
  }
  kapsel::v1::MountSpec mount;
  mount.set_host_path(std::string(parts[0]));
  mount.set_container_path(std::string(parts[1]));
  mount.set_recursive(true);
  if (parts.size() == 3) {
    for (absl::string_view option : absl::StrSplit(parts[2], ',')) {
      if (option == "ro") {
        mount.set_read_only(true);
      } else if (option == "rw") {
        mount.set_read_only(false);
      } else if (option == "private" || option == "rprivate" || option == "slave" ||
                 option == "rslave") {
        mount.set_propagation(std::string(option));
      } else {
        return invalid(absl::StrCat("unknown option \"", option,
                                    "\" (want ro, rw, private, rprivate, slave or rslave)"));
      }
    }
  }
  return mount;
}

absl::StatusOr<kapsel::v1::ContainerSpec> BuildContainerSpec(const ContainerOptions& options,
                                                             const EnvLookup& env,
                                                             const FileReader& files) {
  kapsel::v1::ContainerSpec spec;
  if (absl::StatusOr<ImageReference> ref = ParseImageReference(options.image); !ref.ok()) {
    return ref.status();
  }
  spec.set_image(options.image);

  if (!options.name.empty()) {
    if (!IsValidContainerName(options.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid container name \"", options.name,
                       "\": only [a-zA-Z0-9][a-zA-Z0-9_.-]+ is allowed"));
    }
    spec.set_name(options.name);
  }
  if (!options.entrypoint.empty()) spec.add_entrypoint(options.entrypoint);
  for (const std::string& arg : options.command) spec.add_cmd(arg);

  // --env-file lines first, so that -e overrides them (as in docker).
  std::vector<std::string> env_args;
  for (const std::string& path : options.env_files) {
    absl::StatusOr<std::string> text = files(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--env-file ", path, ": ", text.status().message()));
    }
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line.front() == '#') continue;
      env_args.emplace_back(line);
    }
  }
  env_args.insert(env_args.end(), options.env.begin(), options.env.end());
  absl::StatusOr<std::vector<std::string>> vars = ParseEnvVars(env_args, env);
  if (!vars.ok()) return vars.status();
  for (std::string& var : *vars) spec.add_env(std::move(var));

  if (!options.working_dir.empty()) {
    if (options.working_dir.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid working directory \"", options.working_dir, "\": it must be an absolute path"));
    }
    spec.set_working_dir(options.working_dir);
  }
  spec.set_hostname(options.hostname);
  spec.set_user(options.user);

  for (const std::string& arg : options.labels) {
    absl::StatusOr<std::pair<std::string, std::string>> label = ParseLabel(arg);
    if (!label.ok()) return label.status();
    (*spec.mutable_labels())[label->first] = label->second;
  }

  for (const std::string& volume : options.volumes) {
    absl::StatusOr<kapsel::v1::MountSpec> mount = ParseVolume(volume);
    if (!mount.ok()) return mount.status();
    *spec.add_mounts() = *std::move(mount);
  }

  spec.set_auto_remove(options.auto_remove);
  spec.set_read_only_rootfs(options.read_only);
  spec.set_tty(options.tty);
  spec.set_open_stdin(options.interactive);

  if (options.network == "container:") {
    return absl::InvalidArgumentError("invalid network \"container:\": missing container name");
  }
  if (options.network == "cni:") {
    return absl::InvalidArgumentError("invalid network \"cni:\": missing CNI network name");
  }
  spec.set_network_mode(options.network);
  spec.set_userns(options.userns);
  // -p is checked by the daemon, which owns the grammar (runtime/network/port_spec.h).
  for (const std::string& p : options.publish) spec.add_publish(p);
  spec.set_publish_all(options.publish_all);
  for (const std::string& h : options.extra_hosts) spec.add_extra_hosts(h);

  kapsel::v1::SecurityOptions* security = spec.mutable_security();
  for (const std::string& opt : options.security_opts) {
    if (absl::Status s = ParseSecurityOpt(opt, files, security); !s.ok()) return s;
  }
  for (const std::string& cap : options.cap_add) {
    if (cap.empty()) return absl::InvalidArgumentError("--cap-add: empty capability name");
    security->add_cap_add(cap);
  }
  for (const std::string& cap : options.cap_drop) {
    if (cap.empty()) return absl::InvalidArgumentError("--cap-drop: empty capability name");
    security->add_cap_drop(cap);
  }
  security->set_privileged(options.privileged);

  if (auto s = ParseResourceFlags(options, spec.mutable_resources()); !s.ok()) return s;
  spec.set_restart_policy(options.restart);
  if (!options.stop_signal.empty()) {
    absl::StatusOr<std::string> signal = NormalizeSignal(options.stop_signal);
    if (!signal.ok()) return signal.status();
    spec.set_stop_signal(*signal);
  }
  if (options.stop_timeout >= 0) spec.set_stop_timeout_seconds(options.stop_timeout);
  for (const std::string& opt : options.log_opts) {
    if (absl::Status s = ParseLogOpt(opt, spec.mutable_log()); !s.ok()) return s;
  }
  for (const std::string& text : options.ulimits) {
    absl::StatusOr<kapsel::v1::Ulimit> ulimit = ParseUlimit(text);
    if (!ulimit.ok()) return ulimit.status();
    *spec.add_ulimits() = *std::move(ulimit);
  }
  for (const std::string& text : options.tmpfs) {
    absl::StatusOr<std::pair<std::string, std::string>> tmpfs = ParseTmpfs(text);
    if (!tmpfs.ok()) return tmpfs.status();
    if (!spec.mutable_tmpfs()->insert({tmpfs->first, tmpfs->second}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tmpfs ", tmpfs->first, ": the path is given twice"));
    }
  }
  spec.set_init(options.init);
  return spec;
}

absl::StatusOr<kapsel::v1::Ulimit> ParseUlimit(absl::string_view value) {
  const size_t eq = value.find('=');
  const absl::string_view name = value.substr(0, eq);
  std::vector<std::string> limits;
  if (eq != absl::string_view::npos) limits = absl::StrSplit(value.substr(eq + 1), ':');
  int64_t soft = 0, hard = 0;
  if (name.empty() || limits.empty() || limits.size() > 2 || !absl::SimpleAtoi(limits[0], &soft) ||
      !absl::SimpleAtoi(limits.back(), &hard)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --ulimit \"", value, "\": expected NAME=SOFT[:HARD], e.g. nofile=1024:4096"));
  }
  kapsel::v1::Ulimit ulimit;
  ulimit.set_name(std::string(name));
  ulimit.set_soft(soft);
  ulimit.set_hard(hard);
  return ulimit;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseTmpfs(absl::string_view value) {
  std::pair<std::string, std::string> path_options = absl::StrSplit(value, absl::MaxSplits(':', 1));
  if (path_options.first.empty() || path_options.first.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --tmpfs \"", value, "\": PATH must be absolute (PATH[:OPTIONS])"));
  }
  return path_options;
}

absl::Status ParseLogOpt(absl::string_view opt, kapsel::v1::LogOptions* log) {
  if (opt.empty()) return absl::InvalidArgumentError("--log-opt: empty value");
  for (absl::string_view pair : absl::StrSplit(opt, ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    auto invalid = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("invalid --log-opt \"", pair, "\": ", why));
    };
    if (kv.first == "max-size") {
      absl::StatusOr<int64_t> bytes = ParseMemorySize(kv.second);
      if (!bytes.ok()) return invalid("want a size like 10m");
      if (*bytes <= 0) return invalid("must be positive");
      log->set_max_size_bytes(*bytes);
    } else if (kv.first == "max-file") {
      int files = 0;
      if (!absl::SimpleAtoi(kv.second, &files) || files < 1) {
        return invalid("want a number of files, at least 1");
      }
      log->set_max_files(files);
    } else {
      return invalid("unknown option (want max-size or max-file)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseSince(absl::string_view value, absl::Time now) {
  const std::string text(absl::StripAsciiWhitespace(value));
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return absl::ToUnixNanos(t);
  double seconds = 0;
  if (!text.empty() && absl::ascii_isdigit(text.front()) && absl::SimpleAtod(text, &seconds)) {
    return absl::ToUnixNanos(absl::FromUnixNanos(0) + absl::Seconds(seconds));
  }
  absl::Duration d;
  if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration()) {
    return absl::ToUnixNanos(now - d);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid --since \"", value,
                   "\": want an RFC 3339 time, unix seconds or a duration like 10m"));
}

absl::Status ParseResourceFlags(const ResourceFlags& options, kapsel::v1::Resources* resources) {
  if (!options.memory.empty()) {
    absl::StatusOr<int64_t> bytes = ParseMemorySize(options.memory);
    if (!bytes.ok()) return bytes.status();
    resources->set_memory_limit_bytes(*bytes);
  }
  if (!options.memory_swap.empty()) {
    if (options.memory.empty()) {
      return absl::InvalidArgumentError("--memory-swap needs --memory");
    }
    if (options.memory_swap == "-1") {
      resources->set_memory_swap_bytes(-1);
    } else {
      absl::StatusOr<int64_t> bytes = ParseMemorySize(options.memory_swap);
      if (!bytes.ok()) return bytes.status();
      if (*bytes < resources->memory_limit_bytes()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--memory-swap ", options.memory_swap,
                         " is below --memory: it limits memory plus swap"));
      }
      resources->set_memory_swap_bytes(*bytes);
    }
  }
  if (!options.cpus.empty()) {
    absl::StatusOr<double> cpus = ParseCpus(options.cpus);
    if (!cpus.ok()) return cpus.status();
    resources->set_cpus(*cpus);
  }
  // docker spells "unlimited" -1 and the API 0.
  if (options.pids_limit < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid pids limit ", options.pids_limit,
                     ": want a positive number, or -1 for unlimited"));
  }
  resources->set_pids_limit(options.pids_limit > 0 ? options.pids_limit : 0);
  if (options.cpu_shares < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid cpu shares ", options.cpu_shares, ": must not be negative"));
  }
  resources->set_cpu_shares(static_cast<uint64_t>(options.cpu_shares));
  resources->set_cpuset_cpus(options.cpuset_cpus);
  return absl::OkStatus();
}

}  // namespace kapsel::client
