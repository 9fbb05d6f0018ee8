#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "client/registry_auth.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

struct PullOptions {
  std::string reference;
  std::string platform;
  bool quiet = false;
};

// A layer is named like docker does: the first 12 hex digits of its digest.
std::string ShortDigest(const std::string& digest) {
  absl::string_view hex = digest;
  if (size_t colon = hex.find(':'); colon != absl::string_view::npos) hex.remove_prefix(colon + 1);
  return std::string(hex.substr(0, 12));
}

std::string Size(int64_t bytes) { return bytes < 0 ? "?" : HumanSize(bytes); }

int Pull(Context& ctx, const PullOptions& options) {
  kapsel::v1::PullImageRequest request;
  request.set_reference(options.reference);
  request.set_platform(options.platform);
  // The daemon reads no user's files: the login for this registry travels with the request.
  std::string domain = RegistryDomainOf(options.reference);
  absl::StatusOr<std::optional<RegistryLogin>> login =
      FindRegistryLogin(ctx.env(), LocalFiles(), domain);
  if (!login.ok()) return ctx.Fail(login.status());
  if (login->has_value()) {
    request.mutable_auth()->set_username((*login)->username);
    request.mutable_auth()->set_password((*login)->password);
  }

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReader<kapsel::v1::PullImageProgress>> reader =
      stub->Pull(&call, request);
  if (!options.quiet) {
    ctx.out() << "Pulling " << options.reference;
    if (!options.platform.empty()) ctx.out() << " for " << options.platform;
    ctx.out() << std::endl;
  }
  // Downloading lines at most once a second per layer.
  std::map<std::string, absl::Time> last_line;
  kapsel::v1::PullImageProgress msg;
  std::optional<kapsel::v1::PullImageProgress> last;
  while (reader->Read(&msg)) {
    if (msg.has_image()) {
      last = msg;
      continue;
    }
    if (options.quiet) continue;
    std::string layer = ShortDigest(msg.layer());
    switch (msg.stage()) {
      case kapsel::v1::PullImageProgress::STAGE_EXISTS:
        ctx.out() << layer << ": Already exists" << std::endl;
        break;
      case kapsel::v1::PullImageProgress::STAGE_DOWNLOADING: {
        absl::Time now = absl::Now();
        auto [it, first] = last_line.emplace(msg.layer(), now);
        if (first) {
          ctx.out() << layer << ": Downloading " << Size(msg.bytes_total()) << std::endl;
        } else if (now - it->second >= absl::Seconds(1)) {
          it->second = now;
          ctx.out() << layer << ": Downloading " << Size(msg.bytes_done()) << " / "
                    << Size(msg.bytes_total()) << std::endl;
        }
        break;
      }
      case kapsel::v1::PullImageProgress::STAGE_DONE:
        ctx.out() << layer << ": Pull complete (" << Size(msg.bytes_done()) << ")" << std::endl;
        break;
      default:
        break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ctx.Fail(status);
  if (!last.has_value()) return ctx.Fail("pull: the daemon ended the stream without an image");
  if (options.quiet) {
    ctx.out() << last->image().id() << "\n";
    return 0;
  }
  ctx.out() << "Digest: " << last->manifest_digest() << "\n"
            << "Pulled " << last->reference() << " (" << last->platform() << ")\n"
            << "Image ID: " << last->image().id() << "\n";
  ctx.out().flush();
  return 0;
}

}  // namespace

void RegisterPull(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("pull", "Pull an image from a registry");
  auto options = std::make_shared<PullOptions>();
  cmd->add_option("--platform", options->platform,
                  "os/arch[/variant] to pull from a multi-platform image (default: this host's)");
  cmd->add_flag("-q,--quiet", options->quiet, "Print only the image id");
  cmd->add_option("image", options->reference,
                  "NAME[:TAG] or NAME@sha256:DIGEST, e.g. busybox, host:5000/app:1")
      ->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Pull(ctx, *options)); });
}

}  // namespace kapsel::client
