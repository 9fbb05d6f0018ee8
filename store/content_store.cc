#include "store/content_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/fs_util.h"

namespace kapsel::store {

using ::kapsel::linux::UniqueFd;

ContentStore::ContentStore(std::string blobs_root) : root_(std::move(blobs_root)) {}

ContentStore::Writer::Writer(const ContentStore* store, UniqueFd fd, std::string staging_path)
    : store_(store), fd_(std::move(fd)), staging_path_(std::move(staging_path)) {}

ContentStore::Writer::~Writer() {
  if (!done_) Abort();
}

void ContentStore::Writer::Abort() {
  done_ = true;
  fd_.Close();
  unlink(staging_path_.c_str());
}

absl::Status ContentStore::Writer::Write(const void* data, size_t n) {
  if (done_) return absl::FailedPreconditionError("content writer already finished");
  const char* p = static_cast<const char*>(data);
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd_.get(), p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("write ", staging_path_));
      Abort();
      return status;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  hash_.Update(data, n);
  size_ += static_cast<int64_t>(n);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContentStore::Writer::Commit(const std::string& expected) {
  if (done_) return absl::FailedPreconditionError("content writer already finished");
  if (!expected.empty()) {
    absl::Status status = ValidateDigest(expected);
    if (!status.ok()) {
      Abort();
      return status;
    }
  }
  std::string digest = hash_.Final();
  if (!expected.empty() && digest != expected) {
    Abort();
    return absl::FailedPreconditionError(
        absl::StrCat("digest mismatch: expected ", expected, ", got ", digest));
  }
  if (fsync(fd_.get()) != 0) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("fsync ", staging_path_));
    Abort();
    return status;
  }
  // Blobs are immutable once in place.
  fchmod(fd_.get(), 0444);
  fd_.Close();
  std::string target = store_->PathOf(digest);
  if (rename(staging_path_.c_str(), target.c_str()) != 0) {
    absl::Status status =
        absl::ErrnoToStatus(errno, absl::StrCat("rename ", staging_path_, " to ", target));
    Abort();
    return status;
  }
  done_ = true;
  absl::Status status = FsyncDir(absl::StrCat(store_->root_, "/sha256"));
  if (!status.ok()) return status;
  return digest;
}

absl::StatusOr<std::unique_ptr<ContentStore::Writer>> ContentStore::NewWriter() {
  for (const char* sub : {"/sha256", "/ingest"}) {
    absl::Status status = MkdirAll(absl::StrCat(root_, sub), 0700);
    if (!status.ok()) return status;
  }
  std::string staging = absl::StrCat(root_, "/ingest/blob-XXXXXX");
  int fd = mkostemp(staging.data(), O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("mkostemp ", staging));
  return std::unique_ptr<Writer>(new Writer(this, UniqueFd(fd), std::move(staging)));
}

absl::StatusOr<std::string> ContentStore::Put(const std::string& bytes) {
  absl::StatusOr<std::unique_ptr<Writer>> writer = NewWriter();
  if (!writer.ok()) return writer.status();
  absl::Status status = (*writer)->Write(bytes.data(), bytes.size());
  if (!status.ok()) return status;
  return (*writer)->Commit();
}

absl::StatusOr<std::string> ContentStore::PutFile(const std::string& path) {
  int raw = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  UniqueFd fd(raw);
  absl::StatusOr<std::unique_ptr<Writer>> writer = NewWriter();
  if (!writer.ok()) return writer.status();
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    absl::Status status = (*writer)->Write(buf, static_cast<size_t>(n));
    if (!status.ok()) return status;
  }
  return (*writer)->Commit();
}

std::string ContentStore::PathOf(const std::string& digest) const {
  if (!ValidateDigest(digest).ok()) return "";
  return absl::StrCat(root_, "/sha256/", digest.substr(7));
}

bool ContentStore::Has(const std::string& digest) const {
  std::string path = PathOf(digest);
  struct stat st;
  return !path.empty() && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status ContentStore::Delete(const std::string& digest) {
  absl::Status status = ValidateDigest(digest);
  if (!status.ok()) return status;
  std::string path = PathOf(digest);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

}  // namespace kapsel::store
