#include "runtime/network/nft.h"

#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <unistd.h>

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/ipam.h"

namespace kapsel::network {
namespace {

absl::Status CheckTableName(absl::string_view table) {
  bool ok = !table.empty() && table.size() <= 64 && absl::ascii_isalpha(table[0]);
  for (char c : table) ok = ok && (absl::ascii_isalnum(c) || c == '_');
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid nftables table name \"", table, "\": letters, digits and '_'"));
  }
  return absl::OkStatus();
}

// Interface names go into the script inside double quotes; allow only what cannot break out.
absl::StatusOr<std::string> Quoted(const std::string& name) {
  bool ok = !name.empty() && name.size() < 16;
  for (char c : name) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.');
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid interface name \"", name, "\""));
  return absl::StrCat("\"", name, "\"");
}

}  // namespace

absl::StatusOr<std::string> RenderNatTable(absl::string_view table, const NatState& state) {
  if (absl::Status status = CheckTableName(table); !status.ok()) return status;
  std::vector<std::string> bridges;     // quoted, in order
  std::vector<std::string> masquerade;  // postrouting rules
  std::vector<std::string> forward;     // forward rules
  for (const NatNetwork& network : state.networks) {
    absl::StatusOr<std::string> bridge = Quoted(network.bridge);
    if (!bridge.ok()) return bridge.status();
    absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(network.subnet);
    if (!subnet.ok()) return subnet.status();
    bridges.push_back(*bridge);
    if (network.internal) {
      forward.push_back(absl::StrCat("iifname ", *bridge, " oifname != ", *bridge, " drop"));
      forward.push_back(absl::StrCat("oifname ", *bridge, " iifname != ", *bridge, " drop"));
    } else {
      masquerade.push_back(
          absl::StrCat("ip saddr ", subnet->ToString(), " oifname != ", *bridge, " masquerade"));
    }
  }
  // Isolation: nothing is forwarded from one kapsel bridge to another.
  for (const std::string& from : bridges) {
    std::vector<std::string> others;
    for (const std::string& to : bridges) {
      if (to != from) others.push_back(to);
    }
    if (!others.empty()) {
      forward.push_back(
          absl::StrCat("iifname ", from, " oifname { ", absl::StrJoin(others, ", "), " } drop"));
    }
  }
  std::vector<std::string> publish;
  std::set<std::string> published_bridges;
  for (const PublishedPort& port : state.ports) {
    const PortMapping& m = port.mapping;
    if (m.host_port == 0 || m.container_port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("published port ", m.ToString(), ": host and container ports must be set"));
    }
    absl::StatusOr<uint32_t> container_ip = ParseIpv4(port.container_ip);
    if (!container_ip.ok()) return container_ip.status();
    absl::StatusOr<std::string> bridge = Quoted(port.bridge);
    if (!bridge.ok()) return bridge.status();
    published_bridges.insert(*bridge);
    std::string match;
    if (!m.host_ip.empty()) {
      absl::StatusOr<uint32_t> host_ip = ParseIpv4(m.host_ip);
      if (!host_ip.ok()) return host_ip.status();
      match = absl::StrCat("ip daddr ", FormatIpv4(*host_ip), " ");
    }
    publish.push_back(absl::StrCat(match, ProtocolName(m.protocol), " dport ", m.host_port,
                                   " dnat to ", FormatIpv4(*container_ip), ":", m.container_port));
  }
  // Loopback-sourced packets DNATed out through a bridge need a routable source address.
  for (const std::string& bridge : published_bridges) {
    masquerade.push_back(absl::StrCat("ip saddr 127.0.0.0/8 oifname ", bridge, " masquerade"));
  }

  std::string out;
  // "add; delete; add with contents" in one buffer is one transaction: the old table, if any, is
  // replaced atomically, and a missing one is no error.
  absl::StrAppend(&out, "table ip ", table, " {}\n", "delete table ip ", table, "\n");
  absl::StrAppend(&out, "table ip ", table, " {\n");
  absl::StrAppend(&out, "  chain publish {\n");
  for (const std::string& rule : publish) absl::StrAppend(&out, "    ", rule, "\n");
  absl::StrAppend(&out, "  }\n");
  absl::StrAppend(&out,
                  "  chain prerouting {\n"
                  "    type nat hook prerouting priority dstnat; policy accept;\n"
                  "    fib daddr type local jump publish\n"
                  "  }\n"
                  "  chain output {\n"
                  "    type nat hook output priority -100; policy accept;\n"
                  "    fib daddr type local jump publish\n"
                  "  }\n");
  absl::StrAppend(&out,
                  "  chain postrouting {\n"
                  "    type nat hook postrouting priority srcnat; policy accept;\n");
  for (const std::string& rule : masquerade) absl::StrAppend(&out, "    ", rule, "\n");
  absl::StrAppend(&out, "  }\n");
  absl::StrAppend(&out,
                  "  chain forward {\n"
                  "    type filter hook forward priority filter; policy accept;\n");
  for (const std::string& rule : forward) absl::StrAppend(&out, "    ", rule, "\n");
  absl::StrAppend(&out, "  }\n");
  absl::StrAppend(&out,
                  "  chain input {\n"
                  "    type filter hook input priority filter; policy accept;\n");
  if (!bridges.empty()) {
    // Replies of DNATed loopback connections come back on the bridge addressed to 127.0.0.1
    // once conntrack has undone the NAT: they belong to a connection the host opened.
    std::string from_bridges = absl::StrCat("iifname { ", absl::StrJoin(bridges, ", "), " }");
    absl::StrAppend(&out, "    ", from_bridges,
                    " ip daddr 127.0.0.0/8 ct state established,related accept\n");
    absl::StrAppend(&out, "    ", from_bridges, " ip daddr 127.0.0.0/8 drop\n");
  }
  absl::StrAppend(&out, "  }\n}\n");
  return out;
}

