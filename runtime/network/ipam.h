#pragma once

// IPv4 address management for bridge networks: subnet parsing and the choice of a free address.
// Pure functions with no kernel or SQLite access; the persistent allocation table lives in
// store/network_repo, which calls NextFreeAddress inside its transaction.

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kapsel::network {

// Parses a dotted-quad IPv4 address into host byte order. InvalidArgument names the input.
absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text);
// Formats a host-byte-order IPv4 address as a dotted quad.
std::string FormatIpv4(uint32_t address);

// An IPv4 subnet such as 10.213.1.0/24. The network address has no host bits set.
class Ipv4Subnet {
 public:
  // Accepts "a.b.c.d/n" with 8 <= n <= 30 (a bridge network needs a gateway and at least one
  // container address). Host bits set ("10.0.0.1/24") are refused with the corrected form.
  static absl::StatusOr<Ipv4Subnet> Parse(absl::string_view cidr);

  uint32_t network() const { return network_; }
  int prefix_length() const { return prefix_length_; }
  uint32_t mask() const { return prefix_length_ == 0 ? 0 : ~uint32_t{0} << (32 - prefix_length_); }
  uint32_t broadcast() const { return network_ | ~mask(); }
  // The bridge's own address: the first host address, by convention (.1 of a /24).
  uint32_t gateway() const { return network_ + 1; }
  bool Contains(uint32_t address) const { return (address & mask()) == network_; }
  bool Overlaps(const Ipv4Subnet& other) const;

  // "10.213.1.0/24".
  std::string ToString() const;
  // An address of this subnet with the prefix length: "10.213.1.5/24".
  std::string AddressWithPrefix(uint32_t address) const;

  friend bool operator==(const Ipv4Subnet& a, const Ipv4Subnet& b) = default;

 private:
  Ipv4Subnet(uint32_t network, int prefix_length)
      : network_(network), prefix_length_(prefix_length) {}

  uint32_t network_ = 0;
  int prefix_length_ = 0;
};

// The lowest address of `subnet` that is neither the network address, the gateway, the broadcast
// address nor in `used`. ResourceExhausted names the subnet when none is left.
absl::StatusOr<uint32_t> NextFreeAddress(const Ipv4Subnet& subnet,
                                         const absl::flat_hash_set<uint32_t>& used);

}  // namespace kapsel::network
