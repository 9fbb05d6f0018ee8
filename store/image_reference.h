#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kapsel::store {

// An image reference as docker reads it for a pull: [domain/]path[:tag][@digest].
//   busybox                         -> docker.io, library/busybox, tag latest
//   user/app:1                      -> docker.io, user/app, tag 1
//   127.0.0.1:5000/team/app:2       -> 127.0.0.1:5000, team/app, tag 2
//   localhost/app@sha256:<hex>      -> localhost, app, digest only
// The first component is a domain when it contains '.' or ':', is "localhost", or has an
// upper-case letter (distribution/reference's splitDockerDomain); "index.docker.io" is docker.io.
struct DistributionReference {
  std::string domain;      // "docker.io", "127.0.0.1:5000", "[::1]:5000", "localhost"
  std::string repository;  // "library/busybox": lowercase path components joined by '/'
  std::string tag;         // "latest" when neither tag nor digest is given; "" with a digest only
  std::string digest;      // "sha256:<64 hex>" or ""

  // The host[:port] to connect to: registry-1.docker.io for docker.io.
  std::string RegistryHost() const;
  // docker's short form: "busybox", "user/app", "127.0.0.1:5000/team/app".
  std::string FamiliarName() const;
  // The tag or the digest to ask the registry's manifests endpoint for (the digest wins).
  std::string ManifestReference() const { return digest.empty() ? tag : digest; }
  // The full form: "docker.io/library/busybox:latest", "host:5000/app@sha256:...".
  std::string ToString() const;
};

inline constexpr char kDockerHubDomain[] = "docker.io";
inline constexpr char kDockerHubRegistryHost[] = "registry-1.docker.io";

// Parses `reference` as above. InvalidArgument naming the reference and what is wrong: an
// upper-case or otherwise malformed path component, a malformed tag, a digest other than sha256
// with 64 lower-case hex digits, a name over 255 characters.
absl::StatusOr<DistributionReference> ParseDistributionReference(absl::string_view reference);

// True for "localhost", an IPv4 literal in 127.0.0.0/8 and "::1" (bracketed or not), each with
// or without a ":port". A name that merely resolves to a loopback address is not one.
bool IsLoopbackHost(absl::string_view host_port);

}  // namespace kapsel::store
