#include "runtime/mount_options.h"

#include <sys/mount.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace kapsel::runtime {

absl::StatusOr<MountOptions> ParseMountOptions(const std::vector<std::string>& options) {
  struct Flag {
    bool clear;
    unsigned long flag;
  };
  static const std::map<std::string, Flag> kFlags = {
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},
      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},
      {"exec", {true, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},
      {"dirsync", {false, MS_DIRSYNC}},
      {"mand", {false, MS_MANDLOCK}},
      {"nomand", {true, MS_MANDLOCK}},
      {"noatime", {false, MS_NOATIME}},
      {"atime", {true, MS_NOATIME}},
      {"nodiratime", {false, MS_NODIRATIME}},
      {"diratime", {true, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}},
      {"norelatime", {true, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}},
  };
  static const std::map<std::string, unsigned long> kPropagation = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  MountOptions out;
  for (const std::string& opt : options) {
    if (opt.empty()) return absl::InvalidArgumentError("empty option");
    if (auto f = kFlags.find(opt); f != kFlags.end()) {
      if (f->second.clear) {
        out.flags &= ~f->second.flag;
        if (f->second.flag == MS_RDONLY) out.recursive_read_only = false;
      } else {
        out.flags |= f->second.flag;
      }
      continue;
    }
    if (auto p = kPropagation.find(opt); p != kPropagation.end()) {
      out.propagation = p->second;
      continue;
    }
    if (opt == "bind") {
      out.bind = true;
      continue;
    }
    if (opt == "rro") {
      out.flags |= MS_RDONLY;
      out.recursive_read_only = true;
      continue;
    }
    if (opt == "rbind") {
      out.bind = true;
      out.recursive = true;
      continue;
    }
    if (opt == "remount" || opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap") {
      return absl::InvalidArgumentError(absl::StrCat("option \"", opt, "\" is not supported"));
    }
    if (opt.find(',') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("option \"", opt, "\" contains a comma"));
    }
    if (!out.data.empty()) out.data += ",";
    out.data += opt;
  }
  return out;
}

}  // namespace kapsel::runtime
