#pragma once

// kapsel's default seccomp profile: the syscall policy of Docker's default profile (moby
// profiles/seccomp/default.json). Everything not listed fails with EPERM; about 40 dangerous
// syscalls (mount, unshare, setns, keyctl, bpf, kexec_load, reboot, ...) are only allowed when the
// container holds the capability that guards them; clone is restricted to flags without new
// namespaces unless CAP_SYS_ADMIN; clone3 fails with ENOSYS so that glibc falls back to clone,
// whose flags the filter can see.

#include "absl/status/statusor.h"
#include "runtime/seccomp/config.h"
#include "runtime/seccomp/docker_profile.h"

namespace kapsel::runtime::seccomp {

// The profile in Docker's format, before it is resolved for a container.
const DockerProfile& DefaultDockerProfile();

// The default profile for a container with env.caps as its bounding set on this host.
absl::StatusOr<Config> DefaultProfile(const ProfileEnvironment& env);

}  // namespace kapsel::runtime::seccomp
