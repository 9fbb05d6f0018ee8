#pragma once

#include <vector>

namespace kapsel::store {

// One schema step. Versions are applied in ascending order, each once, in its own transaction;
// an applied migration is never edited: add a new one instead.
struct Migration {
  int version;
  const char* sql;
};

const std::vector<Migration>& Migrations();

}  // namespace kapsel::store
