// Makes one system call inside a test container and prints "<name> <errno>" (0 on success), so a
// test can tell what a seccomp filter did with it. Built static: the rootfs has only busybox.
//
// usage: seccomp_probe CALL [ARG]
//   personality VALUE   personality(VALUE)
//   unshare-user        unshare(CLONE_NEWUSER)
//   clone-newns         clone(CLONE_NEWNS | SIGCHLD), the child exits at once
//   clone-plain         clone(SIGCHLD)
//   clone3              clone3 with empty arguments (fork-like)
//   keyctl              add_key("user", "kapsel", "x", 1, KEY_SPEC_PROCESS_KEYRING)
//   mount               mount("tmpfs", "/mnt", "tmpfs", 0, NULL)
//   mkdir PATH          mkdir(PATH, 0755)
//   getpid              getpid()

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

long Result(long rc) { return rc < 0 ? errno : 0; }

// A raw clone that behaves like fork: the child exits at once, the parent reaps it.
long ForkLike(long rc) {
  if (rc == 0) _exit(0);
  if (rc < 0) return errno;
  int status;
  waitpid(static_cast<pid_t>(rc), &status, __WALL);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: seccomp_probe CALL [ARG]\n");
    return 2;
  }
  const char* call = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";
  long err;
  if (strcmp(call, "personality") == 0) {
    err = Result(syscall(SYS_personality, strtoul(arg, nullptr, 0)));
  } else if (strcmp(call, "unshare-user") == 0) {
    err = Result(syscall(SYS_unshare, CLONE_NEWUSER));
  } else if (strcmp(call, "clone-newns") == 0) {
    err = ForkLike(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
  } else if (strcmp(call, "clone-plain") == 0) {
    err = ForkLike(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  } else if (strcmp(call, "clone3") == 0) {
    struct clone_args args = {};
    args.exit_signal = SIGCHLD;
    err = ForkLike(syscall(SYS_clone3, &args, sizeof(args)));
  } else if (strcmp(call, "keyctl") == 0) {
    err = Result(syscall(SYS_add_key, "user", "kapsel", "x", 1, -2 /* process keyring */));
  } else if (strcmp(call, "mount") == 0) {
    err = Result(mount("tmpfs", "/mnt", "tmpfs", 0, nullptr));
  } else if (strcmp(call, "mkdir") == 0) {
    err = Result(mkdir(arg, 0755));
  } else if (strcmp(call, "getpid") == 0) {
    err = Result(syscall(SYS_getpid));
  } else {
    fprintf(stderr, "seccomp_probe: unknown call %s\n", call);
    return 2;
  }
  printf("%s %ld\n", call, err);
  return 0;
}
