#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kapsel::store {

// Incremental SHA-256 (OpenSSL EVP). Move-only, not thread-safe.
class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  void Update(const void* data, size_t n);
  // "sha256:<64 lower hex>". The hasher must not be used afterwards.
  std::string Final();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The digest of `bytes` as "sha256:<hex>".
std::string Sha256Of(absl::string_view bytes);

// OK for "sha256:" followed by 64 lower-case hex digits; InvalidArgument naming it otherwise.
absl::Status ValidateDigest(absl::string_view digest);

// True for one or more lower-case hex digits.
bool IsLowerHex(absl::string_view s);

}  // namespace kapsel::store
