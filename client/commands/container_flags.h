#pragma once

#include "CLI/CLI.hpp"
#include "client/parse.h"

namespace kapsel::client {

// Adds the flags shared by `run` and `create` to `cmd`, plus the IMAGE and CMD positionals; the
// values land in `*options`, which must outlive the parse. Everything after IMAGE belongs to the
// container's command, flags included: `run busybox ls -l /` passes -l to ls.
void AddContainerFlags(CLI::App* cmd, ContainerOptions* options);

// The resource limit flags (-m, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus,
// --pids-limit), shared by run, create and update.
void AddResourceFlags(CLI::App* cmd, ResourceFlags* options);

}  // namespace kapsel::client
