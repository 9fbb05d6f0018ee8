// User-namespace remapping of containers (--userns, kapseld's userns_remap).
//
// For a remapped container kapseld makes a user namespace with the container's maps and keeps it
// at <exec-root>/userns/<id>. It owns the container's network namespace, so the container's
// root administers its own network (binds ports below 1024, mounts its sysfs) and nothing of the
// host's; the image layers are mounted idmapped through it, so that the shared layers on disk
// stay as they are; the container's process joins it by path and makes its other namespaces
// inside it (runtime/launch.cc).

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "daemon/engine.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/userns.h"
#include "runtime/spec.h"
#include "store/fs_util.h"
#include "store/overlay.h"

namespace kapsel::daemon {

std::string Engine::UsernsPath(const std::string& id) const {
  return absl::StrCat(options_.exec_root, "/userns/", id);
}

absl::StatusOr<std::optional<UsernsRemap>> Engine::ResolveUserns(v1::ContainerSpec* spec) const {
  std::string value = spec->userns();
  if (value.empty()) value = options_.userns_remap.empty() ? "host" : "remap";
  if (value == "host") {
    spec->set_userns("host");
    return std::nullopt;
  }
  std::string who;
  if (value == "remap") {
    if (options_.userns_remap.empty()) {
      return absl::InvalidArgumentError(
          "--userns remap: kapseld has no userns_remap; name the ranges' owner with --userns "
          "remap:USER[:GROUP]");
    }
    who = options_.userns_remap;
  } else if (absl::StartsWith(value, "remap:")) {
    who = value.substr(strlen("remap:"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--userns \"", value, "\": expected host, remap or remap:USER[:GROUP]"));
  }
  auto remap = ResolveUsernsRemap(who, options_.subuid_path, options_.subgid_path);
  if (!remap.ok()) {
    return absl::Status(remap.status().code(),
                        absl::StrCat("--userns ", value, ": ", remap.status().message()));
  }
  // As in Docker: these share or reach what the host's root owns.
  if (spec->security().privileged()) {
    return absl::InvalidArgumentError(
        "--privileged cannot run in a remapped user namespace: add --userns host");
  }
  const std::string& network = spec->network_mode();
  if (network == "host" || absl::StartsWith(network, "container:")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--network ", network, " cannot run in a remapped user namespace: add --userns host"));
  }
  // The remapped root opens its rootfs below the data root by path: every directory above must
  // let it search (kapseld makes the data root 0711; the container's directory is made for it).
  std::vector<std::string> dirs = {"/"};
  std::string prefix;
  for (absl::string_view part :
       absl::StrSplit(absl::StrCat(options_.data_root, "/containers"), '/', absl::SkipEmpty())) {
    absl::StrAppend(&prefix, "/", part);
    dirs.push_back(prefix);
  }
  for (const std::string& dir : dirs) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return linux::ErrnoStatus(errno, absl::StrCat("stat ", dir));
    const bool searchable = (st.st_mode & S_IXOTH) != 0 ||
                            (st.st_gid == remap->root_gid() && (st.st_mode & S_IXGRP) != 0) ||
                            (st.st_uid == remap->root_uid() && (st.st_mode & S_IXUSR) != 0);
    if (!searchable) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--userns %s: the container's root (host uid %u) cannot search %s (mode %04o) on the "
          "way to its rootfs; let others search it (chmod o+x) or move the data root",
          value, remap->root_uid(), dir, st.st_mode & 07777));
    }
  }
  spec->set_userns(absl::StrCat("remap:", remap->user, ":", remap->group));
  return *std::move(remap);
}

absl::StatusOr<linux::UniqueFd> Engine::OpenUserns(const std::string& id,
                                                   const std::string& uid_map,
                                                   const std::string& gid_map) {
  const std::string path = UsernsPath(id);
  if (linux::IsNamespaceMount(path)) {
    linux::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return linux::ErrnoStatus(errno, absl::StrCat("open ", path));
    return fd;
  }
  // A file that is not a namespace is what a crash between its creation and the mount left.
  if (auto s = linux::UnbindNamespace(path); !s.ok()) return s;
  if (auto s = store::MkdirAll(absl::StrCat(options_.exec_root, "/userns"), 0700); !s.ok()) {
    return s;
  }
  auto fd = linux::NewUserNamespace(uid_map, gid_map);
  if (!fd.ok()) return fd.status();
  if (auto s = linux::BindNamespace(fd->get(), path); !s.ok()) return s;
  return fd;
}

absl::StatusOr<linux::UniqueFd> Engine::PrepareRemappedStart(const store::ContainerRecord& rec,
                                                             bool mount_rootfs) {
  const std::string dir = ContainerDir(rec.id);
  std::optional<runtime::Spec> config;
  // config.json is read only when something must be made again (after a reboot).
  auto load = [&]() -> absl::Status {
    if (config.has_value()) return absl::OkStatus();
    auto loaded = runtime::LoadSpec(dir);
    if (!loaded.ok()) return loaded.status();
    if (loaded->uid_mappings.empty() || loaded->gid_mappings.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, "/config.json: a remapped container without uid and gid mappings"));
    }
    config = *std::move(loaded);
    return absl::OkStatus();
  };
  std::string uid_map, gid_map;
  if (!linux::IsNamespaceMount(UsernsPath(rec.id))) {
    if (auto s = load(); !s.ok()) return s;
    uid_map = runtime::MappingText(config->uid_mappings);
    gid_map = runtime::MappingText(config->gid_mappings);
  }
  auto userns = OpenUserns(rec.id, uid_map, gid_map);
  if (!userns.ok()) return userns.status();
  if (mount_rootfs) {
    if (auto s = load(); !s.ok()) return s;
    auto image = images_->Resolve(rec.image_id);
    if (!image.ok()) return image.status();
    store::OverlayIdmap idmap{userns->get(), config->uid_mappings.front().host_id,
                              config->gid_mappings.front().host_id};
    if (auto s = store::MountOverlay(dir, images_->LowerDirs(*image), &idmap); !s.ok()) return s;
  }
  return userns;
}

}  // namespace kapsel::daemon
