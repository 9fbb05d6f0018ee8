#include "daemon/systemd.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kapsel::daemon::systemd {
namespace {

void Notify(const std::string& state) {
  // sd_notify returns 0 without $NOTIFY_SOCKET: not started by systemd (or a Type= without it).
  (void)sd_notify(/*unset_environment=*/0, state.c_str());
}

}  // namespace

void NotifyReady(absl::string_view status) { Notify(absl::StrCat("READY=1\nSTATUS=", status)); }

void NotifyReloading() {
  // MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) match the reload to this message.
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  Notify(absl::StrCat("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=", usec));
}

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=shutting down; containers keep running"); }

void NotifyStatus(absl::string_view status) { Notify(absl::StrCat("STATUS=", status)); }

absl::StatusOr<std::optional<linux::UniqueFd>> TakeActivatedSocket() {
  // unset_environment=1: LISTEN_* go now; the fds get FD_CLOEXEC from sd_listen_fds.
  const int n = sd_listen_fds(1);
  if (n < 0) return absl::ErrnoToStatus(-n, "sd_listen_fds");
  if (n == 0) return std::nullopt;
  for (int fd = SD_LISTEN_FDS_START + 1; fd < SD_LISTEN_FDS_START + n; ++fd) close(fd);
  linux::UniqueFd fd(SD_LISTEN_FDS_START);
  if (n > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("systemd passed ", n, " sockets; kapseld takes one (its API socket)"));
  }
  const int r = sd_is_socket_unix(fd.get(), SOCK_STREAM, /*listening=*/1, nullptr, 0);
  if (r < 0) return absl::ErrnoToStatus(-r, "sd_is_socket_unix on the socket systemd passed");
  if (r == 0) {
    return absl::InvalidArgumentError(
        "the socket systemd passed is not a listening Unix stream socket "
        "(kapseld.socket wants ListenStream=/path)");
  }
  return fd;
}

bool JournalStreamMatches(const char* journal_stream, uint64_t dev, uint64_t ino) {
  if (journal_stream == nullptr) return false;
  std::vector<std::string> parts = absl::StrSplit(journal_stream, ':');
  uint64_t want_dev = 0, want_ino = 0;
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], &want_dev) &&
         absl::SimpleAtoi(parts[1], &want_ino) && want_dev == dev && want_ino == ino;
}

bool StderrIsJournal() {
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return JournalStreamMatches(getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

}  // namespace kapsel::daemon::systemd
