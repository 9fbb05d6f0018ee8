// Times kapsel's layer extractor (store::UnpackLayer) on one layer blob: the C++ half of
// tests/bench/unpack_bench.sh, which compares it with tar -x of the same file.
// usage: unpack_bench LAYER TARGET_DIR   (TARGET_DIR must exist and be empty)
// Prints the wall-clock seconds of the unpack on stdout.

#include <chrono>
#include <cstdio>

#include "spdlog/spdlog.h"
#include "store/layer_unpack.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: unpack_bench LAYER TARGET_DIR\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::err);
  auto start = std::chrono::steady_clock::now();
  absl::Status status = kapsel::store::UnpackLayer(argv[1], argv[2]);
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (!status.ok()) {
    std::fprintf(stderr, "unpack_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("%.3f\n", elapsed.count());
  return 0;
}
