#include "store/image_reference.h"

#include <arpa/inet.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "store/digest.h"

namespace kapsel::store {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

absl::Status Bad(absl::string_view reference, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid reference format \"", reference, "\": ", why));
}

bool IsLowerAlnum(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, distribution/reference's path-component.
bool IsPathComponent(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && !IsLowerAlnum(s[j])) ++j;
    absl::string_view sep = s.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == absl::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

// [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9].
bool IsDomainComponent(absl::string_view s) {
  if (s.empty() || !absl::ascii_isalnum(s.front()) || !absl::ascii_isalnum(s.back())) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

bool IsPort(absl::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// Splits "host:port", "[v6]:port", "host" into host (brackets removed) and port ("" if none).
bool SplitHostPort(absl::string_view host_port, absl::string_view* host, absl::string_view* port) {
  *port = "";
  if (absl::ConsumePrefix(&host_port, "[")) {
    size_t close = host_port.find(']');
    if (close == absl::string_view::npos) return false;
    *host = host_port.substr(0, close);
    absl::string_view rest = host_port.substr(close + 1);
    if (rest.empty()) return true;
    if (!absl::ConsumePrefix(&rest, ":")) return false;
    *port = rest;
    return true;
  }
  size_t colon = host_port.rfind(':');
  if (colon != absl::string_view::npos && host_port.find(':') == colon) {
    *host = host_port.substr(0, colon);
    *port = host_port.substr(colon + 1);
    return true;
  }
  *host = host_port;  // no colon, or a bare IPv6 literal such as "::1"
  return true;
}

bool IsDomain(absl::string_view domain) {
  absl::string_view host, port;
  if (!SplitHostPort(domain, &host, &port)) return false;
  if (absl::EndsWith(domain, ":") || (!port.empty() && !IsPort(port))) return false;
  if (absl::StartsWith(domain, "[")) {
    struct in6_addr addr;
    return inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
  }
  for (absl::string_view part : absl::StrSplit(host, '.')) {
    if (!IsDomainComponent(part)) return false;  // also refuses a bare IPv6 literal
  }
  return true;
}

bool IsTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  auto word = [](char c) { return absl::ascii_isalnum(c) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace

std::string DistributionReference::RegistryHost() const {
  return domain == kDockerHubDomain ? kDockerHubRegistryHost : domain;
}

std::string DistributionReference::FamiliarName() const {
  if (domain != kDockerHubDomain) return absl::StrCat(domain, "/", repository);
  absl::string_view path = repository;
  if (absl::ConsumePrefix(&path, "library/") && !absl::StrContains(path, '/')) {
    return std::string(path);
  }
  return repository;
}

std::string DistributionReference::ToString() const {
  std::string out = absl::StrCat(domain, "/", repository);
  if (!tag.empty()) absl::StrAppend(&out, ":", tag);
  if (!digest.empty()) absl::StrAppend(&out, "@", digest);
  return out;
}

absl::StatusOr<DistributionReference> ParseDistributionReference(absl::string_view reference) {
  DistributionReference ref;
  absl::string_view name = reference;
  if (size_t at = name.find('@'); at != absl::string_view::npos) {
    ref.digest = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (!absl::StartsWith(ref.digest, "sha256:")) {
      return Bad(reference, "only sha256 digests are supported");
    }
    if (!ValidateDigest(ref.digest).ok()) {
      return Bad(reference, "a sha256 digest has 64 lower-case hex digits");
    }
  }
  // The tag follows the last ':' after the last '/': the colon of "host:5000/app" is a port's.
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!IsTag(ref.tag)) {
      return Bad(reference,
                 "a tag is 1 to 128 of letters, digits, '_', '.', '-', not led by "
                 "'.' or '-'");
    }
  }
  if (name.empty()) return Bad(reference, "empty name");
  if (name.size() > kMaxNameLength) return Bad(reference, "the name is over 255 characters");

  absl::string_view path = name;
  size_t first_slash = name.find('/');
  if (first_slash != absl::string_view::npos) {
    absl::string_view first = name.substr(0, first_slash);
    bool is_domain = absl::StrContains(first, '.') || absl::StrContains(first, ':') ||
                     first == "localhost" || absl::AsciiStrToLower(first) != first;
    if (is_domain) {
      if (!IsDomain(first))
        return Bad(reference, absl::StrCat("malformed registry \"", first, "\""));
      ref.domain = std::string(first);
      path = name.substr(first_slash + 1);
    }
  }
  if (ref.domain.empty() || ref.domain == "index.docker.io") ref.domain = kDockerHubDomain;
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (!IsPathComponent(component)) {
      return Bad(reference, absl::StrCat("repository path component \"", component,
                                         "\" must be lowercase letters and digits, "
                                         "separated by '.', '_', '__' or '-'"));
    }
  }
  ref.repository = std::string(path);
  if (ref.domain == kDockerHubDomain && !absl::StrContains(path, '/')) {
    ref.repository = absl::StrCat("library/", path);
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

bool IsLoopbackHost(absl::string_view host_port) {
  absl::string_view host, port;
  if (!SplitHostPort(host_port, &host, &port)) return false;
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  std::string literal(host);
  struct in_addr v4;
  if (inet_pton(AF_INET, literal.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  struct in6_addr v6;
  if (inet_pton(AF_INET6, literal.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

}  // namespace kapsel::store
