#pragma once

#include <string>

#include "daemon/log_writer.h"

namespace kapsel::shim {

struct Options {
  std::string id;
  std::string bundle;                  // holds config.json
  std::string state_dir;               // the exit record goes here
  std::string log_path;                // the container's stdout and stderr, in the CRI log format
  logs::RotationOptions log_rotation;  // how log_path is rotated (log_writer.h)
  int status_fd = -1;                  // one StartReport is written here, then it is closed
  bool open_stdin = false;             // the container's stdin is a pipe fed from the attach socket
  int attach_fd = -1;  // a first attach connection, made before the container starts
  // Compiled seccomp programs, shared by the shims of one daemon (seccomp::CompileCached).
  std::string seccomp_cache_dir;
};

// Creates the container, relays its output until it exits, writes the exit record. Returns the
// shim's exit code: 0 when the container ran (whatever its own exit code), 1 when it could not
// be started.
int Run(const Options& options);

}  // namespace kapsel::shim
