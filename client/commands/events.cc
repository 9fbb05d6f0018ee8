#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/events.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

struct EventsOptions {
  uint64_t since = 0;
  bool since_given = false;  // --since 0 replays everything stored
  std::vector<std::string> filters;
  std::string format = "table";
};

// --filter type=X (repeatable) and --filter container=X (once) into the request.
absl::Status ApplyFilters(const std::vector<std::string>& filters,
                          kapsel::v1::SubscribeRequest* request) {
  for (const std::string& filter : filters) {
    std::pair<std::string, std::string> kv = absl::StrSplit(filter, absl::MaxSplits('=', 1));
    if (kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid filter \"", filter, "\": want type=TYPE or container=CONTAINER"));
    }
    if (kv.first == "type" || kv.first == "event") {
      request->add_types(kv.second);
    } else if (kv.first == "container") {
      if (!request->container().empty()) {
        return absl::InvalidArgumentError("only one container filter is supported");
      }
      request->set_container(kv.second);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid filter \"", filter, "\": want type=TYPE or container=CONTAINER"));
    }
  }
  return absl::OkStatus();
}

// docker's line: "<time> container start <id> (image=..., name=...)".
std::string EventLine(const kapsel::v1::Event& event) {
  bool is_container = !event.container_id().empty();
  std::string line = absl::StrCat(FormatRfc3339Nano(event.time_unix_nanos()), " ",
                                  is_container ? "container " : "image ", event.type(), " ",
                                  is_container ? event.container_id() : event.image_id());
  std::map<std::string, std::string> attributes(event.attributes().begin(),
                                                event.attributes().end());
  if (is_container && !event.image_id().empty()) attributes.emplace("image", event.image_id());
  if (!attributes.empty()) {
    absl::StrAppend(&line, " (", absl::StrJoin(attributes, ", ", absl::PairFormatter("=")), ")");
  }
  return line;
}

nlohmann::json EventJson(const kapsel::v1::Event& event) {
  return {
      {"Sequence", event.sequence()},
      {"Time", FormatRfc3339Nano(event.time_unix_nanos())},
      {"TimeNano", event.time_unix_nanos()},
      {"Type", event.type()},
      {"ContainerId", event.container_id()},
      {"ImageId", event.image_id()},
      {"Attributes",
       std::map<std::string, std::string>(event.attributes().begin(), event.attributes().end())},
  };
}

int Events(Context& ctx, const EventsOptions& options) {
  kapsel::v1::SubscribeRequest request;
  request.set_since_sequence(options.since);
  request.set_replay_all(options.since_given && options.since == 0);
  if (absl::Status s = ApplyFilters(options.filters, &request); !s.ok()) return ctx.Fail(s);
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Events::NewStub(*channel);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReader<kapsel::v1::Event>> reader = stub->Subscribe(&call, request);
  kapsel::v1::Event event;
  while (reader->Read(&event)) {
    ctx.out() << (options.format == "json" ? EventJson(event).dump() : EventLine(event))
              << std::endl;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ctx.Fail(status);
  return 0;
}

}  // namespace

void RegisterEvents(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("events", "Stream engine events");
  auto options = std::make_shared<EventsOptions>();
  CLI::Option* since =
      cmd->add_option("--since", options->since,
                      "Replay stored events after this sequence number, then stream new ones");
  cmd->add_option("-f,--filter", options->filters, "type=TYPE or container=CONTAINER")
      ->allow_extra_args(false);
  cmd->add_option("--format", options->format, "Output format: table or json (one per line)")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->callback([&ctx, options, since] {
    options->since_given = since->count() > 0;
    ctx.set_exit_code(Events(ctx, *options));
  });
}

}  // namespace kapsel::client
