// libFuzzer target for the layer extractor (store/layer_unpack.cc): every input is a layer blob
// in any format and compression libarchive reads, unpacked into an empty directory.
//
// Oracle besides the sanitizers: the extractor must create nothing outside its target. Each run
// unpacks into <run dir>/root; afterwards the run dir must hold `root` and nothing else, and the
// work dir nothing but the run dir. Escapes that land elsewhere (an absolute path through a
// symlink) are the openat2(RESOLVE_IN_ROOT) checks' business, which this keeps exercised.
//
// Built with clang by -DKAPSEL_BUILD_FUZZ=ON; tests/fuzz/run_fuzz.sh builds and runs it.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"
#include "store/fs_util.h"
#include "store/layer_unpack.h"

namespace {

using ::kapsel::linux::UniqueFd;

std::string* work_dir = nullptr;
int blob_fd = -1;

std::vector<std::string> Entries(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    fprintf(stderr, "open %s: %s\n", dir.c_str(), strerror(errno));
    abort();
  }
  absl::StatusOr<std::vector<std::string>> names = kapsel::store::ListDirAt(fd.get(), dir);
  if (!names.ok()) {
    fprintf(stderr, "%s\n", names.status().ToString().c_str());
    abort();
  }
  return *names;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the extractor warns about what it skips
  umask(022);
  const char* base = getenv("KAPSEL_FUZZ_WORKDIR");
  std::string parent = base != nullptr ? base : "/tmp";
  absl::StatusOr<std::string> dir = kapsel::store::MakeTempDir(parent, "kapsel-unpack-fuzz-");
  if (!dir.ok()) {
    fprintf(stderr, "%s\n", dir.status().ToString().c_str());
    abort();
  }
  work_dir = new std::string(*dir);
  // The blob is handed over as /proc/self/fd/N of a memfd: no file per input on disk.
  blob_fd = memfd_create("layer", MFD_CLOEXEC);
  if (blob_fd < 0) {
    perror("memfd_create");
    abort();
  }
  atexit([] { kapsel::store::RemoveTree(*work_dir).IgnoreError(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (ftruncate(blob_fd, 0) != 0 || pwrite(blob_fd, data, size, 0) != static_cast<ssize_t>(size)) {
    perror("write memfd");
    abort();
  }
  std::string run = absl::StrCat(*work_dir, "/run");
  std::string root = absl::StrCat(run, "/root");
  if (mkdir(run.c_str(), 0700) != 0 || mkdir(root.c_str(), 0755) != 0) {
    perror("mkdir");
    abort();
  }
  kapsel::store::UnpackLayer(absl::StrCat("/proc/self/fd/", blob_fd), root).IgnoreError();
  std::vector<std::string> beside = Entries(run);
  std::vector<std::string> work = Entries(*work_dir);
  if (beside != std::vector<std::string>{"root"} || work != std::vector<std::string>{"run"}) {
    fprintf(stderr,
            "the extractor wrote outside its target: beside root [%s], in the work dir [%s]\n",
            absl::StrJoin(beside, ", ").c_str(), absl::StrJoin(work, ", ").c_str());
    abort();
  }
  absl::Status removed = kapsel::store::RemoveTree(run);
  if (!removed.ok()) {
    fprintf(stderr, "%s\n", removed.ToString().c_str());
    abort();
  }
  return 0;
}
