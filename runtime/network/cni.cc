#include "runtime/network/cni.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::network {
namespace {

using json = nlohmann::json;
using linux::ErrnoStatus;
using linux::UniqueFd;

constexpr size_t kMaxConfigFileBytes = 1 << 20;
constexpr size_t kMaxStdoutBytes = 1 << 20;
constexpr size_t kMaxStderrBytes = 64 << 10;
constexpr char kCacheKind[] = "kapsel-cni-cache/v1";
// Plugins get no environment from the daemon, only the CNI_* variables and this PATH (the bridge
// plugin with ipMasq, portmap and firewall run iptables or nft from it).
constexpr char kPluginPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::array<const char*, 4> kSupportedVersions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

// Names that become file names or path components: a network name, a container id (the spec's
// rule for both) and a plugin type.
bool IsSafeName(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// dev_valid_name() in net/core/dev.c: at most IFNAMSIZ-1 bytes, no '/', ':' or whitespace.
bool IsValidIfname(const std::string& s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || absl::ascii_isspace(static_cast<unsigned char>(c));
  });
}

// "1.0.0" -> {1, 0, 0}; {} when not three numbers.
std::optional<std::array<int, 3>> ParseVersion(const std::string& v) {
  std::vector<std::string> parts = absl::StrSplit(v, '.');
  if (parts.size() != 3) return std::nullopt;
  std::array<int, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!absl::SimpleAtoi(parts[i], &out[i])) return std::nullopt;
  }
  return out;
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("write ", what));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Validates a parsed configuration (list or single plugin) and builds the list.
absl::StatusOr<CniNetworkList> ListFromJson(const json& j, const std::string& source) {
  auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("CNI configuration ", source, ": ", what));
  };
  if (!j.is_object()) return invalid("not a JSON object");
  auto version = j.find("cniVersion");
  if (version == j.end() || !version->is_string()) return invalid("missing string \"cniVersion\"");
  CniNetworkList list;
  list.cni_version = version->get<std::string>();
  if (std::find(kSupportedVersions.begin(), kSupportedVersions.end(), list.cni_version) ==
      kSupportedVersions.end()) {
    return invalid(absl::StrCat("unsupported cniVersion \"", list.cni_version,
                                "\" (supported: ", absl::StrJoin(kSupportedVersions, ", "), ")"));
  }
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return invalid("missing string \"name\"");
  list.name = name->get<std::string>();
  if (!IsSafeName(list.name)) {
    return invalid(absl::StrCat("network name \"", list.name, "\" is not [A-Za-z0-9_.-]+"));
  }
  list.source = source;
  auto plugins = j.find("plugins");
  if (plugins == j.end()) {
    // A single-plugin configuration (.conf), wrapped as libcni's ConfListFromConf does.
    if (!j.contains("type"))
      return invalid("missing \"plugins\" (or \"type\" for a single plugin)");
    list.plugins.push_back(j);
  } else {
    if (!plugins->is_array() || plugins->empty())
      return invalid("\"plugins\" is not a non-empty array");
    auto disable_check = j.find("disableCheck");
    if (disable_check != j.end()) {
      if (!disable_check->is_boolean()) return invalid("\"disableCheck\" is not a boolean");
      list.disable_check = disable_check->get<bool>();
    }
    for (const json& p : *plugins) list.plugins.push_back(p);
  }
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    const json& p = list.plugins[i];
    if (!p.is_object()) return invalid(absl::StrCat("plugin ", i, " is not an object"));
    auto type = p.find("type");
    if (type == p.end() || !type->is_string()) {
      return invalid(absl::StrCat("plugin ", i, ": missing string \"type\""));
    }
    if (!IsSafeName(type->get<std::string>())) {
      return invalid(absl::StrCat("plugin ", i, ": type \"", type->get<std::string>(),
                                  "\" is not a plain file name"));
    }
  }
  return list;
}

// Plugin execution.

struct PluginOutput {
  int wait_status = 0;
  std::string stdout_text;
  std::string stderr_text;  // at most kMaxStderrBytes
};

