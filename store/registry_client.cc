#include "store/registry_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "store/digest.h"
#include "store/image_reference.h"

namespace kapsel::store {
namespace {

using ::nlohmann::json;

constexpr int64_t kMaxManifestBytes = 4 << 20;
constexpr int64_t kMaxTokenBytes = 1 << 20;
// Bodies of error responses (and of redirects) are kept only this far.
constexpr size_t kMaxErrorBodyBytes = 64 << 10;
constexpr long kMaxRedirects = 5;

constexpr char kManifestAccept[] =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using UniqueCurl = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using UniqueSlist = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Splits a URL into scheme and host[:port] (IPv6 hosts in brackets). False if it does not parse.
bool SplitUrl(const std::string& url, std::string* scheme, std::string* host_port) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (u == nullptr || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return false;
  }
  auto part = [&](CURLUPart which, std::string* out) {
    char* value = nullptr;
    if (curl_url_get(u.get(), which, &value, 0) != CURLUE_OK) return false;
    *out = value;
    curl_free(value);
    return true;
  };
  std::string host, port;
  if (!part(CURLUPART_SCHEME, scheme) || !part(CURLUPART_HOST, &host)) return false;
  *host_port = part(CURLUPART_PORT, &port) ? absl::StrCat(host, ":", port) : host;
  return true;
}

bool IsTlsError(CURLcode code) {
  return code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION ||
         code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CACERT_BADFILE;
}

}  // namespace

std::vector<AuthChallenge> ParseWwwAuthenticate(absl::string_view value) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < value.size() && value[i] != ' ' && value[i] != '\t' && value[i] != ',' &&
           value[i] != '=' && value[i] != '"') {
      ++i;
    }
    return value.substr(start, i - start);
  };
  while (i < value.size()) {
    skip_space();
    if (i < value.size() && value[i] == ',') {
      ++i;
      continue;
    }
    absl::string_view scheme = token();
    if (scheme.empty()) break;
    AuthChallenge challenge;
    challenge.scheme = absl::AsciiStrToLower(scheme);
    // Parameters: name=value pairs separated by commas; a bare token after a comma starts the
    // next challenge.
    while (true) {
      skip_space();
      size_t mark = i;
      absl::string_view name = token();
      skip_space();
      if (name.empty() || i >= value.size() || value[i] != '=') {
        i = mark;
        break;
      }
      ++i;  // '='
      skip_space();
      std::string param_value;
      if (i < value.size() && value[i] == '"') {
        ++i;
        bool closed = false;
        while (i < value.size()) {
          char c = value[i++];
          if (c == '\\' && i < value.size()) {
            param_value.push_back(value[i++]);
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            param_value.push_back(c);
          }
        }
        if (!closed) {
          out.push_back(std::move(challenge));
          return out;
        }
      } else {
        param_value = std::string(token());
      }
      challenge.params[absl::AsciiStrToLower(name)] = std::move(param_value);
      skip_space();
      if (i < value.size() && value[i] == ',') ++i;
    }
    out.push_back(std::move(challenge));
  }
  return out;
}

bool IsInsecureRegistry(const RegistryOptions& options, absl::string_view host) {
  if (IsLoopbackHost(host)) return true;
  for (const std::string& entry : options.insecure_registries) {
    if (absl::EqualsIgnoreCase(entry, host)) return true;
    // An entry without a port names every port of the host ("[fd00::1]" has none either).
    const bool has_port = absl::StartsWith(entry, "[") ? absl::StrContains(entry, "]:")
                                                       : absl::StrContains(entry, ':');
    if (!has_port && absl::StartsWithIgnoreCase(host, entry) && host.size() > entry.size() &&
        host[entry.size()] == ':') {
      return true;
    }
  }
  return false;
}

