#pragma once

// The device allow-list on cgroup v2. v2 has no devices controller: the policy is a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup with BPF_CGROUP_DEVICE (Linux 4.15),
// as runc and crun do. The kernel runs it on every open(2) and mknod(2) of a device node by a
// process of the cgroup (and of its descendants) and refuses the access when it returns 0.

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/spec.h"

namespace kapsel::runtime::cgroups {

// The instructions of a BPF_PROG_TYPE_CGROUP_DEVICE program implementing `rules`, with the
// semantics of the v1 devices controller that the OCI spec follows: everything is denied unless a
// rule allows it, and a later rule overrides the earlier ones. Each requested access bit (m, r, w)
// is decided by the last rule that matches the device and names that bit; the access is allowed
// when every requested bit is, so "allow a rwm" then "deny c 1:3 w" refuses an O_RDWR open of
// /dev/null. A rule of type 'a' matches every device whatever its major and minor. Returns
// InvalidArgument for a type other than a, b or c, a major or minor outside [-1, 2^31), or an
// access with a letter outside "rwm". Pure and thread-safe.
absl::StatusOr<std::vector<struct bpf_insn>> BuildDeviceProgram(
    const std::vector<DeviceRule>& rules);

// Loads the program built from `rules` and attaches it to the cgroup directory `cgroup_dir`
// (BPF_F_ALLOW_MULTI), then detaches the programs kapsel attached there earlier, if any (they are
// recognised by their program name). Programs attached by others are left alone; the kernel allows
// an access only when every attached program does. Errors name the call and the path, and carry the
// verifier's log when the kernel refuses the program. Needs CAP_SYS_ADMIN, or CAP_BPF with
// CAP_NET_ADMIN on Linux 5.8+. Thread-safe.
absl::Status ApplyDeviceRules(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules);

// The name kapsel gives its device programs (bpf_prog_info.name, at most 15 characters).
inline constexpr char kDeviceProgramName[] = "kapsel_devices";

}  // namespace kapsel::runtime::cgroups