// Reads what `fd` has now. Returns false at EOF or on an error other than EAGAIN.
bool Drain(int fd, std::string* out, size_t limit, bool* overflow) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN;
    if (n == 0) return false;
    size_t room = limit > out->size() ? limit - out->size() : 0;
    out->append(buf, std::min(room, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) > room) *overflow = true;
  }
}

absl::StatusOr<UniqueFd> MakeNonblockingReadEnd(int fds[2]) {
  UniqueFd r(fds[0]);
  int flags = fcntl(r.get(), F_GETFL);
  if (flags < 0 || fcntl(r.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoStatus(errno, "fcntl O_NONBLOCK");
  }
  return r;
}

// Moves `fd` to 3 or above. The child's dup2s onto 0, 1 and 2 must not overwrite one another's
// source, which could happen if the daemon ran with a standard fd closed.
absl::Status AboveStdio(UniqueFd* fd) {
  if (fd->get() > 2) return absl::OkStatus();
  int moved = fcntl(fd->get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return ErrnoStatus(errno, "fcntl F_DUPFD_CLOEXEC");
  fd->Reset(moved);
  return absl::OkStatus();
}

// Executes `path` with `env`, feeding `stdin_text`, and collects its output until it exits.
// The child is reaped by pid; after `timeout` its process group is SIGKILLed and DeadlineExceeded
// returned.
absl::StatusOr<PluginOutput> RunPlugin(const std::string& path, const std::vector<std::string>& env,
                                       const std::string& stdin_text, absl::Duration timeout) {
  // stdin is a memfd rather than a pipe: no writer loop racing the child, and no SIGPIPE in the
  // daemon when a plugin exits without reading its configuration.
  UniqueFd in(memfd_create("kapsel-cni-stdin", MFD_CLOEXEC));
  if (!in) return ErrnoStatus(errno, "memfd_create");
  if (absl::Status s = WriteAll(in.get(), stdin_text, "memfd"); !s.ok()) return s;
  if (lseek(in.get(), 0, SEEK_SET) < 0) return ErrnoStatus(errno, "lseek memfd");

  int out_fds[2], err_fds[2];
  if (pipe2(out_fds, O_CLOEXEC) < 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd out_w(out_fds[1]);
  absl::StatusOr<UniqueFd> out_r = MakeNonblockingReadEnd(out_fds);
  if (!out_r.ok()) return out_r.status();
  if (pipe2(err_fds, O_CLOEXEC) < 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd err_w(err_fds[1]);
  absl::StatusOr<UniqueFd> err_r = MakeNonblockingReadEnd(err_fds);
  if (!err_r.ok()) return err_r.status();
  for (UniqueFd* fd : {&in, &out_w, &err_w}) {
    if (absl::Status s = AboveStdio(fd); !s.ok()) return s;
  }

  // posix_spawn (CLONE_VFORK + exec in glibc) is safe in a multithreaded process, unlike fork.
  // dup2 clears FD_CLOEXEC on 0-2; closefrom(3) keeps any daemon fd opened without O_CLOEXEC out
  // of the plugin. The plugin gets its own process group so a timeout kills what it started, and
  // default dispositions and an empty mask so that the daemon's ignored SIGPIPE is not inherited.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  posix_spawn_file_actions_adddup2(&actions, in.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv = {const_cast<char*>(path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat("posix_spawn ", path));
  in.Close();
  out_w.Close();
  err_w.Close();

  bool reaped = false;
  int wait_status = 0;
  auto reap = [&] {
    while (!reaped) {
      if (waitpid(pid, &wait_status, 0) == pid || errno != EINTR) reaped = true;
    }
  };
  auto kill_and_reap = [&] {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    reap();
  };
  // A pidfd tells when the plugin itself exited, so that a grandchild holding its stdout open
  // (a daemon it started) does not keep us waiting for EOF.
  absl::StatusOr<UniqueFd> pidfd = linux::PidfdOpen(pid);
  if (!pidfd.ok()) {
    kill_and_reap();
    return pidfd.status();
  }

  PluginOutput output;
  bool out_overflow = false, err_overflow = false;
  bool out_open = true, err_open = true, exited = false;
  absl::Time deadline = absl::Now() + timeout;
  // The loop ends when the plugin exits, not at EOF: a plugin that closed its stdout and hangs must
  // still meet the deadline.
  while (!exited) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      kill_and_reap();
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", absl::FormatDuration(timeout), "; killed"));
    }
    std::array<struct pollfd, 3> fds = {{{out_open ? out_r->get() : -1, POLLIN, 0},
                                         {err_open ? err_r->get() : -1, POLLIN, 0},
                                         {pidfd->get(), POLLIN, 0}}};
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    int n = poll(fds.data(), fds.size(), ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = ErrnoStatus(errno, "poll");
      kill_and_reap();
      return status;
    }
    if (fds[2].revents != 0) exited = true;
    // After the exit, whatever the plugin wrote is already in the pipes: one more drain gets it.
    if (out_open && (fds[0].revents != 0 || exited)) {
      out_open = Drain(out_r->get(), &output.stdout_text, kMaxStdoutBytes, &out_overflow);
    }
    if (err_open && (fds[1].revents != 0 || exited)) {
      err_open = Drain(err_r->get(), &output.stderr_text, kMaxStderrBytes, &err_overflow);
    }
  }
  reap();
  output.wait_status = wait_status;
  if (err_overflow) output.stderr_text += "...";
  if (out_overflow) {
    return absl::InternalError(absl::StrCat("printed more than ", kMaxStdoutBytes, " bytes"));
  }
  return output;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

// One attachment: the network list, the container and where its plugins are.
struct Attachment {
  const CniOptions& options;
  const CniNetworkList& list;
  std::string container_id;
  std::string netns;
  std::string ifname;
};

absl::StatusOr<std::string> FindPlugin(const CniOptions& options, const std::string& type) {
  for (const std::string& dir : options.plugin_dirs) {
    std::string path = absl::StrCat(dir, "/", type);
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "CNI plugin \"", type, "\" not found in ",
      options.plugin_dirs.empty() ? "(no plugin dirs)" : absl::StrJoin(options.plugin_dirs, ":")));
}

absl::StatusOr<std::vector<std::string>> FindPlugins(const CniOptions& options,
                                                     const CniNetworkList& list) {
  std::vector<std::string> paths;
  for (const json& p : list.plugins) {
    absl::StatusOr<std::string> path = FindPlugin(options, p["type"].get<std::string>());
    if (!path.ok()) return path.status();
    paths.push_back(*std::move(path));
  }
  return paths;
}

// The execution configuration (spec section 3, "Deriving execution configuration from plugin
// configuration"): the plugin's object with the list's cniVersion and name inserted, prevResult
// set or absent, and capabilities removed. kapsel offers no capability, so no runtimeConfig.
json ExecutionConfig(const CniNetworkList& list, const json& plugin, const json* prev_result) {
  json conf = plugin;
  conf["cniVersion"] = list.cni_version;
  conf["name"] = list.name;
  conf.erase("capabilities");
  conf.erase("runtimeConfig");
  conf.erase("prevResult");
  if (prev_result != nullptr) conf["prevResult"] = *prev_result;
  return conf;
}

// Runs `command` for plugin `index` of the attachment's list. Returns the plugin's stdout.
absl::StatusOr<std::string> Exec(const Attachment& a, const std::string& plugin_path, size_t index,
                                 const std::string& command, const json* prev_result) {
  const json& plugin = a.list.plugins[index];
  std::string type = plugin["type"].get<std::string>();
  std::string what =
      absl::StrCat("CNI plugin ", type, " (network \"", a.list.name, "\") ", command);
  std::vector<std::string> env = {
      absl::StrCat("CNI_COMMAND=", command),
      absl::StrCat("CNI_CONTAINERID=", a.container_id),
      absl::StrCat("CNI_NETNS=", a.netns),
      absl::StrCat("CNI_IFNAME=", a.ifname),
      absl::StrCat("CNI_PATH=", absl::StrJoin(a.options.plugin_dirs, ":")),
      kPluginPath,
  };
  std::string stdin_text = ExecutionConfig(a.list, plugin, prev_result)
                               .dump(-1, ' ', false, json::error_handler_t::replace);
  absl::StatusOr<PluginOutput> out =
      RunPlugin(plugin_path, env, stdin_text, a.options.plugin_timeout);
  if (!out.ok()) {
    return absl::Status(out.status().code(), absl::StrCat(what, ": ", out.status().message()));
  }
  if (!WIFEXITED(out->wait_status) || WEXITSTATUS(out->wait_status) != 0) {
    return CniPluginError(type, a.list.name, command, out->wait_status, out->stdout_text,
                          out->stderr_text);
  }
  return std::move(out->stdout_text);
}

// DEL for plugins `last`..0, in reverse order, each with `prev_result`. Runs all of them and
// returns the first error.
absl::Status DelPlugins(const Attachment& a, const std::vector<std::string>& paths, size_t last,
                        const json* prev_result) {
  absl::Status result;
  for (size_t i = last + 1; i-- > 0;) {
    absl::StatusOr<std::string> out = Exec(a, paths[i], i, "DEL", prev_result);
    result.Update(out.status());
  }
  return result;
}

// The cache file: the list as used by ADD and the final result.

absl::Status ValidateAttachment(const CniOptions& options, const std::string& network,
                                const std::string& container_id, const std::string& ifname) {
  if (options.cache_dir.empty()) return absl::InvalidArgumentError("CNI cache_dir is empty");
  if (!IsSafeName(network)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI network name \"", network, "\" is not [A-Za-z0-9_.-]+"));
  }
  if (!IsSafeName(container_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI container id \"", container_id, "\" is not [A-Za-z0-9_.-]+"));
  }
  if (!IsValidIfname(ifname)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", ifname, "\" is not a valid interface name"));
  }
  return absl::OkStatus();
}