std::string RegistryErrorMessage(absl::string_view body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> messages;
  if (parsed.is_object() && parsed.contains("errors") && parsed["errors"].is_array()) {
    for (const json& e : parsed["errors"]) {
      if (!e.is_object()) continue;
      std::string message = e.value("message", "");
      std::string code = e.value("code", "");
      if (message.empty()) message = code;
      if (!code.empty() && code != message) absl::StrAppend(&message, " (", code, ")");
      if (!message.empty()) messages.push_back(std::move(message));
    }
    return absl::StrJoin(messages, "; ");
  }
  if (parsed.is_object()) {
    // Token services answer {"details": "..."} or {"error": "..."}.
    for (const char* key : {"details", "error_description", "error", "message"}) {
      if (parsed.contains(key) && parsed[key].is_string()) return parsed[key].get<std::string>();
    }
    return "";
  }
  absl::string_view text = absl::StripAsciiWhitespace(body);
  if (text.empty() || text.size() > 200) return "";
  for (char c : text) {
    if (!absl::ascii_isprint(c)) return "";
  }
  return std::string(text);
}

class RegistryClient::HandlePool {
 public:
  ~HandlePool() {
    for (CURL* curl : idle_) curl_easy_cleanup(curl);
  }
  UniqueCurl Get() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        CURL* curl = idle_.back();
        idle_.pop_back();
        return UniqueCurl(curl);
      }
    }
    return UniqueCurl(curl_easy_init());
  }
  // Options are reset; live connections, TLS sessions and the DNS cache stay.
  void Put(UniqueCurl curl) {
    curl_easy_reset(curl.get());
    absl::MutexLock lock(&mu_);
    idle_.push_back(curl.release());
  }

 private:
  absl::Mutex mu_;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(mu_);
};

struct RegistryClient::Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last response; lower-case names
  std::string body;                            // unless a sink took it
};

struct RegistryClient::Request {
  std::string url;
  std::vector<std::string> headers;       // "Name: value"
  std::string authorization;              // the Authorization value, or ""
  const Sink* sink = nullptr;             // takes the body of a 200 response
  int64_t max_body = kMaxErrorBodyBytes;  // bytes; for a sink, -1 is no limit
  bool verify_tls = true;
};

namespace {

// What the curl callbacks of one transfer share.
struct Transfer {
  const RegistryClient::Sink* sink = nullptr;
  int64_t max_body = 0;
  const std::function<bool()>* cancelled = nullptr;
  long status = 0;
  std::map<std::string, std::string>* headers = nullptr;
  std::string* body = nullptr;
  int64_t streamed = 0;
  absl::Status error;  // why a callback stopped the transfer
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * count);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect or a 100 Continue): forget the previous one's.
    t->headers->clear();
    t->body->clear();
    size_t sp = line.find(' ');
    int code = 0;
    if (sp != absl::string_view::npos && absl::SimpleAtoi(line.substr(sp + 1, 3), &code)) {
      t->status = code;
    }
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return size * count;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  std::string& slot = (*t->headers)[name];
  // Repeated headers (WWW-Authenticate with several challenges) combine with commas.
  slot = slot.empty() ? std::string(value) : absl::StrCat(slot, ", ", value);
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->sink != nullptr && t->status == 200) {
    t->streamed += static_cast<int64_t>(n);
    if (t->max_body >= 0 && t->streamed > t->max_body) {
      t->error = absl::DataLossError(
          absl::StrCat("the registry sent more than the ", t->max_body, " bytes expected"));
      return 0;
    }
    absl::Status status = (*t->sink)(data, n);
    if (!status.ok()) {
      t->error = std::move(status);
      return 0;
    }
    return n;
  }
  size_t limit = t->sink == nullptr && t->status == 200 ? static_cast<size_t>(t->max_body)
                                                        : kMaxErrorBodyBytes;
  if (t->body->size() + n > limit) {
    if (t->sink == nullptr && t->status == 200) {
      t->error = absl::ResourceExhaustedError(
          absl::StrCat("the response is larger than ", limit, " bytes"));
      return 0;
    }
    t->body->append(data, limit - std::min(limit, t->body->size()));
    return n;  // an error body: the start of it is enough
  }
  t->body->append(data, n);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancelled != nullptr && *t->cancelled && (*t->cancelled)() ? 1 : 0;
}

