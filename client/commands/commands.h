#pragma once

#include "CLI/CLI.hpp"
#include "client/context.h"

// One function per verb; each adds its subcommand to `app`. The command's callback runs the RPC
// and stores the exit code in `ctx`. `ctx` must outlive `app`'s parse.
namespace kapsel::client {

void RegisterVersion(CLI::App& app, Context& ctx);
void RegisterInfo(CLI::App& app, Context& ctx);
void RegisterImport(CLI::App& app, Context& ctx);
void RegisterImages(CLI::App& app, Context& ctx);
void RegisterLoad(CLI::App& app, Context& ctx);
void RegisterPull(CLI::App& app, Context& ctx);
void RegisterSave(CLI::App& app, Context& ctx);
void RegisterTag(CLI::App& app, Context& ctx);
void RegisterRmi(CLI::App& app, Context& ctx);
void RegisterImage(CLI::App& app, Context& ctx);
void RegisterRun(CLI::App& app, Context& ctx);
void RegisterCreate(CLI::App& app, Context& ctx);
void RegisterStart(CLI::App& app, Context& ctx);
void RegisterStop(CLI::App& app, Context& ctx);
void RegisterKill(CLI::App& app, Context& ctx);
void RegisterWait(CLI::App& app, Context& ctx);
void RegisterLogs(CLI::App& app, Context& ctx);
void RegisterPs(CLI::App& app, Context& ctx);
void RegisterInspect(CLI::App& app, Context& ctx);
void RegisterRm(CLI::App& app, Context& ctx);
void RegisterEvents(CLI::App& app, Context& ctx);
void RegisterMount(CLI::App& app, Context& ctx);
void RegisterNetwork(CLI::App& app, Context& ctx);
void RegisterPause(CLI::App& app, Context& ctx);
void RegisterUnpause(CLI::App& app, Context& ctx);
void RegisterRestart(CLI::App& app, Context& ctx);
void RegisterRename(CLI::App& app, Context& ctx);
void RegisterUpdate(CLI::App& app, Context& ctx);
void RegisterStats(CLI::App& app, Context& ctx);
void RegisterTop(CLI::App& app, Context& ctx);
void RegisterExec(CLI::App& app, Context& ctx);
void RegisterAttach(CLI::App& app, Context& ctx);

}  // namespace kapsel::client
