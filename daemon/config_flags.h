#pragma once

// kapseld's command-line flags for the fields of its configuration file. Each flag given sets the
// field in `overrides`, which ApplyOverrides (config.h) lays over the file, so flags win.

#include "CLI/CLI.hpp"
#include "kapsel/v1/config.pb.h"

namespace kapsel::daemon {

// Registers the flags on `app`. `overrides` must outlive the parse. Values are checked later, with
// the file's, by ResolveSettings.
void AddConfigFlags(CLI::App* app, v1::DaemonConfig* overrides);

}  // namespace kapsel::daemon
