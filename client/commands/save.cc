#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

struct SaveOptions {
  std::string output;  // path, or "" / "-" for stdout
  std::vector<std::string> images;
};

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

int Save(Context& ctx, const SaveOptions& options) {
  const bool to_stdout = options.output.empty() || options.output == "-";
  if (to_stdout && isatty(STDOUT_FILENO)) {
    return ctx.Fail("refusing to write the archive to a terminal: use -o FILE or redirect stdout");
  }
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());

  // Written next to the target and renamed at the end: a failed save leaves no partial file.
  std::string tmp;
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    tmp = options.output + ".tmp-XXXXXX";
    fd = mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return ctx.Fail(absl::StrCat("create ", tmp, ": ", std::strerror(errno)));
    // mkostemp makes 0600; a saved archive is an ordinary file.
    if (fchmod(fd, 0644) != 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ctx.Fail(absl::StrCat("chmod ", tmp, ": ", std::strerror(err)));
    }
  }
  auto finish = [&](int code) {
    if (!to_stdout) {
      close(fd);
      if (code != 0) unlink(tmp.c_str());
    }
    return code;
  };

  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::SaveImageRequest request;
  for (const std::string& image : options.images) request.add_images(image);
  std::unique_ptr<grpc::ClientReader<kapsel::v1::SaveImageChunk>> reader =
      stub->Save(&call, request);
  kapsel::v1::SaveImageChunk chunk;
  std::string write_error;
  while (reader->Read(&chunk)) {
    if (!WriteAll(fd, chunk.data())) {
      write_error = absl::StrCat("write ", to_stdout ? "stdout" : tmp, ": ", std::strerror(errno));
      call.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!write_error.empty()) return finish(ctx.Fail(write_error));
  if (!status.ok()) return finish(ctx.Fail(status));
  if (!to_stdout) {
    if (fsync(fd) != 0) {
      return finish(ctx.Fail(absl::StrCat("fsync ", tmp, ": ", std::strerror(errno))));
    }
    if (rename(tmp.c_str(), options.output.c_str()) != 0) {
      return finish(ctx.Fail(
          absl::StrCat("rename ", tmp, " to ", options.output, ": ", std::strerror(errno))));
    }
  }
  return finish(0);
}

}  // namespace

void RegisterSave(CLI::App& app, Context& ctx) {
  CLI::App* cmd =
      app.add_subcommand("save", "Save images to an OCI image layout tar (stdout by default)");
  auto options = std::make_shared<SaveOptions>();
  cmd->add_option("-o,--output", options->output, "Write to this file instead of stdout");
  cmd->add_option("IMAGE", options->images, "Images (name[:tag] or id)")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Save(ctx, *options)); });
}

}  // namespace kapsel::client
