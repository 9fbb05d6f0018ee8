#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// A directory (an OCI image layout, or an unpacked docker save) streamed as a tar archive, so that
// `kapselctl load -i DIR` sends the daemon the same bytes as a load of the tarred directory and
// the daemon never opens a path of the client's.
namespace kapsel::client {

// Receives the archive in order, in pieces of any size. A non-OK status ends the write and is
// returned by WriteDirectoryTar.
using TarSink = std::function<absl::Status(absl::string_view)>;

// Walks `dir` with libarchive's disk reader, checks every entry before anything is written, then
// writes a pax tar of it to `sink`: entry names relative to `dir`, owners and times zeroed.
// Regular files and directories are taken as they are; a symlink is kept (its target rewritten
// as an absolute path from the archive's root) only when it resolves to a regular file or a
// directory inside `dir`. InvalidArgument naming the entry for a symlink that leaves `dir` or
// dangles and for anything else (device, FIFO, socket); errno-carrying errors naming the path
// for what cannot be read; FailedPrecondition when a file changes while it is written.
absl::Status WriteDirectoryTar(const std::string& dir, const TarSink& sink);

}  // namespace kapsel::client
