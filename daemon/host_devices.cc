#include "daemon/host_devices.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <set>

namespace kapsel::daemon {
namespace {

void Walk(const std::string& dir, bool top, std::vector<HostDevice>* out) {
  static const std::set<std::string> kSkipDirs = {"pts",  "shm",         "fd",   "mqueue",
                                                  ".lxc", ".lxd-mounts", ".udev"};
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (!kSkipDirs.contains(name)) Walk(path, false, out);
      continue;
    }
    // console is the pty of the container; ptmx is a symlink into its own devpts instance.
    if (top && (name == "console" || name == "ptmx")) continue;
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) continue;
    HostDevice dev;
    dev.path = path;
    dev.type = S_ISBLK(st.st_mode) ? 'b' : 'c';
    dev.major = major(st.st_rdev);
    dev.minor = minor(st.st_rdev);
    dev.file_mode = st.st_mode & 07777;
    dev.uid = st.st_uid;
    dev.gid = st.st_gid;
    out->push_back(std::move(dev));
  }
  closedir(d);
}

}  // namespace

std::vector<HostDevice> ListHostDevices(const std::string& dir) {
  std::vector<HostDevice> out;
  Walk(dir, true, &out);
  return out;
}

}  // namespace kapsel::daemon
