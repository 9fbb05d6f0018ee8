#include "daemon/shim_spawn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"

namespace kapsel::daemon {

absl::StatusOr<pid_t> SpawnShim(const ShimSpawn& spawn) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  for (const auto& [from, to] : spawn.fds) posix_spawn_file_actions_adddup2(&actions, from, to);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      (spawn.new_session ? POSIX_SPAWN_SETSID : 0));
  std::vector<std::string> args = {"kapsel-shim"};
  args.insert(args.end(), spawn.args.begin(), spawn.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env, nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, spawn.shim_path.c_str(), &actions, &attr, argv.data(), envp);
  if (rc != 0) return linux::ErrnoStatus(rc, absl::StrCat("spawn ", spawn.shim_path));
  return pid;
}

absl::StatusOr<std::string> ReadReport(int fd, int timeout_millis) {
  std::string text;
  char buf[4096];
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int n = poll(&pfd, 1, timeout_millis);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return linux::ErrnoStatus(errno, "poll the shim's status pipe");
    if (n == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("kapsel-shim did not report within ", timeout_millis / 1000, "s"));
    }
    ssize_t got = read(fd, buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return linux::ErrnoStatus(errno, "read the shim's status pipe");
    if (got == 0) return text;
    text.append(buf, static_cast<size_t>(got));
  }
}

}  // namespace kapsel::daemon
