#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/app.h"
#include "client/commands/commands.h"
#include "client/context.h"
#include "client/parse.h"

int main(int argc, char** argv) {
  using namespace kapsel::client;  // NOLINT(build/namespaces): main only wires.
  Context ctx(std::cout, std::cerr, ProcessEnvironment());
  CLI::App app;
  ConfigureApp(app, ctx);
  RegisterVersion(app, ctx);
  RegisterInfo(app, ctx);
  RegisterImport(app, ctx);
  RegisterImages(app, ctx);
  RegisterRun(app, ctx);
  RegisterCreate(app, ctx);
  RegisterStart(app, ctx);
  RegisterStop(app, ctx);
  RegisterKill(app, ctx);
  RegisterWait(app, ctx);
  RegisterLogs(app, ctx);
  RegisterPs(app, ctx);
  RegisterInspect(app, ctx);
  RegisterRm(app, ctx);
  RegisterEvents(app, ctx);
  return RunApp(app, ctx, std::vector<std::string>(argv + 1, argv + argc));
}
