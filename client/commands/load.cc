#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/directory_tar.h"
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

using LoadWriter = grpc::ClientWriter<kapsel::v1::LoadImageRequest>;

// Streams FILE (or stdin) as it is. Sets *read_error when the input fails.
void SendFile(std::FILE* file, const std::string& input, LoadWriter& writer,
              grpc::ClientContext& call, std::string* read_error) {
  kapsel::v1::LoadImageRequest request;
  std::string buffer(kChunkSize, '\0');
  bool open = true;
  while (open) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file);
    if (n > 0) {
      request.set_data(buffer.data(), n);
      // false: the daemon ended the call; Finish() says why.
      open = writer.Write(request);
    }
    if (n < buffer.size()) {
      if (std::ferror(file)) {
        *read_error = absl::StrCat("read ", input, ": ", std::strerror(errno));
        call.TryCancel();
      }
      break;
    }
  }
}

// Streams directory DIR as a tar of it, in kChunkSize messages: the daemon reads an OCI layout
// (or an unpacked docker save) directory exactly as the tarred one, and never opens DIR itself.
void SendDirectory(const std::string& dir, LoadWriter& writer, grpc::ClientContext& call,
                   std::string* read_error) {
  kapsel::v1::LoadImageRequest request;
  std::string pending;
  bool daemon_ended = false;
  auto flush = [&]() -> absl::Status {
    request.set_data(pending);
    pending.clear();
    if (writer.Write(request)) return absl::OkStatus();
    daemon_ended = true;
    return absl::CancelledError("the daemon ended the load");
  };
  absl::Status status = WriteDirectoryTar(dir, [&](absl::string_view piece) -> absl::Status {
    pending.append(piece.data(), piece.size());
    return pending.size() >= kChunkSize ? flush() : absl::OkStatus();
  });
  if (status.ok() && !pending.empty()) status = flush();
  if (!status.ok() && !daemon_ended) {
    *read_error = std::string(status.message());
    call.TryCancel();
  }
}

int Load(Context& ctx, const std::string& input, bool quiet) {
  struct stat st;
  const bool is_dir = input != "-" && stat(input.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  FilePtr file;
  if (!is_dir) {
    file.reset(input == "-" ? stdin : std::fopen(input.c_str(), "rbe"));
    if (file == nullptr) return ctx.Fail(absl::StrCat("open ", input, ": ", std::strerror(errno)));
  }

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::LoadImageResponse response;
  std::unique_ptr<LoadWriter> writer = stub->Load(&call, &response);

  std::string read_error;
  if (is_dir) {
    SendDirectory(input, *writer, call, &read_error);
  } else {
    SendFile(file.get(), input, *writer, call, &read_error);
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
      "load", "Load images from an OCI image layout (directory or tar) or a docker save archive");
  auto input = std::make_shared<std::string>("-");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("-i,--input", *input, "Archive or OCI layout directory to read (default: stdin)");
  cmd->add_flag("-q,--quiet", *quiet, "Print nothing on success");
  cmd->callback([&ctx, input, quiet] { ctx.set_exit_code(Load(ctx, *input, *quiet)); });
}

}  // namespace kapsel::client
