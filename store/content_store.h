#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/linux/unique_fd.h"
#include "store/digest.h"

namespace kapsel::store {

// Content-addressed blobs under `<blobs_root>/sha256/<hex>`. A blob is written to a staging file
// in `<blobs_root>/ingest/` and renamed into place only after its SHA-256 is known (and matches
// the expected digest, when one is given); file and directory are fsynced, so a blob that is
// present is complete. Thread-safe: methods touch no shared mutable state.
class ContentStore {
 public:
  // Streams one blob into the store. Move-only, not thread-safe. Removes its staging file on any
  // failure and in the destructor if not committed.
  class Writer {
   public:
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    absl::Status Write(const void* data, size_t n);
    // Verifies against `expected` ("sha256:<hex>") when given; returns "sha256:<hex>".
    // FailedPrecondition on a mismatch. The writer is finished afterwards, whatever the result.
    absl::StatusOr<std::string> Commit(const std::string& expected = "");
    int64_t size() const { return size_; }  // bytes written so far

   private:
    friend class ContentStore;
    Writer(const ContentStore* store, linux::UniqueFd fd, std::string staging_path);
    void Abort();

    const ContentStore* store_;
    linux::UniqueFd fd_;
    std::string staging_path_;
    Sha256 hash_;
    int64_t size_ = 0;
    bool done_ = false;
  };

  explicit ContentStore(std::string blobs_root);  // <data_root>/blobs

  absl::StatusOr<std::unique_ptr<Writer>> NewWriter();
  // Stores `bytes`; returns its digest.
  absl::StatusOr<std::string> Put(const std::string& bytes);
  // Stores the file at `path`; returns its digest. NotFound naming path if it is missing.
  absl::StatusOr<std::string> PutFile(const std::string& path);
  // `<blobs_root>/sha256/<hex>`, or "" when `digest` is not "sha256:<64 hex>".
  std::string PathOf(const std::string& digest) const;
  bool Has(const std::string& digest) const;
  // OK if the blob is absent; InvalidArgument for a malformed digest.
  absl::Status Delete(const std::string& digest);

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace kapsel::store