std::string CachePath(const CniOptions& options, const std::string& network,
                      const std::string& container_id) {
  return absl::StrCat(options.cache_dir, "/", network, "-", container_id, ".json");
}

absl::Status MakeDirs(const std::string& dir) {
  std::string path;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, "/", part);
    if (mkdir(path.c_str(), 0700) < 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
    }
  }
  return absl::OkStatus();
}

// write + fsync + rename + fsync of the directory: the file is either the old one or the new one
// after a crash or power loss.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& path,
                                 const std::string& content) {
  if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
  std::string tmp = absl::StrCat(path, ".tmp");
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", tmp));
  absl::Cleanup remove_tmp = [&] { unlink(tmp.c_str()); };
  if (fchmod(fd.get(), 0600) < 0) return ErrnoStatus(errno, absl::StrCat("fchmod ", tmp));
  if (absl::Status s = WriteAll(fd.get(), content, tmp); !s.ok()) return s;
  if (fsync(fd.get()) < 0) return ErrnoStatus(errno, absl::StrCat("fsync ", tmp));
  fd.Close();
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  std::move(remove_tmp).Cancel();
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return ErrnoStatus(errno, absl::StrCat("open ", dir));
  if (fsync(dir_fd.get()) < 0) return ErrnoStatus(errno, absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

struct CacheEntry {
  CniNetworkList list;
  json result;
};

// The cached entry; nullopt when there is none. DataLoss when the file is not what kapsel wrote.
absl::StatusOr<std::optional<CacheEntry>> ReadCache(const std::string& path) {
  absl::StatusOr<std::string> text = linux::ReadFileBounded(path, kMaxStdoutBytes * 2);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::nullopt;
    return text.status();
  }
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("kind") || j["kind"] != kCacheKind || !j.contains("config") ||
      !j.contains("result") || !j["result"].is_object()) {
    return absl::DataLossError(absl::StrCat("CNI cache file ", path, " is not valid"));
  }
  absl::StatusOr<CniNetworkList> list = ListFromJson(j["config"], path);
  if (!list.ok()) {
    return absl::DataLossError(
        absl::StrCat("CNI cache file ", path, ": ", list.status().message()));
  }
  list->source.clear();
  return CacheEntry{*std::move(list), std::move(j["result"])};
}