// The status for a registry's answer other than 200.
absl::Status HttpError(long status, const std::string& body, absl::string_view what) {
  std::string message = RegistryErrorMessage(body);
  if (message.empty()) message = absl::StrCat("HTTP ", status);
  std::string text = absl::StrCat(what, ": ", message);
  switch (status) {
    case 401:
      return absl::UnauthenticatedError(text);
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 429:
      return absl::ResourceExhaustedError(text);
    default:
      break;
  }
  if (status >= 500) return absl::UnavailableError(text);
  return absl::FailedPreconditionError(text);
}

}  // namespace

RegistryClient::RegistryClient(std::string host, std::string repository,
                               RegistryCredentials credentials, RegistryOptions options)
    : host_(std::move(host)),
      repository_(std::move(repository)),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      insecure_(IsInsecureRegistry(options_, host_)),
      handles_(std::make_unique<HandlePool>()) {
  GlobalInit();
}

RegistryClient::~RegistryClient() = default;

std::string RegistryClient::scheme() const {
  absl::MutexLock lock(&mu_);
  return scheme_;
}

bool RegistryClient::UrlAllowed(const std::string& url, std::string* why) const {
  std::string scheme, host;
  if (!SplitUrl(url, &scheme, &host)) {
    *why = absl::StrCat("malformed URL \"", url, "\"");
    return false;
  }
  if (scheme == "https") return true;
  if (scheme == "http" && IsInsecureRegistry(options_, host)) return true;
  *why = absl::StrCat("refusing ", scheme, "://", host, ": plain HTTP is only used for loopback ",
                      "registries and those given to kapseld with --insecure-registry ", host);
  return false;
}

