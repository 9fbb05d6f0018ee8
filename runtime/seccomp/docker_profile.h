#pragma once

// Docker-format seccomp profiles (moby's profiles/seccomp): the OCI syscall rules plus archMap and
// per-rule includes/excludes by capability, architecture and kernel version. A profile is
// resolved against one container (its bounding capabilities) on one host into an OCI Config.

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/seccomp/config.h"

namespace kapsel::runtime::seccomp {

struct DockerFilter {
  std::vector<std::string> caps;    // "CAP_SYS_ADMIN"
  std::vector<std::string> arches;  // Go architecture names: "amd64", "arm64", "s390x", ...
  std::string min_kernel;           // "4.8"; empty: any
};

struct DockerRule {
  Syscall syscall;
  DockerFilter includes;  // the rule applies only when all of these hold
  DockerFilter excludes;  // the rule is dropped when any of these holds
};

struct DockerArchMap {
  std::string architecture;  // "SCMP_ARCH_X86_64"
  std::vector<std::string> sub_architectures;
};

struct DockerProfile {
  Action default_action = Action::kErrno;
  std::optional<uint32_t> default_errno_ret;
  std::vector<DockerArchMap> arch_map;
  std::vector<std::string> architectures;  // the older form of archMap
  std::vector<std::string> flags;
  std::vector<DockerRule> rules;
};

// What a profile is resolved against.
struct ProfileEnvironment {
  std::set<std::string> caps;  // the container's bounding set, "CAP_CHOWN", ...
  std::string go_arch;         // the host as Go names it ("amd64")
  std::string seccomp_arch;    // the host as libseccomp names it ("SCMP_ARCH_X86_64")
  int kernel_major = 0;
  int kernel_minor = 0;
};

// The host's architecture and kernel version (uname(2)), with the given capabilities.
ProfileEnvironment HostEnvironment(std::set<std::string> caps);

// Parses a profile's JSON text. Errors are InvalidArgument and name the field: "seccomp profile:
// syscalls[3].action: unknown action \"SCMP_ACT_FOO\"".
absl::StatusOr<DockerProfile> ParseDockerProfile(const std::string& json_text);

// Keeps the rules whose includes hold and whose excludes do not, and picks the architectures of
// the archMap entry for the host, as moby's setupSeccomp does.
absl::StatusOr<Config> ResolveDockerProfile(const DockerProfile& profile,
                                            const ProfileEnvironment& env);

}  // namespace kapsel::runtime::seccomp
