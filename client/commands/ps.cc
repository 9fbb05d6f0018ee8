#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/containers.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

struct PsOptions {
  bool all = false;
  bool quiet = false;
  bool no_trunc = false;
  std::string format = "table";
  std::vector<std::string> filters;  // KEY=VALUE: status, name, label, id
};

nlohmann::json ContainerJson(const kapsel::v1::Container& c, absl::Time now) {
  const kapsel::v1::ContainerStatus& s = c.status();
  return {
      {"Id", c.id()},
      {"Names", c.name()},
      {"Image", c.image()},
      {"ImageId", c.image_id()},
      {"Command", CommandText({c.command().begin(), c.command().end()}, /*no_trunc=*/true)},
      {"State", StateName(s.state())},
      {"Status", StatusText(s, now)},
      {"ExitCode", ExitCodeOf(s.exit_code(), s.exit_signal())},
      {"Pid", s.pid()},
      {"CreatedAt", FormatRfc3339(s.created_at_unix_nanos())},
      {"RestartCount", s.restart_count()},
  };
}

int Ps(Context& ctx, const PsOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::ListContainersRequest request;
  request.set_all(options.all);
  for (const std::string& filter : options.filters) {
    auto eq = filter.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("bad filter \"", filter, "\": want KEY=VALUE (status, name, label, id)")));
    }
    (*request.mutable_filters())[filter.substr(0, eq)] = filter.substr(eq + 1);
    // A status filter looks at every container, as docker's does.
    if (filter.substr(0, eq) == "status") request.set_all(true);
  }
  kapsel::v1::ListContainersResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->List(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);

  absl::Time now = absl::Now();
  auto id_text = [&](const std::string& id) { return options.no_trunc ? id : ShortId(id); };
  if (options.quiet) {
    for (const kapsel::v1::Container& c : response.containers()) {
      ctx.out() << id_text(c.id()) << "\n";
    }
    return 0;
  }
  if (options.format == "json") {
    for (const kapsel::v1::Container& c : response.containers()) {
      ctx.out() << ContainerJson(c, now).dump() << "\n";
    }
    return 0;
  }
  Table table({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"});
  for (const kapsel::v1::Container& c : response.containers()) {
    table.AddRow({id_text(c.id()), c.image().empty() ? ShortId(c.image_id()) : c.image(),
                  CommandText({c.command().begin(), c.command().end()}, options.no_trunc),
                  TimeAgo(c.status().created_at_unix_nanos(), now), StatusText(c.status(), now),
                  c.name()});
  }
  ctx.out() << table.Render();
  return 0;
}

}  // namespace

void RegisterPs(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("ps", "List containers");
  auto options = std::make_shared<PsOptions>();
  cmd->add_flag("-a,--all", options->all, "Show all containers (default: running ones)");
  cmd->add_flag("-q,--quiet", options->quiet, "Only show container ids");
  cmd->add_flag("--no-trunc", options->no_trunc, "Do not truncate ids and commands");
  cmd->add_option("--format", options->format, "Output format: table or json (one per line)")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("-f,--filter", options->filters,
                  "Filter: status=STATE, name=NAME, label=KEY[=VALUE], id=PREFIX")
      ->allow_extra_args(false);
  cmd->callback([&ctx, options] { ctx.set_exit_code(Ps(ctx, *options)); });
}

}  // namespace kapsel::client