absl::StatusOr<RegistryClient::Response> RegistryClient::Perform(const Request& request) {
  std::string why;
  if (!UrlAllowed(request.url, &why)) return absl::FailedPreconditionError(why);
  UniqueCurl curl = handles_->Get();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* c = curl.get();
  Response response;
  Transfer t;
  t.sink = request.sink;
  t.max_body = request.max_body;
  t.cancelled = &cancelled_;
  t.headers = &response.headers;
  t.body = &response.body;
  char error[CURL_ERROR_SIZE] = "";

  UniqueSlist headers;
  for (const std::string& h : request.headers) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
    headers.release();
    headers.reset(next);
  }
  if (!request.authorization.empty()) {
    std::string h = absl::StrCat("Authorization: ", request.authorization);
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
    headers.release();
    headers.reset(next);
  }
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Blob downloads are redirected to a CDN; to plain HTTP only from an insecure registry.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, insecure_ ? "http,https" : "https");
  // Custom Authorization headers go to the first host only (curl >= 7.58), never to the CDN.
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout_seconds));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout_seconds));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (headers != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (!request.verify_tls) {
    // An --insecure-registry (or loopback) registry: TLS without certificate checks, as docker
    // does for those; plain HTTP is tried after this fails.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode code = curl_easy_perform(c);
  handles_->Put(std::move(curl));
  if (!t.error.ok()) return t.error;
  if (code == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError("the pull was cancelled");
  if (code != CURLE_OK) {
    std::string text = absl::StrCat("GET ", request.url, ": ",
                                    error[0] != '\0' ? error : curl_easy_strerror(code));
    if (IsTlsError(code) && !insecure_) {
      absl::StrAppend(&text, " (if ", host_,
                      " serves plain HTTP or a certificate the system CAs do not verify, start "
                      "kapseld with --insecure-registry ",
                      host_, ")");
    }
    return absl::UnavailableError(text);
  }
  response.status = t.status;
  return response;
}

absl::Status RegistryClient::EnsurePinged() {
  absl::MutexLock ping_lock(&ping_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (pinged_) return absl::OkStatus();
  }
  // An insecure registry: HTTPS without verification first, then plain HTTP, like docker.
  std::vector<std::string> schemes = {"https"};
  if (insecure_) schemes.push_back("http");
  absl::Status last;
  for (const std::string& scheme : schemes) {
    Request request;
    request.url = absl::StrCat(scheme, "://", host_, "/v2/");
    request.verify_tls = !insecure_;
    absl::StatusOr<Response> response = Perform(request);
    if (!response.ok()) {
      if (absl::IsCancelled(response.status())) return response.status();
      last = response.status();
      continue;
    }
    if (response->status != 200 && response->status != 401) {
      return HttpError(response->status, response->body,
                       absl::StrCat("GET ", request.url, " (is ", host_, " a registry?)"));
    }
    {
      absl::MutexLock lock(&mu_);
      scheme_ = scheme;
      pinged_ = true;
    }
    if (response->status == 401) {
      // Authenticate now (a token for this repository), saving a 401 on the first request.
      absl::Status status =
          Authenticate(response->headers["www-authenticate"], absl::StrCat(host_, "/v2/"), "");
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  return last;
}

absl::Status RegistryClient::Authenticate(const std::string& www_authenticate,
                                          absl::string_view what,
                                          const std::string& used_authorization) {
  absl::MutexLock lock(&mu_);
  // Another thread answered the same 401 already.
  if (authorization_ != used_authorization) return absl::OkStatus();
  std::vector<AuthChallenge> challenges = ParseWwwAuthenticate(www_authenticate);
  const AuthChallenge* bearer = nullptr;
  const AuthChallenge* basic = nullptr;
  for (const AuthChallenge& c : challenges) {
    if (c.scheme == "bearer" && bearer == nullptr) bearer = &c;
    if (c.scheme == "basic" && basic == nullptr) basic = &c;
  }
  if (bearer != nullptr) {
    absl::StatusOr<std::string> token = FetchToken(*bearer);
    if (!token.ok()) return token.status();
    authorization_ = absl::StrCat("Bearer ", *token);
    return absl::OkStatus();
  }
  if (basic != nullptr) {
    if (credentials_.empty()) {
      return absl::UnauthenticatedError(
          absl::StrCat(what, ": ", host_,
                       " requires a login and the client's docker config.json has none for it"));
    }
    std::string basic_value = absl::StrCat(
        "Basic ",
        absl::Base64Escape(absl::StrCat(credentials_.username, ":", credentials_.password)));
    if (used_authorization == basic_value) {
      return absl::UnauthenticatedError(absl::StrCat(what, ": ", host_, " refused the login"));
    }
    authorization_ = std::move(basic_value);
    return absl::OkStatus();
  }
  return absl::UnauthenticatedError(absl::StrCat(
      what, ": ", host_, " answered 401 without a Bearer or Basic challenge (WWW-Authenticate: \"",
      www_authenticate, "\")"));
}

absl::StatusOr<std::string> RegistryClient::FetchToken(const AuthChallenge& challenge) {
  auto param = [&](const char* name) {
    auto it = challenge.params.find(name);
    return it == challenge.params.end() ? std::string() : it->second;
  };
  std::string realm = param("realm");
  if (realm.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat(host_, " asked for a bearer token without naming a realm"));
  }
  std::string scope = param("scope");
  if (scope.empty()) scope = absl::StrCat("repository:", repository_, ":pull");
  UniqueCurl escaper(curl_easy_init());
  if (escaper == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  auto escape = [&](const std::string& s) {
    char* e = curl_easy_escape(escaper.get(), s.c_str(), static_cast<int>(s.size()));
    std::string out = e != nullptr ? e : "";
    curl_free(e);
    return out;
  };
  Request request;
  request.url =
      absl::StrCat(realm, absl::StrContains(realm, '?') ? "&" : "?", "scope=", escape(scope));
  if (std::string service = param("service"); !service.empty()) {
    absl::StrAppend(&request.url, "&service=", escape(service));
  }
  std::string scheme, realm_host;
  if (!SplitUrl(realm, &scheme, &realm_host)) {
    return absl::UnauthenticatedError(absl::StrCat("malformed token realm \"", realm, "\""));
  }
  request.verify_tls = !IsInsecureRegistry(options_, realm_host);
  request.max_body = kMaxTokenBytes;
  if (!credentials_.empty()) {
    request.authorization = absl::StrCat(
        "Basic ",
        absl::Base64Escape(absl::StrCat(credentials_.username, ":", credentials_.password)));
  }
  absl::StatusOr<Response> response = Perform(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat("token service ", realm, ": ", response.status().message()));
  }
  if (response->status != 200) {
    absl::Status status =
        HttpError(response->status, response->body, absl::StrCat("token service ", realm));
    // A token service refusing the credentials (or wanting some) is an authentication error.
    if (response->status == 401 || response->status == 403) {
      return absl::UnauthenticatedError(status.message());
    }
    return status;
  }
  json parsed = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  for (const char* key : {"token", "access_token"}) {
    if (parsed.is_object() && parsed.contains(key) && parsed[key].is_string() &&
        !parsed[key].get<std::string>().empty()) {
      return parsed[key].get<std::string>();
    }
  }
  return absl::UnauthenticatedError(
      absl::StrCat("token service ", realm, " answered without a token"));
}

absl::StatusOr<RegistryClient::Response> RegistryClient::PerformAuthorized(Request request,
                                                                           absl::string_view what) {
  absl::Status status = EnsurePinged();
  if (!status.ok()) return status;
  std::string path = request.url;  // relative to the registry: "/v2/..."
  Response last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      absl::MutexLock lock(&mu_);
      request.url = absl::StrCat(scheme_, "://", host_, path);
      request.authorization = authorization_;
    }
    request.verify_tls = !insecure_;
    absl::StatusOr<Response> response = Perform(request);
    if (!response.ok()) {
      return absl::Status(response.status().code(),
                          absl::StrCat(what, ": ", response.status().message()));
    }
    if (response->status != 401) return response;
    last = *std::move(response);
    if (attempt == 1) break;
    // A first 401, or an expired token: authenticate (again) and retry once.
    status = Authenticate(last.headers["www-authenticate"], what, request.authorization);
    if (!status.ok()) return status;
  }
  return HttpError(last.status, last.body, what);
}

absl::StatusOr<RegistryClient::Manifest> RegistryClient::GetManifest(const std::string& reference) {
  std::string what = absl::StrCat("manifest ", host_, "/", repository_,
                                  absl::StartsWith(reference, "sha256:") ? "@" : ":", reference);
  Request request;
  request.url = absl::StrCat("/v2/", repository_, "/manifests/", reference);
  request.headers = {kManifestAccept};
  request.max_body = kMaxManifestBytes;
  absl::StatusOr<Response> response = PerformAuthorized(std::move(request), what);
  if (!response.ok()) return response.status();
  // 404 (MANIFEST_UNKNOWN, NAME_UNKNOWN) is NotFound naming the reference.
  if (response->status != 200) return HttpError(response->status, response->body, what);
  Manifest manifest;
  manifest.bytes = std::move(response->body);
  manifest.digest = Sha256Of(manifest.bytes);
  if (absl::StartsWith(reference, "sha256:") && manifest.digest != reference) {
    return absl::DataLossError(absl::StrCat(what, ": the registry sent content with digest ",
                                            manifest.digest, ", not the digest asked for"));
  }
  if (auto it = response->headers.find("docker-content-digest");
      it != response->headers.end() && absl::StartsWith(it->second, "sha256:") &&
      it->second != manifest.digest) {
    return absl::DataLossError(absl::StrCat(what, ": the content has digest ", manifest.digest,
                                            ", the registry's Docker-Content-Digest says ",
                                            it->second));
  }
  absl::string_view type = response->headers["content-type"];
  type = absl::StripAsciiWhitespace(type.substr(0, type.find(';')));
  json parsed = json::parse(manifest.bytes, nullptr, /*allow_exceptions=*/false);
  if ((type.empty() || type == "application/json" || type == "text/plain") && parsed.is_object() &&
      parsed.contains("mediaType") && parsed["mediaType"].is_string()) {
    manifest.media_type = parsed["mediaType"].get<std::string>();
  } else {
    manifest.media_type = std::string(type);
  }
  return manifest;
}

absl::Status RegistryClient::FetchBlob(const std::string& digest, int64_t max_bytes,
                                       const Sink& sink) {
  std::string what = absl::StrCat("blob ", digest);
  Request request;
  request.url = absl::StrCat("/v2/", repository_, "/blobs/", digest);
  request.sink = &sink;
  request.max_body = max_bytes;
  absl::StatusOr<Response> response = PerformAuthorized(std::move(request), what);
  if (!response.ok()) return response.status();
  if (response->status != 200) return HttpError(response->status, response->body, what);
  return absl::OkStatus();
}

}  // namespace kapsel::store