void Nftables::CtxDeleter::operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }

Nftables::~Nftables() = default;

absl::StatusOr<Nftables> Nftables::Create() {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return absl::InternalError("nft_ctx_new failed");
  Nftables out(ctx);
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    return absl::InternalError("nft_ctx_buffer_output: cannot buffer nftables output");
  }
  return out;
}

absl::StatusOr<std::string> Nftables::Run(const std::string& script) {
  int rc = nft_run_cmd_from_buffer(ctx_.get(), script.c_str());
  // The buffers are reset by each get, so read both whatever the outcome.
  std::string output = nft_ctx_get_output_buffer(ctx_.get());
  std::string error = nft_ctx_get_error_buffer(ctx_.get());
  if (rc != 0) {
    std::string first_line = std::string(absl::StripAsciiWhitespace(error));
    return absl::InternalError(absl::StrCat("nftables: ", first_line));
  }
  return output;
}

absl::Status Nftables::Apply(absl::string_view table, const NatState& state) {
  absl::StatusOr<std::string> script = RenderNatTable(table, state);
  if (!script.ok()) return script.status();
  absl::StatusOr<std::string> out = Run(*script);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("apply table ip ", table, ": ", out.status().message()));
  }
  return absl::OkStatus();
}

absl::Status Nftables::DeleteTable(absl::string_view table) {
  if (absl::Status status = CheckTableName(table); !status.ok()) return status;
  absl::StatusOr<std::string> out =
      Run(absl::StrCat("table ip ", table, " {}\ndelete table ip ", table, "\n"));
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("delete table ip ", table, ": ", out.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Nftables::HasTable(absl::string_view table) {
  if (absl::Status status = CheckTableName(table); !status.ok()) return status;
  absl::StatusOr<std::string> out = Run("list tables ip");
  if (!out.ok()) return out.status();
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    if (absl::StripAsciiWhitespace(line) == absl::StrCat("table ip ", table)) return true;
  }
  return false;
}

absl::StatusOr<std::string> Nftables::ListTable(absl::string_view table) {
  absl::StatusOr<bool> has = HasTable(table);
  if (!has.ok()) return has.status();
  if (!*has) return absl::NotFoundError(absl::StrCat("no nftables table ip ", table));
  return Run(absl::StrCat("list table ip ", table));
}

namespace {

absl::Status WriteOne(const std::string& path) {
  linux::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return linux::ErrnoStatus(errno, absl::StrCat("open ", path));
  if (write(fd.get(), "1", 1) != 1) return linux::ErrnoStatus(errno, absl::StrCat("write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status EnableRouteLocalnet(const std::string& bridge) {
  absl::StatusOr<std::string> quoted = Quoted(bridge);
  if (!quoted.ok()) return quoted.status();
  return WriteOne(absl::StrCat("/proc/sys/net/ipv4/conf/", bridge, "/route_localnet"));
}

absl::Status EnableIpv4Forwarding() { return WriteOne("/proc/sys/net/ipv4/ip_forward"); }

}  // namespace kapsel::network
