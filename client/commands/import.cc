#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/parse.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

constexpr size_t kChunkSize = 1 << 20;  // bytes per data message

struct ImportOptions {
  std::string file;  // path, or "-" for stdin
  std::string reference;
  std::vector<std::string> changes;
};

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != stdin) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

int Import(Context& ctx, const ImportOptions& options) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(options.reference);
  if (!ref.ok()) return ctx.Fail(ref.status());
  if (!ref->digest.empty()) {
    return ctx.Fail(absl::StrCat("invalid reference \"", options.reference,
                                 "\": an imported image is named by name[:tag], not a digest"));
  }
  // Open the tarball before contacting the daemon, so a typo costs no round trip.
  FilePtr file(options.file == "-" ? stdin : std::fopen(options.file.c_str(), "rbe"));
  if (file == nullptr) {
    return ctx.Fail(absl::StrCat("open ", options.file, ": ", std::strerror(errno)));
  }

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::ImportImageResponse response;
  std::unique_ptr<grpc::ClientWriter<kapsel::v1::ImportImageRequest>> writer =
      stub->Import(&call, &response);

  kapsel::v1::ImportImageRequest request;
  request.mutable_header()->set_reference(ref->String());
  for (const std::string& change : options.changes) request.mutable_header()->add_changes(change);
  bool open = writer->Write(request);

  std::string buffer(kChunkSize, '\0');
  std::string read_error;
  while (open) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) {
      request.set_data(buffer.data(), n);
      // false: the daemon ended the call; Finish() says why.
      open = writer->Write(request);
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get())) {
        read_error = absl::StrCat("read ", options.file, ": ", std::strerror(errno));
        call.TryCancel();
      }
      break;
    }
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!read_error.empty()) return ctx.Fail(read_error);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << response.image().id() << std::endl;
  return 0;
}

}  // namespace

void RegisterImport(CLI::App& app, Context& ctx) {
  CLI::App* cmd =
      app.add_subcommand("import", "Import a root filesystem tarball as a one-layer image");
  auto options = std::make_shared<ImportOptions>();
  cmd->add_option("-c,--change", options->changes,
                  "Apply a Dockerfile instruction to the image config, e.g. 'CMD [\"sh\"]'")
      ->allow_extra_args(false);
  cmd->add_option("FILE", options->file, "Tarball (plain, gzip, xz or zstd), or - for stdin")
      ->required();
  cmd->add_option("REFERENCE", options->reference, "Image name[:tag]")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Import(ctx, *options)); });
}

}  // namespace kapsel::client
