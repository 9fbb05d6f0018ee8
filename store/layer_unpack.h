#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kapsel::store {

// The sha256 of the uncompressed tar stream of a layer blob (plain, gzip, xz, zstd, ...):
// "sha256:<hex>". NotFound naming the file if it is missing.
absl::StatusOr<std::string> DiffIdOf(const std::string& blob_path);

// Extracts the layer tarball at `blob_path` (any compression) into `target_dir`, which must exist
// and be empty. Safe against hostile archives:
//  - absolute paths and `..` components are refused, naming the entry;
//  - every parent is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to
//    target_dir, and leaves are created with *at() calls and O_NOFOLLOW, so nothing is written
//    through a symlink and nothing lands outside target_dir;
//  - hard links may only point at earlier entries inside target_dir;
//  - OCI whiteouts are turned into overlayfs' own form, as the layer is an overlay lowerdir:
//    `.wh.<name>` becomes a 0:0 character device `<name>` (unless this layer has its own
//    `<name>`), `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory; a whiteout naming
//    `.`, `..` or nothing is refused. Without root both are skipped with a warning;
//  - file data is streamed block by block (sparse holes stay holes), never preallocated from the
//    size in the header.
// Keeps mode (incl. setuid/setgid), uid/gid (when running as root), mtime and the xattrs of
// files and directories; creates device nodes with mknodat. Does not fsync.
absl::Status UnpackLayer(const std::string& blob_path, const std::string& target_dir);

}  // namespace kapsel::store
