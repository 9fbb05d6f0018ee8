#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/app.h"
#include "client/commands/commands.h"
#include "client/context.h"
#include "client/parse.h"

namespace kc = ::kapsel::client;

int main(int argc, char** argv) {
  kc::Context ctx(std::cout, std::cerr, kc::ProcessEnvironment());
  CLI::App app;
  kc::ConfigureApp(app, ctx);
  kc::RegisterVersion(app, ctx);
  kc::RegisterInfo(app, ctx);
  kc::RegisterImport(app, ctx);
  kc::RegisterImages(app, ctx);
  kc::RegisterLoad(app, ctx);
  kc::RegisterPull(app, ctx);
  kc::RegisterSave(app, ctx);
  kc::RegisterTag(app, ctx);
  kc::RegisterRmi(app, ctx);
  kc::RegisterImage(app, ctx);
  kc::RegisterRun(app, ctx);
  kc::RegisterCreate(app, ctx);
  kc::RegisterStart(app, ctx);
  kc::RegisterStop(app, ctx);
  kc::RegisterKill(app, ctx);
  kc::RegisterWait(app, ctx);
  kc::RegisterLogs(app, ctx);
  kc::RegisterPs(app, ctx);
  kc::RegisterInspect(app, ctx);
  kc::RegisterRm(app, ctx);
  kc::RegisterEvents(app, ctx);
  kc::RegisterMount(app, ctx);
  kc::RegisterNetwork(app, ctx);
  kc::RegisterPause(app, ctx);
  kc::RegisterUnpause(app, ctx);
  kc::RegisterRestart(app, ctx);
  kc::RegisterRename(app, ctx);
  kc::RegisterUpdate(app, ctx);
  kc::RegisterStats(app, ctx);
  kc::RegisterTop(app, ctx);
  kc::RegisterExec(app, ctx);
  kc::RegisterAttach(app, ctx);
  return kc::RunApp(app, ctx, std::vector<std::string>(argv + 1, argv + argc));
}
