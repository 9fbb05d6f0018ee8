#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

// A client of the OCI distribution API (HTTP API v2, the "pull" half) over libcurl.
namespace kapsel::store {

// Basic-auth credentials for one registry, as docker's config.json holds them.
struct RegistryCredentials {
  std::string username;
  std::string password;

  bool empty() const { return username.empty() && password.empty(); }
};

// One challenge of a WWW-Authenticate header (RFC 7235 section 4.1).
struct AuthChallenge {
  std::string scheme;                         // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names: realm, service, scope, error
};

// Parses a WWW-Authenticate value: one or more challenges separated by commas, each a scheme and
// name=value parameters (quoted strings with backslash escapes, or tokens). A malformed tail is
// dropped; what parsed before it is returned.
std::vector<AuthChallenge> ParseWwwAuthenticate(absl::string_view value);

struct RegistryOptions {
  // host[:port] of registries that may be reached over plain HTTP, or over HTTPS without
  // certificate verification (kapseld --insecure-registry). Loopback registries (see
  // IsLoopbackHost) are always treated so. Every other registry: HTTPS with the system CAs.
  std::vector<std::string> insecure_registries;
  std::string user_agent = "kapsel";
  int connect_timeout_seconds = 30;
  // A transfer that moves no byte for this long fails with Unavailable.
  int stall_timeout_seconds = 60;
};

// True when `host` may be spoken to without verified TLS: a loopback host or one listed in
// options.insecure_registries.
bool IsInsecureRegistry(const RegistryOptions& options, absl::string_view host);

// The pull side of one repository of one registry. The first request pings /v2/ to learn the
// scheme (HTTPS; for an insecure registry HTTPS without verification, then plain HTTP) and the
// authentication the registry wants. Bearer tokens (the registry's WWW-Authenticate realm, with
// the credentials when given) and basic auth are handled, including a token that expires during
// the pull. Redirects (blob downloads from a CDN) are followed; curl sends the Authorization
// header to the registry's host only.
//
// Thread-safe: FetchBlob may run on several threads at once; each request uses its own curl
// handle from a pool.
class RegistryClient {
 public:
  // `host` is host[:port] ("registry-1.docker.io", "127.0.0.1:5000"), `repository` the path
  // ("library/busybox").
  RegistryClient(std::string host, std::string repository, RegistryCredentials credentials,
                 RegistryOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // Checked while transfers run; returning true aborts them with Cancelled.
  void set_cancelled(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

  struct Manifest {
    std::string media_type;  // the Content-Type, or the document's own mediaType
    std::string bytes;       // verbatim
    std::string digest;      // "sha256:<hex>" of bytes
  };
  // GET /v2/<repository>/manifests/<reference> (a tag or a digest), accepting OCI and docker
  // schema-2 manifests, indexes and manifest lists. At most 4 MiB. DataLoss when the bytes do
  // not hash to a requested digest or to the Docker-Content-Digest the registry sent. NotFound
  // naming the reference for an unknown manifest or repository.
  absl::StatusOr<Manifest> GetManifest(const std::string& reference);

  // Receives the bytes of a blob as they arrive; an error aborts the transfer with that status.
  using Sink = std::function<absl::Status(const char* data, size_t n)>;
  // GET /v2/<repository>/blobs/<digest>, streamed to `sink`. The caller verifies the digest
  // (see ContentStore::Writer). DataLoss when more than `max_bytes` arrive (-1: no limit).
  absl::Status FetchBlob(const std::string& digest, int64_t max_bytes, const Sink& sink);

  // "http" or "https" once a request was made; "" before.
  std::string scheme() const;

 private:
  struct Response;
  struct Request;
  class HandlePool;

  absl::Status EnsurePinged();
  // Performs one HTTP GET; transport failures become Unavailable/Cancelled statuses.
  absl::StatusOr<Response> Perform(const Request& request);
  // Perform() with the current Authorization, answering one 401 by authenticating and retrying.
  absl::StatusOr<Response> PerformAuthorized(Request request, absl::string_view what);
  // Turns the challenges of a 401 into an Authorization value (fetching a bearer token).
  absl::Status Authenticate(const std::string& www_authenticate, absl::string_view what,
                            const std::string& used_authorization);
  absl::StatusOr<std::string> FetchToken(const AuthChallenge& challenge);
  bool UrlAllowed(const std::string& url, std::string* why) const;

  std::string host_;
  std::string repository_;
  RegistryCredentials credentials_;
  RegistryOptions options_;
  bool insecure_;
  std::function<bool()> cancelled_;

  mutable absl::Mutex mu_;
  std::string scheme_ ABSL_GUARDED_BY(mu_);
  bool pinged_ ABSL_GUARDED_BY(mu_) = false;
  std::string authorization_ ABSL_GUARDED_BY(mu_);  // the Authorization header value, or ""
  // Held for the whole ping, so that concurrent first requests wait for one ping.
  absl::Mutex ping_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Idle curl handles: they keep their connections (and TLS sessions) for the next request.
  std::unique_ptr<HandlePool> handles_;
};

// The message of a registry's error body ({"errors":[{"code","message"}]}), e.g.
// "manifest unknown (MANIFEST_UNKNOWN)"; "" when the body has none.
std::string RegistryErrorMessage(absl::string_view body);

}  // namespace kapsel::store
