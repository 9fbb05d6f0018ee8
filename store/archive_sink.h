#pragma once

// libarchive's write callback over a byte sink (a gRPC stream, a file): shared by `kapselctl load
// -i DIR` (client/directory_tar.cc) and `save` (store/image_archive_write.cc). Header only, so
// that the client needs no part of the store library.

#include <archive.h>
#include <errno.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kapsel::store {

// Takes each block libarchive writes; an error stops the archive.
using ByteSink = std::function<absl::Status(absl::string_view bytes)>;

// The `client` of archive_write_open with WriteToByteSink. `status` keeps the sink's error, which
// says more than libarchive's EIO.
struct ByteSinkContext {
  const ByteSink* sink;
  absl::Status status;
};

inline la_ssize_t WriteToByteSink(struct archive* a, void* client, const void* buf, size_t n) {
  auto* ctx = static_cast<ByteSinkContext*>(client);
  ctx->status = (*ctx->sink)(absl::string_view(static_cast<const char*>(buf), n));
  if (!ctx->status.ok()) {
    archive_set_error(a, EIO, "%s", std::string(ctx->status.message()).c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

}  // namespace kapsel::store