// Appends `more` to `status`'s message, keeping its code.
absl::Status WithNote(const absl::Status& status, absl::string_view note,
                      const absl::Status& more) {
  if (more.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), "; ", note, ": ", more.message()));
}

}  // namespace

json CniNetworkList::ToJson() const {
  json j = {{"cniVersion", cni_version}, {"name", name}, {"plugins", plugins}};
  if (disable_check) j["disableCheck"] = true;
  return j;
}

absl::StatusOr<CniNetworkList> ParseNetworkList(const std::string& text,
                                                const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("CNI configuration ", source, ": bad JSON"));
  }
  return ListFromJson(j, source);
}

absl::StatusOr<CniNetworkList> LoadNetworkList(const std::string& conf_dir,
                                               const std::string& name) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(conf_dir.c_str()), closedir);
  if (dir == nullptr) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("CNI network \"", name, "\" not found in ", conf_dir,
                                              " (no such directory)"));
    }
    return ErrnoStatus(errno, absl::StrCat("opendir ", conf_dir));
  }
  std::vector<std::string> files;
  errno = 0;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string file = entry->d_name;
    if (absl::EndsWith(file, ".conflist") || absl::EndsWith(file, ".conf") ||
        absl::EndsWith(file, ".json")) {
      files.push_back(file);
    }
  }
  if (errno != 0) return ErrnoStatus(errno, absl::StrCat("readdir ", conf_dir));
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    std::string path = absl::StrCat(conf_dir, "/", file);
    struct stat st;
    if (stat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
    absl::StatusOr<std::string> text = linux::ReadFileBounded(path, kMaxConfigFileBytes);
    if (!text.ok()) return text.status();
    // Another network's file is not validated, but one whose name cannot be read might be this
    // network's: like libcni, refuse rather than pick a later file.
    json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat("CNI configuration ", path, ": bad JSON"));
    }
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CNI configuration ", path, ": missing string \"name\""));
    }
    if (j["name"].get<std::string>() != name) continue;
    return ListFromJson(j, path);
  }
  return absl::NotFoundError(absl::StrCat("CNI network \"", name, "\" not found in ", conf_dir));
}

