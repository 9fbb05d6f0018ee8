#include "client/app.h"

#include <algorithm>
#include <utility>

namespace kapsel::client {

void ConfigureApp(CLI::App& app, Context& ctx) {
  app.name("kapselctl");
  app.description("kapselctl: the command-line client of the kapsel container engine");
  app.add_option("--socket", *ctx.mutable_socket_flag(),
                 "kapseld API socket (default: $KAPSEL_SOCKET, else /run/kapsel/kapsel.sock)");
  // --socket is also accepted after the command: `kapselctl ps --socket /tmp/k.sock`.
  app.fallthrough();
  app.require_subcommand(0, 1);
}

int RunApp(CLI::App& app, Context& ctx, std::vector<std::string> args) {
  // CLI11 takes the arguments last first.
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::ParseError& e) {
    ctx.err() << "kapselctl: " << e.what() << "\nRun 'kapselctl --help' for more information"
              << std::endl;
    return kExitEngineError;
  }
  if (app.get_subcommands().empty()) {
    ctx.out() << app.help();
    return 0;
  }
  return ctx.exit_code();
}

}  // namespace kapsel::client
