#pragma once

// `kapsel-shim mount-add` and `kapsel-shim mount-rm`: the part of adding a bind mount to a running
// container that must happen inside the container's mount namespace. setns(CLONE_NEWNS) is
// refused to a process whose fs state is shared among threads, so kapseld (multithreaded) spawns
// this single-threaded helper for it. The helper reports one MountReport line on --status-fd.
//
//   kapsel-shim mount-add --pid PID --pidfd N --source-fd N --target PATH --status-fd N
//   kapsel-shim mount-rm  --pid PID --pidfd N --target PATH --status-fd N
//                         [--expect-dev DEV --expect-ino INO]
//
// --pidfd is a pidfd of the container's init (PID), already checked by kapseld to be that
// container's; --source-fd is a detached mount tree (open_tree(OPEN_TREE_CLONE)) with its
// read-only and propagation attributes set. --target is an absolute, normalized container path.

namespace kapsel::shim {

// argv[0] is "mount-add" or "mount-rm". Returns the process exit code: 0 when the report says
// ok, 1 when it carries an error, 2 for a usage error.
int MountHelperMain(int argc, char** argv);

}  // namespace kapsel::shim
