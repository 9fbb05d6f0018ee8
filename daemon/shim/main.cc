// kapsel-shim: one per container. kapseld execs it (never forks itself: it is multithreaded); it
// creates the container through the runtime core, writes the container's stdout and stderr to
// the log, waits for the exit, and leaves an exit record. Its own session and its independence
// from kapseld let containers and their exit codes outlive a restart or a crash of the daemon.

#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "daemon/shim/exec.h"
#include "daemon/shim/mount_helper.h"
#include "daemon/shim/shim.h"

namespace {

void Usage() {
  fprintf(stderr,
          "usage: kapsel-shim --id ID --bundle DIR --state-dir DIR --log FILE [--status-fd N]\n"
          "                   [--log-max-size BYTES] [--log-max-files N] [--stdin]\n"
          "                   [--attach-fd N] [--seccomp-cache DIR]\n"
          "       kapsel-shim mount-add|mount-rm ... (see mount_helper.h)\n"
          "       kapsel-shim exec ... -- CMD... (see exec.h)\n");
}

}  // namespace

int main(int argc, char** argv) {
  // The helper modes for mounts added to a running container (mount_helper.h).
  if (argc > 1 && (strcmp(argv[1], "mount-add") == 0 || strcmp(argv[1], "mount-rm") == 0)) {
    return kapsel::shim::MountHelperMain(argc - 1, argv + 1);
  }
  // A new process in a running container (exec.h).
  if (argc > 1 && strcmp(argv[1], "exec") == 0) return kapsel::shim::ExecMain(argc - 1, argv + 1);
  kapsel::shim::Options options;
  static const struct option kLong[] = {{"id", required_argument, nullptr, 'i'},
                                        {"bundle", required_argument, nullptr, 'b'},
                                        {"state-dir", required_argument, nullptr, 's'},
                                        {"log", required_argument, nullptr, 'l'},
                                        {"status-fd", required_argument, nullptr, 'f'},
                                        {"log-max-size", required_argument, nullptr, 'm'},
                                        {"log-max-files", required_argument, nullptr, 'n'},
                                        {"stdin", no_argument, nullptr, 'I'},
                                        {"attach-fd", required_argument, nullptr, 'a'},
                                        {"seccomp-cache", required_argument, nullptr, 'c'},
                                        {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    switch (c) {
      case 'i':
        options.id = optarg;
        break;
      case 'b':
        options.bundle = optarg;
        break;
      case 's':
        options.state_dir = optarg;
        break;
      case 'l':
        options.log_path = optarg;
        break;
      case 'f':
        options.status_fd = atoi(optarg);
        break;
      case 'I':
        options.open_stdin = true;
        break;
      case 'a':
        options.attach_fd = atoi(optarg);
        break;
      case 'c':
        options.seccomp_cache_dir = optarg;
        break;
      case 'm':
        if (!absl::SimpleAtoi(optarg, &options.log_rotation.max_size_bytes) ||
            options.log_rotation.max_size_bytes < 0) {
          Usage();
          return 2;
        }
        break;
      case 'n':
        if (!absl::SimpleAtoi(optarg, &options.log_rotation.max_files) ||
            options.log_rotation.max_files < 1) {
          Usage();
          return 2;
        }
        break;
      default:
        Usage();
        return 2;
    }
  }
  if (options.id.empty() || options.bundle.empty() || options.state_dir.empty() ||
      options.log_path.empty()) {
    Usage();
    return 2;
  }
  return kapsel::shim::Run(options);
}
