#pragma once

// Turns a container request plus its image's config into an OCI runtime-spec config.json, with
// kapsel's security defaults (Docker's or stricter) filled in.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/host_devices.h"
#include "daemon/ulimits.h"
#include "kapsel/v1/containers.pb.h"
#include "nlohmann/json.hpp"
#include "runtime/spec.h"

namespace kapsel::daemon {

// Where --init's binary is mounted in the container.
inline constexpr char kInitPath[] = "/dev/init";

struct SpecInputs {
  std::string id;
  std::string rootfs;  // absolute host path of the mounted rootfs
  const v1::ContainerSpec* request = nullptr;
  const nlohmann::json* image_config = nullptr;  // the image's OCI config ("config" object inside)
  std::string rootfs_etc_passwd;  // contents of the rootfs /etc/passwd, for user names
  std::string rootfs_etc_group;   // contents of the rootfs /etc/group
  // Host directory with the container's own hostname, hosts and resolv.conf, bind-mounted over
  // the image's /etc files when set.
  std::string etc_files_dir;
  // With security.privileged: the host's devices, all created in the container (ListHostDevices).
  std::vector<HostDevice> host_devices;
  // The network namespace to join, bind-mounted by NetworkManager::Prepare; empty: a new one with
  // only lo (down). Ignored with host_network, which shares the host's network namespace.
  std::string netns_path;
  bool host_network = false;
  // rlimits of the container's processes: the daemon's defaults with the request's ulimits
  // (ContainerRlimits).
  std::vector<ProcessRlimit> rlimits;
  // Host path of the init binary bind-mounted at /dev/init for --init (tini-static).
  std::string init_path;
  // The cgroup is <cgroup_parent>/<id>.
  std::string cgroup_parent = "kapsel";
  // A remapped container (--userns): the user namespace the engine made for it, bind-mounted
  // at this path and joined by path, and its maps (recorded, to make it again after a reboot).
  std::string userns_path;
  std::vector<runtime::IdMapping> uid_mappings;
  std::vector<runtime::IdMapping> gid_mappings;
};

// The container's /etc/hosts and /etc/resolv.conf contents. The hostname maps to the container's
// address on its network, or to 127.0.1.1 without one. Loopback nameservers of the host (a local
// resolver) mean nothing inside the container's network namespace and are dropped.
std::string HostsFile(const std::string& hostname, const std::string& address = "");
std::string ResolvConf(const std::string& host_resolv_conf);
// The /etc/hosts lines of --add-host NAME:IP (or NAME=IP; IPv6 after the first ':'), in order.
// `host-gateway` as the address is `gateway`, the host's address on the container's bridge.
// InvalidArgument naming the bad value: a malformed name or address, or host-gateway without a
// bridge network.
absl::StatusOr<std::string> ExtraHostsLines(
    const google::protobuf::RepeatedPtrField<std::string>& extra_hosts, const std::string& gateway);

// The resolved command: Entrypoint + Cmd of the request, else of the image. Empty is an error
// the caller reports ("no command specified").
std::vector<std::string> ResolveCommand(const v1::ContainerSpec& request,
                                        const nlohmann::json& image_config);

// The home directory of `uid` in a passwd file; "/root" for root and "/" for others without one
// (Docker's defaults).
std::string HomeOf(uint32_t uid, const std::string& passwd);

// Resolves "uid[:gid]" or "name[:group]" against the rootfs' passwd and group files.
absl::Status ResolveUser(const std::string& user, const std::string& passwd,
                         const std::string& group, uint32_t* uid, uint32_t* gid,
                         std::vector<uint32_t>* additional_gids);

// Docker's default capability set, in OCI names.
const std::vector<std::string>& DefaultCapabilities();

absl::StatusOr<nlohmann::json> BuildOciSpec(const SpecInputs& in);

// linux.resources' memory, cpu and pids objects for the request's limits; InvalidArgument names
// the bad one. Devices are not part of it.
absl::StatusOr<nlohmann::json> ResourceLimitsJson(const v1::Resources& resources);

}  // namespace kapsel::daemon
