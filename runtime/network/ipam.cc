#include "runtime/network/ipam.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kapsel::network {

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address \"", text, "\""));
  }
  uint32_t address = 0;
  for (absl::string_view part : parts) {
    uint32_t octet = 0;
    // SimpleAtoi accepts a sign and whitespace; an octet is 1 to 3 digits and nothing else.
    bool digits_only = !part.empty() && part.size() <= 3 &&
                       part.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!digits_only || !absl::SimpleAtoi(part, &octet) || octet > 255) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address \"", text, "\""));
    }
    address = (address << 8) | octet;
  }
  return address;
}

std::string FormatIpv4(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".",
                      address & 0xff);
}

absl::StatusOr<Ipv4Subnet> Ipv4Subnet::Parse(absl::string_view cidr) {
  size_t slash = cidr.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid subnet \"", cidr, "\": want address/prefix, e.g. 10.213.1.0/24"));
  }
  absl::StatusOr<uint32_t> address = ParseIpv4(cidr.substr(0, slash));
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid subnet \"", cidr, "\": ", address.status().message()));
  }
  absl::string_view prefix_text = cidr.substr(slash + 1);
  int prefix = 0;
  if (prefix_text.empty() || prefix_text.size() > 2 ||
      prefix_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(prefix_text, &prefix) || prefix < 8 || prefix > 30) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid subnet \"", cidr, "\": the prefix length must be 8 to 30"));
  }
  Ipv4Subnet subnet(*address, prefix);
  if ((*address & subnet.mask()) != *address) {
    subnet.network_ = *address & subnet.mask();
    return absl::InvalidArgumentError(absl::StrCat("invalid subnet \"", cidr,
                                                   "\": host bits are set (did you mean ",
                                                   subnet.ToString(), "?)"));
  }
  return subnet;
}

bool Ipv4Subnet::Overlaps(const Ipv4Subnet& other) const {
  // Two prefixes overlap exactly when the shorter one contains the other's network address.
  uint32_t common_mask = prefix_length_ < other.prefix_length_ ? mask() : other.mask();
  return (network_ & common_mask) == (other.network_ & common_mask);
}

std::string Ipv4Subnet::ToString() const {
  return absl::StrCat(FormatIpv4(network_), "/", prefix_length_);
}

std::string Ipv4Subnet::AddressWithPrefix(uint32_t address) const {
  return absl::StrCat(FormatIpv4(address), "/", prefix_length_);
}

absl::StatusOr<uint32_t> NextFreeAddress(const Ipv4Subnet& subnet,
                                         const absl::flat_hash_set<uint32_t>& used) {
  for (uint32_t address = subnet.gateway() + 1; address < subnet.broadcast(); ++address) {
    if (!used.contains(address)) return address;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no free address left in subnet ", subnet.ToString()));
}

}  // namespace kapsel::network