absl::StatusOr<CniResult> ParseCniResult(const std::string& raw, const std::string& ifname) {
  json j = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("CNI result is not a JSON object");
  CniResult result;
  result.interface = ifname;
  result.raw_json = raw;
  auto ips = j.find("ips");
  if (ips == j.end()) return result;
  if (!ips->is_array()) return absl::InvalidArgumentError("CNI result: \"ips\" is not an array");
  for (const json& ip : *ips) {
    if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) {
      return absl::InvalidArgumentError("CNI result: an \"ips\" entry has no string \"address\"");
    }
    std::string cidr = ip["address"].get<std::string>();
    if (absl::StrContains(cidr, ':')) continue;
    std::pair<std::string, std::string> parts = absl::StrSplit(cidr, absl::MaxSplits('/', 1));
    struct in_addr addr;
    int prefix = -1;
    if (inet_pton(AF_INET, parts.first.c_str(), &addr) != 1 ||
        !absl::SimpleAtoi(parts.second, &prefix) || prefix < 0 || prefix > 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("CNI result: address \"", cidr, "\" is not an IPv4 CIDR"));
    }
    result.address = parts.first;
    result.prefix_length = prefix;
    if (ip.contains("gateway") && ip["gateway"].is_string()) {
      result.gateway = ip["gateway"].get<std::string>();
    }
    auto interfaces = j.find("interfaces");
    if (ip.contains("interface") && ip["interface"].is_number_integer() && interfaces != j.end() &&
        interfaces->is_array()) {
      int64_t index = ip["interface"].get<int64_t>();
      if (index >= 0 && static_cast<size_t>(index) < interfaces->size()) {
        const json& iface = (*interfaces)[static_cast<size_t>(index)];
        if (iface.is_object() && iface.contains("name") && iface["name"].is_string()) {
          result.interface = iface["name"].get<std::string>();
        }
      }
    }
    break;
  }
  return result;
}

