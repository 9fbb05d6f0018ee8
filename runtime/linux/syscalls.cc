#include "runtime/linux/syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kapsel::linux {

absl::Status ErrnoStatus(int err, absl::string_view what) { return absl::ErrnoToStatus(err, what); }

absl::StatusOr<std::string> ReadAllBounded(int fd, size_t limit, absl::string_view what) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", what));
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > limit) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": larger than ", limit, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  return ReadAllBounded(fd.get(), limit, path);
}

long RawClone3(struct clone_args* args) { return syscall(SYS_clone3, args, sizeof(*args)); }

absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("pidfd_open ", pid));
  return UniqueFd(fd);
}

absl::Status PidfdSendSignal(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0) {
    return ErrnoStatus(errno, absl::StrCat("pidfd_send_signal ", sig));
  }
  return absl::OkStatus();
}

int RawOpenat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
}

absl::StatusOr<UniqueFd> Openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t mode,
                                 uint64_t resolve) {
  int fd = RawOpenat2(dirfd, path.c_str(), flags, mode, resolve);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("openat2 ", path));
  return UniqueFd(fd);
}

int RawPivotRoot(const char* new_root, const char* put_old) {
  return static_cast<int>(syscall(SYS_pivot_root, new_root, put_old));
}

int RawCloseRange(unsigned first, unsigned last, unsigned flags) {
  return static_cast<int>(syscall(SYS_close_range, first, last, flags));
}

uint64_t ProcStatField(pid_t pid, size_t n) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos || n < 3 || close_paren + 2 > text.size()) return 0;
  std::vector<std::string> fields = absl::StrSplit(text.substr(close_paren + 2), ' ');
  uint64_t v = 0;
  if (fields.size() > n - 3) (void)absl::SimpleAtoi(fields[n - 3], &v);
  return v;
}

}  // namespace kapsel::linux
