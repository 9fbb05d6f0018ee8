// The device program is emitted by hand from the uapi headers, as runc
// (libcontainer/cgroups/devices/ebpf) and crun (src/libcrun/ebpf.c) do: libbpf is not a dependency
// and the program is a straight line of compares. Its shape:
//
//   r2 = ctx->access_type & 0xffff     device type (BPF_DEVCG_DEV_BLOCK or _CHAR)
//   r3 = ctx->access_type >> 16        requested access bits not decided yet (BPF_DEVCG_ACC_*)
//   r4 = ctx->major, r5 = ctx->minor
//   if r3 == 0: return 0
//   one block per rule, from the last rule to the first:
//     if the device does not match: goto next block
//     allow: r3 &= ~access; if r3 == 0: return 1
//     deny:  if r3 & access: return 0
//   return 0
//
// Walking the rules backwards makes the last matching rule decide, and clearing the bits an allow
// rule grants lets a request for several bits (an O_RDWR open asks for r and w at once) be decided
// bit by bit, like the v1 controller that merges the access of identical exceptions and refuses
// any overlap with a denied one (security/device_cgroup.c). Access bits the kernel may add later
// are never granted, so they are denied.

#include "runtime/cgroups/v2_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf_common.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::runtime::cgroups {
namespace {

using ::kapsel::linux::UniqueFd;

// Registers of the program (see the comment at the top).
constexpr uint8_t kCtx = BPF_REG_1;
constexpr uint8_t kType = BPF_REG_2;
constexpr uint8_t kAccess = BPF_REG_3;
constexpr uint8_t kMajor = BPF_REG_4;
constexpr uint8_t kMinor = BPF_REG_5;

constexpr int32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

struct bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn insn;
  std::memset(&insn, 0, sizeof(insn));
  insn.code = code;
  insn.dst_reg = dst & 0x0f;
  insn.src_reg = src & 0x0f;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

struct bpf_insn LoadCtx(uint8_t dst, int16_t offset) {
  return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, kCtx, offset, 0);
}
struct bpf_insn Alu(uint8_t op, uint8_t dst, int32_t imm) {
  return Insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
struct bpf_insn MovReg(uint8_t dst, uint8_t src) {
  return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
struct bpf_insn Jump(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
  return Insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
void EmitReturn(std::vector<struct bpf_insn>& prog, int32_t verdict) {
  prog.push_back(Alu(BPF_MOV, BPF_REG_0, verdict));
  prog.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

absl::StatusOr<int32_t> AccessBits(const DeviceRule& rule, size_t index) {
  int32_t bits = 0;
  for (char c : rule.access) {
    switch (c) {
      case 'm':
        bits |= BPF_DEVCG_ACC_MKNOD;
        break;
      case 'r':
        bits |= BPF_DEVCG_ACC_READ;
        break;
      case 'w':
        bits |= BPF_DEVCG_ACC_WRITE;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("device rule ", index, ": access \"",
                                                       rule.access, "\" is not a subset of rwm"));
    }
  }
  return bits;
}

absl::Status CheckNumber(int64_t value, const char* what, size_t index) {
  // -1 is the wildcard. The context carries u32 numbers and the compares take a sign-extended
  // 32-bit immediate, so keep to what an immediate holds (Linux majors have 12 bits, minors 20).
  if (value >= -1 && value <= std::numeric_limits<int32_t>::max()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("device rule ", index, ": ", what, " ", value, " is out of range"));
}

}  // namespace

absl::StatusOr<std::vector<struct bpf_insn>> BuildDeviceProgram(
    const std::vector<DeviceRule>& rules) {
  std::vector<int32_t> access(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const DeviceRule& rule = rules[i];
    if (rule.type != 'a' && rule.type != 'b' && rule.type != 'c') {
      return absl::InvalidArgumentError(absl::StrCat(
          "device rule ", i, ": type '", std::string(1, rule.type), "' is not a, b or c"));
    }
    if (auto s = CheckNumber(rule.major, "major", i); !s.ok()) return s;
    if (auto s = CheckNumber(rule.minor, "minor", i); !s.ok()) return s;
    auto bits = AccessBits(rule, i);
    if (!bits.ok()) return bits.status();
    access[i] = *bits;
  }

  std::vector<struct bpf_insn> prog;
  prog.push_back(LoadCtx(kType, offsetof(struct bpf_cgroup_dev_ctx, access_type)));
  prog.push_back(MovReg(kAccess, kType));
  prog.push_back(Alu(BPF_AND, kType, 0xffff));
  prog.push_back(Alu(BPF_RSH, kAccess, 16));
  prog.push_back(LoadCtx(kMajor, offsetof(struct bpf_cgroup_dev_ctx, major)));
  prog.push_back(LoadCtx(kMinor, offsetof(struct bpf_cgroup_dev_ctx, minor)));
  prog.push_back(Jump(BPF_JNE, kAccess, 0, 2));
  EmitReturn(prog, 0);

  for (size_t i = rules.size(); i-- > 0;) {
    const DeviceRule& rule = rules[i];
    // A rule without access bits decides nothing.
    if (access[i] == 0) continue;
    // Jumps to the next block, patched once the block is complete.
    std::vector<size_t> to_next;
    auto skip_unless_equal = [&](uint8_t reg, int32_t value) {
      to_next.push_back(prog.size());
      prog.push_back(Jump(BPF_JNE, reg, value, 0));
    };
    if (rule.type != 'a') {
      skip_unless_equal(kType, rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
      if (rule.major >= 0) skip_unless_equal(kMajor, static_cast<int32_t>(rule.major));
      if (rule.minor >= 0) skip_unless_equal(kMinor, static_cast<int32_t>(rule.minor));
    }
    if (rule.allow) {
      prog.push_back(Alu(BPF_AND, kAccess, ~access[i]));
      skip_unless_equal(kAccess, 0);
    } else if (access[i] != kAllAccess) {
      prog.push_back(Jump(BPF_JSET, kAccess, access[i], 1));
      to_next.push_back(prog.size());
      prog.push_back(Insn(BPF_JMP | BPF_JA, 0, 0, 0, 0));
    }
    EmitReturn(prog, rule.allow ? 1 : 0);
    // The verifier refuses unreachable instructions: after a rule that refuses every request
    // ("deny a rwm"), the earlier rules and the default must not be emitted.
    if (to_next.empty()) return prog;
    for (size_t at : to_next) {
      prog[at].off = static_cast<int16_t>(prog.size() - at - 1);
    }
  }
  EmitReturn(prog, 0);
  return prog;
}

namespace {

long Bpf(int cmd, union bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

absl::StatusOr<UniqueFd> LoadProgram(const std::vector<struct bpf_insn>& insns,
                                     const std::string& cgroup_dir) {
  // The device hook calls no GPL-only helper, so the license string is only informative.
  static constexpr char kLicense[] = "Apache-2.0";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uintptr_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uintptr_t>(kLicense);
  static_assert(sizeof(kDeviceProgramName) <= sizeof(attr.prog_name));
  std::memcpy(attr.prog_name, kDeviceProgramName, sizeof(kDeviceProgramName));
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  const int load_errno = errno;
  // Load again with a log only on failure: with a log buffer the kernel also fails a load that
  // verifies but whose log does not fit (ENOSPC), and logging slows verification down.
  std::string log(1 << 20, '\0');
  attr.log_buf = reinterpret_cast<uintptr_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  log.resize(strnlen(log.c_str(), log.size()));
  absl::Status status = absl::ErrnoToStatus(
      load_errno, absl::StrCat("bpf(BPF_PROG_LOAD) of the device program for ", cgroup_dir));
  absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(log);
  if (trimmed.empty()) return status;
  return absl::Status(status.code(), absl::StrCat(status.message(), "; verifier log:\n", trimmed));
}

// The ids of the programs attached to the cgroup itself for BPF_CGROUP_DEVICE.
absl::StatusOr<std::vector<uint32_t>> QueryPrograms(int cgroup_fd, const std::string& cgroup_dir) {
  std::vector<uint32_t> ids(16);
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = static_cast<uint32_t>(cgroup_fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = reinterpret_cast<uintptr_t>(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (Bpf(BPF_PROG_QUERY, &attr) == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    // ENOSPC: more programs than room; prog_cnt now holds their number.
    if (errno != ENOSPC || attr.query.prog_cnt <= ids.size()) {
      return absl::ErrnoToStatus(errno, absl::StrCat("bpf(BPF_PROG_QUERY) ", cgroup_dir));
    }
    ids.resize(attr.query.prog_cnt);
  }
}

// The fds of kapsel's device programs among `ids`. Programs that went away meanwhile are skipped.
absl::StatusOr<std::vector<UniqueFd>> OwnPrograms(const std::vector<uint32_t>& ids,
                                                  const std::string& cgroup_dir) {
  std::vector<UniqueFd> out;
  for (uint32_t id : ids) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    long raw = Bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (raw < 0) {
      if (errno == ENOENT) continue;
      return absl::ErrnoToStatus(
          errno, absl::StrCat("bpf(BPF_PROG_GET_FD_BY_ID) ", id, " attached to ", cgroup_dir));
    }
    UniqueFd fd(static_cast<int>(raw));
    struct bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    std::memset(&attr, 0, sizeof(attr));
    attr.info.bpf_fd = static_cast<uint32_t>(fd.get());
    attr.info.info_len = sizeof(info);
    attr.info.info = reinterpret_cast<uintptr_t>(&info);
    if (Bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("bpf(BPF_OBJ_GET_INFO_BY_FD) program ", id,
                                                     " attached to ", cgroup_dir));
    }
    if (std::strncmp(info.name, kDeviceProgramName, sizeof(info.name)) == 0) {
      out.push_back(std::move(fd));
    }
  }
  return out;
}

}  // namespace

absl::Status ApplyDeviceRules(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules) {
  auto insns = BuildDeviceProgram(rules);
  if (!insns.ok()) return insns.status();
  UniqueFd cgroup(open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) return absl::ErrnoToStatus(errno, absl::StrCat("open ", cgroup_dir));
  auto old_ids = QueryPrograms(cgroup.get(), cgroup_dir);
  if (!old_ids.ok()) return old_ids.status();
  auto old = OwnPrograms(*old_ids, cgroup_dir);
  if (!old.ok()) return old.status();
  auto prog = LoadProgram(*insns, cgroup_dir);
  if (!prog.ok()) return prog.status();

  // Attach the new program before detaching the old ones: the kernel allows an access only when
  // every program of the cgroup allows it, so in between the container gets the intersection of
  // both policies, never more than either.
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.target_fd = static_cast<uint32_t>(cgroup.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog->get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(BPF_PROG_ATTACH, &attr) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bpf(BPF_PROG_ATTACH) ", cgroup_dir));
  }
  for (const UniqueFd& fd : *old) {
    std::memset(&attr, 0, sizeof(attr));
    attr.target_fd = static_cast<uint32_t>(cgroup.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(fd.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    // ENOENT: someone detached it meanwhile.
    if (Bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("bpf(BPF_PROG_DETACH) old device program ", cgroup_dir));
    }
  }
  // The cgroup holds its own reference to the attached program: closing our fd keeps it in place.
  return absl::OkStatus();
}

}  // namespace kapsel::runtime::cgroups