absl::Status CniPluginError(const std::string& type, const std::string& network,
                            const std::string& command, int wait_status,
                            const std::string& stdout_text, const std::string& stderr_text) {
  std::string message =
      absl::StrCat("CNI plugin ", type, " (network \"", network, "\") ", command, " failed: ");
  absl::StatusCode code = absl::StatusCode::kInternal;
  json j = json::parse(stdout_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("code") && j["code"].is_number_integer()) {
    int64_t cni_code = j["code"].get<int64_t>();
    if (cni_code == 3) code = absl::StatusCode::kNotFound;
    if (cni_code == 11) code = absl::StatusCode::kUnavailable;
    absl::StrAppend(&message, "code ", cni_code);
    if (j.contains("msg") && j["msg"].is_string() && !j["msg"].get<std::string>().empty()) {
      absl::StrAppend(&message, ": ", j["msg"].get<std::string>());
    }
    if (j.contains("details") && j["details"].is_string() &&
        !j["details"].get<std::string>().empty()) {
      absl::StrAppend(&message, ": ", j["details"].get<std::string>());
    }
  } else {
    absl::StrAppend(&message, DescribeWaitStatus(wait_status));
    absl::string_view out = absl::StripAsciiWhitespace(stdout_text);
    if (!out.empty()) absl::StrAppend(&message, ": ", out.substr(0, kMaxStderrBytes));
  }
  absl::string_view err = absl::StripAsciiWhitespace(stderr_text);
  if (!err.empty()) absl::StrAppend(&message, "; stderr: ", err);
  return absl::Status(code, message);
}

