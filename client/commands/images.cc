#include <memory>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/images.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

struct ImagesOptions {
  bool quiet = false;
  bool no_trunc = false;
  std::string format = "table";
};

int Images(Context& ctx, const ImagesOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::ListImagesResponse response;
  grpc::Status status = stub->List(&call, kapsel::v1::ListImagesRequest(), &response);
  if (!status.ok()) return ctx.Fail(status);

  absl::Time now = absl::Now();
  auto id_text = [&](const std::string& id) { return options.no_trunc ? id : ShortId(id); };
  if (options.quiet) {
    std::set<std::string> seen;
    for (const kapsel::v1::Image& image : response.images()) {
      if (seen.insert(image.id()).second) ctx.out() << id_text(image.id()) << "\n";
    }
    return 0;
  }

  Table table({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
  for (const kapsel::v1::Image& image : response.images()) {
    std::vector<std::pair<std::string, std::string>> repo_tags;
    for (const std::string& tag : image.tags()) repo_tags.push_back(SplitRepoTag(tag));
    if (repo_tags.empty()) repo_tags.emplace_back("<none>", "<none>");
    for (const auto& [repository, tag] : repo_tags) {
      if (options.format == "json") {
        nlohmann::json row = {
            {"ID", id_text(image.id())},
            {"Repository", repository},
            {"Tag", tag.empty() ? "<none>" : tag},
            {"CreatedAt", FormatRfc3339(image.created_unix_nanos())},
            {"CreatedSince", TimeAgo(image.created_unix_nanos(), now)},
            {"Size", HumanSize(image.size_bytes())},
            {"SizeBytes", image.size_bytes()},
        };
        ctx.out() << row.dump() << "\n";
      } else {
        table.AddRow({repository, tag.empty() ? "<none>" : tag, id_text(image.id()),
                      TimeAgo(image.created_unix_nanos(), now), HumanSize(image.size_bytes())});
      }
    }
  }
  if (options.format != "json") ctx.out() << table.Render();
  return 0;
}

}  // namespace

void RegisterImages(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("images", "List images");
  auto options = std::make_shared<ImagesOptions>();
  cmd->add_flag("-q,--quiet", options->quiet, "Only show image ids");
  cmd->add_flag("--no-trunc", options->no_trunc, "Show full image ids");
  cmd->add_option("--format", options->format, "Output format: table or json (one per line)")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->callback([&ctx, options] { ctx.set_exit_code(Images(ctx, *options)); });
}

}  // namespace kapsel::client
