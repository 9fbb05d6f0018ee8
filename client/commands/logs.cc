#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "client/parse.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct LogsOptions {
  bool follow = false;
  bool timestamps = false;
  std::string tail = "all";
  std::string since;  // RFC 3339, unix seconds or a duration (ParseSince)
  std::string container;
};

// Writes `data`, each line prefixed with the entry's time when asked.
void WriteEntry(std::ostream& out, absl::string_view data, int64_t time_unix_nanos,
                bool timestamps) {
  if (!timestamps) {
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return;
  }
  std::string prefix = absl::StrCat(FormatRfc3339Nano(time_unix_nanos), " ");
  while (!data.empty()) {
    size_t end = data.find('\n');
    end = end == absl::string_view::npos ? data.size() : end + 1;
    out << prefix;
    out.write(data.data(), static_cast<std::streamsize>(end));
    data.remove_prefix(end);
  }
}

int Logs(Context& ctx, const LogsOptions& options) {
  int64_t tail = 0;  // 0: all lines
  if (options.tail != "all" && (!absl::SimpleAtoi(options.tail, &tail) || tail < 0)) {
    return ctx.Fail(
        absl::StrCat("invalid --tail \"", options.tail, "\": want a number of lines or all"));
  }
  int64_t since = 0;
  if (!options.since.empty()) {
    absl::StatusOr<int64_t> t = ParseSince(options.since, absl::Now());
    if (!t.ok()) return ctx.Fail(t.status());
    since = *t;
  }
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::LogsRequest request;
  request.set_container(options.container);
  request.set_follow(options.follow);
  request.set_tail(tail);
  request.set_since_unix_nanos(since);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReader<kapsel::v1::LogEntry>> reader = stub->Logs(&call, request);
  kapsel::v1::LogEntry entry;
  while (reader->Read(&entry)) {
    std::ostream& out =
        entry.stream() == kapsel::v1::OutputChunk::STREAM_STDERR ? ctx.err() : ctx.out();
    WriteEntry(out, entry.data(), entry.time_unix_nanos(), options.timestamps);
    out.flush();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ctx.Fail(status);
  return 0;
}

}  // namespace

void RegisterLogs(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("logs", "Print a container's output");
  auto options = std::make_shared<LogsOptions>();
  cmd->add_flag("-f,--follow", options->follow, "Follow the output");
  cmd->add_flag("-t,--timestamps", options->timestamps, "Prefix each line with its time");
  cmd->add_option("-n,--tail", options->tail, "Lines from the end, or all (default all)");
  cmd->add_option("--since", options->since,
                  "Only entries since a time (RFC 3339, unix seconds) or for a duration (10m)");
  cmd->add_option("CONTAINER", options->container, "Container id or name")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Logs(ctx, *options)); });
}

}  // namespace kapsel::client