absl::StatusOr<CniResult> CniAdd(const CniOptions& options, const std::string& network,
                                 const std::string& container_id, const std::string& netns_path,
                                 const std::string& ifname) {
  if (absl::Status s = ValidateAttachment(options, network, container_id, ifname); !s.ok()) {
    return s;
  }
  if (netns_path.empty()) return absl::InvalidArgumentError("CNI ADD needs a network namespace");
  std::string cache_path = CachePath(options, network, container_id);
  if (access(cache_path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat("container ", container_id,
                                                 " is already attached to CNI network \"", network,
                                                 "\" (", cache_path, "); DEL it first"));
  }
  absl::StatusOr<CniNetworkList> list = LoadNetworkList(options.conf_dir, network);
  if (!list.ok()) return list.status();
  // All binaries are looked up first: a missing one fails the ADD before anything is made.
  absl::StatusOr<std::vector<std::string>> paths = FindPlugins(options, *list);
  if (!paths.ok()) return paths.status();
  Attachment a{options, *list, container_id, netns_path, ifname};

  std::optional<json> prev;
  std::string raw;
  for (size_t i = 0; i < list->plugins.size(); ++i) {
    absl::StatusOr<std::string> out = Exec(a, (*paths)[i], i, "ADD", prev ? &*prev : nullptr);
    absl::Status status = out.status();
    if (status.ok()) {
      json j = json::parse(*out, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) {
        status = absl::InternalError(absl::StrCat(
            "CNI plugin ", list->plugins[i]["type"].get<std::string>(), " (network \"", network,
            "\") ADD: ", out->empty() ? "printed no result" : "printed a result that is not JSON"));
      } else {
        prev = std::move(j);
        raw = *std::move(out);
      }
    }
    if (!status.ok()) {
      // The failed plugin may have made part of its work: DEL it too (DEL tolerates missing state).
      return WithNote(status, "rollback DEL", DelPlugins(a, *paths, i, prev ? &*prev : nullptr));
    }
  }

  absl::StatusOr<CniResult> result = ParseCniResult(raw, ifname);
  absl::Status status = result.status();
  if (status.ok()) {
    json cache = {{"kind", kCacheKind}, {"network", network},  {"containerId", container_id},
                  {"ifName", ifname},   {"netns", netns_path}, {"config", list->ToJson()},
                  {"result", *prev}};
    status = WriteFileAtomically(options.cache_dir, cache_path,
                                 cache.dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    status =
        absl::InternalError(absl::StrCat("CNI network \"", network, "\" ADD: ", status.message()));
  }
  if (!status.ok()) {
    return WithNote(status, "rollback DEL",
                    DelPlugins(a, *paths, list->plugins.size() - 1, &*prev));
  }
  return result;
}

absl::Status CniDel(const CniOptions& options, const std::string& network,
                    const std::string& container_id, const std::string& netns_path,
                    const std::string& ifname) {
  if (absl::Status s = ValidateAttachment(options, network, container_id, ifname); !s.ok()) {
    return s;
  }
  std::string cache_path = CachePath(options, network, container_id);
  absl::StatusOr<std::optional<CacheEntry>> cached = ReadCache(cache_path);
  // A damaged cache must not make DEL impossible: fall back to the current list.
  if (absl::IsDataLoss(cached.status())) cached = std::nullopt;
  if (!cached.ok()) return cached.status();
  CniNetworkList list;
  const json* prev = nullptr;
  if (cached->has_value()) {
    list = (*cached)->list;
    prev = &(*cached)->result;
  } else {
    absl::StatusOr<CniNetworkList> current = LoadNetworkList(options.conf_dir, network);
    if (absl::IsNotFound(current.status())) {
      if (unlink(cache_path.c_str()) < 0 && errno != ENOENT) {
        return ErrnoStatus(errno, absl::StrCat("unlink ", cache_path));
      }
      return absl::OkStatus();
    }
    if (!current.ok()) return current.status();
    list = *std::move(current);
  }
  absl::StatusOr<std::vector<std::string>> paths = FindPlugins(options, list);
  if (!paths.ok()) return paths.status();
  // The spec lets DEL run without a namespace: the plugins then clean up what is outside it.
  struct stat st;
  std::string netns = (!netns_path.empty() && stat(netns_path.c_str(), &st) == 0) ? netns_path : "";
  Attachment a{options, list, container_id, netns, ifname};
  if (absl::Status s = DelPlugins(a, *paths, list.plugins.size() - 1, prev); !s.ok()) return s;
  if (unlink(cache_path.c_str()) < 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", cache_path));
  }
  return absl::OkStatus();
}

namespace {

// The cached entry of the pair; NotFound when there is none.
absl::StatusOr<CacheEntry> RequireCache(const CniOptions& options, const std::string& network,
                                        const std::string& container_id) {
  std::string cache_path = CachePath(options, network, container_id);
  absl::StatusOr<std::optional<CacheEntry>> cached = ReadCache(cache_path);
  if (!cached.ok()) return cached.status();
  if (!cached->has_value()) {
    return absl::NotFoundError(absl::StrCat("container ", container_id,
                                            " is not attached to CNI network \"", network,
                                            "\" (no ", cache_path, ")"));
  }
  return **std::move(cached);
}

}  // namespace

absl::Status CniCheck(const CniOptions& options, const std::string& network,
                      const std::string& container_id, const std::string& netns_path,
                      const std::string& ifname) {
  if (absl::Status s = ValidateAttachment(options, network, container_id, ifname); !s.ok()) {
    return s;
  }
  absl::StatusOr<CacheEntry> cached = RequireCache(options, network, container_id);
  if (!cached.ok()) return cached.status();
  const CacheEntry& entry = *cached;
  if (entry.list.disable_check) return absl::OkStatus();
  std::optional<std::array<int, 3>> version = ParseVersion(entry.list.cni_version);
  if (!version || *version < std::array<int, 3>{0, 4, 0}) {
    return absl::FailedPreconditionError(
        absl::StrCat("CNI network \"", network, "\": CHECK needs cniVersion 0.4.0 or later, not ",
                     entry.list.cni_version));
  }
  absl::StatusOr<std::vector<std::string>> paths = FindPlugins(options, entry.list);
  if (!paths.ok()) return paths.status();
  Attachment a{options, entry.list, container_id, netns_path, ifname};
  for (size_t i = 0; i < entry.list.plugins.size(); ++i) {
    absl::StatusOr<std::string> out = Exec(a, (*paths)[i], i, "CHECK", &entry.result);
    if (!out.ok()) return out.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<CniResult> CniCachedResult(const CniOptions& options, const std::string& network,
                                          const std::string& container_id,
                                          const std::string& ifname) {
  absl::StatusOr<CacheEntry> cached = RequireCache(options, network, container_id);
  if (!cached.ok()) return cached.status();
  return ParseCniResult(cached->result.dump(), ifname);
}

}  // namespace kapsel::network
