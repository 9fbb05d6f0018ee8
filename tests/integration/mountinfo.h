#pragma once

// What the integration tests check is left mounted: the mount points under a directory.

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace kapsel::test_support {

// Mount points (field 5 of /proc/self/mountinfo) that start with `dir`.
inline std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4 && fields[4].rfind(dir, 0) == 0) out.push_back(fields[4]);
  }
  return out;
}

}  // namespace kapsel::test_support
