#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

constexpr size_t kChunkSize = 1 << 20;  // bytes per data message

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != stdin) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

int Load(Context& ctx, const std::string& input, bool quiet) {
  FilePtr file(input == "-" ? stdin : std::fopen(input.c_str(), "rbe"));
  if (file == nullptr) return ctx.Fail(absl::StrCat("open ", input, ": ", std::strerror(errno)));

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::LoadImageResponse response;
  std::unique_ptr<grpc::ClientWriter<kapsel::v1::LoadImageRequest>> writer =
      stub->Load(&call, &response);

  kapsel::v1::LoadImageRequest request;
  std::string buffer(kChunkSize, '\0');
  std::string read_error;
  bool open = true;
  while (open) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) {
      request.set_data(buffer.data(), n);
      // false: the daemon ended the call; Finish() says why.
      open = writer->Write(request);
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get())) {
        read_error = absl::StrCat("read ", input, ": ", std::strerror(errno));
        call.TryCancel();
      }
      break;
    }
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!read_error.empty()) return ctx.Fail(read_error);
  if (!status.ok()) return ctx.Fail(status);
  if (quiet) return 0;
  // Like docker: one line per tag, the id for an image without one.
  for (const kapsel::v1::Image& image : response.images()) {
    if (image.tags().empty()) ctx.out() << "Loaded image ID: " << image.id() << "\n";
    for (const std::string& tag : image.tags()) ctx.out() << "Loaded image: " << tag << "\n";
  }
  ctx.out().flush();
  return 0;
}

}  // namespace

void RegisterLoad(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "load", "Load images from an OCI image layout tar or a docker save archive");
  auto input = std::make_shared<std::string>("-");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("-i,--input", *input, "Archive to read (default: stdin)");
  cmd->add_flag("-q,--quiet", *quiet, "Print nothing on success");
  cmd->callback([&ctx, input, quiet] { ctx.set_exit_code(Load(ctx, *input, *quiet)); });
}

}  // namespace kapsel::client
