#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/context.h"

namespace kapsel::client {

// Names the root command and adds the global flags (--socket) bound to `ctx`. The commands are
// registered by the caller (commands/commands.h).
void ConfigureApp(CLI::App& app, Context& ctx);

// Parses `args` (argv without the program name), runs the chosen command and returns the exit
// code: the command's, 0 for --help, 125 for a usage error (docker's code for flag errors).
int RunApp(CLI::App& app, Context& ctx, std::vector<std::string> args);

}  // namespace kapsel::client
