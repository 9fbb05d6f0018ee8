#pragma once

#include <string>

#include "client/context.h"

namespace kapsel::client {

struct AttachFlags {
  bool start = false;     // start the container with the stream attached (run -it, start -a)
  bool no_stdin = false;  // do not forward stdin even when the container keeps it open
};

// Attaches to `container` (its output, its stdin when it was created with -i, its terminal's
// window size when it has one) until it exits or ctrl-p ctrl-q detaches. Returns kapselctl's
// exit code: the container's, 0 after a detach, or an error's.
int AttachToContainer(Context& ctx, const std::string& container, const AttachFlags& flags);

}  // namespace kapsel::client
