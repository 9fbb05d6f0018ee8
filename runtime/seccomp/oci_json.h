#pragma once

// The OCI JSON form of a seccomp config: `linux.seccomp` of config.json, read and written.

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/seccomp/config.h"

namespace kapsel::runtime::seccomp {

// Parses a `linux.seccomp` object. Errors are InvalidArgument and name the field under `field`
// ("linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""). Syscall names are not
// checked here: a name unknown on this architecture is skipped when the filter is compiled.
// Unknown keys are ignored (comments, future fields).
absl::StatusOr<Config> ParseConfig(const nlohmann::json& j,
                                   const std::string& field = "linux.seccomp");

// One entry of `syscalls` (names, action, errnoRet, args), with errors named under `field`.
absl::StatusOr<Syscall> ParseSyscall(const nlohmann::json& j, const std::string& field);

// The `linux.seccomp` object for `config`; ParseConfig(ConfigToJson(c)) == c.
nlohmann::json ConfigToJson(const Config& config);

}  // namespace kapsel::runtime::seccomp
