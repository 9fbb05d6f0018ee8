#pragma once

// The host's device nodes, for --privileged containers, which get all of them (as in Docker).

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kapsel::daemon {

struct HostDevice {
  std::string path;  // absolute, the same inside the container
  char type = 'c';   // c or b
  int64_t major = 0;
  int64_t minor = 0;
  mode_t file_mode = 0;  // permission bits
  uid_t uid = 0;
  gid_t gid = 0;
};

// Character and block devices under `dir` (recursively), without those the container gets
// anyway or that make no sense there: pts/, shm/, mqueue/, fd/, console and ptmx. Symlinks are
// skipped. Unreadable directories are skipped too: the list is best effort.
std::vector<HostDevice> ListHostDevices(const std::string& dir = "/dev");

}  // namespace kapsel::daemon
