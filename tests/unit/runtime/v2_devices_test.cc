#include "runtime/cgroups/v2_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "runtime/cgroups/manager.h"

namespace kapsel::runtime::cgroups {
namespace {

constexpr uint32_t kBlock = BPF_DEVCG_DEV_BLOCK;
constexpr uint32_t kChar = BPF_DEVCG_DEV_CHAR;
constexpr uint32_t kM = BPF_DEVCG_ACC_MKNOD;
constexpr uint32_t kR = BPF_DEVCG_ACC_READ;
constexpr uint32_t kW = BPF_DEVCG_ACC_WRITE;

DeviceRule Rule(bool allow, char type, int64_t major, int64_t minor, std::string access) {
  DeviceRule r;
  r.allow = allow;
  r.type = type;
  r.major = major;
  r.minor = minor;
  r.access = std::move(access);
  return r;
}

struct Request {
  uint32_t type;  // BPF_DEVCG_DEV_*
  uint32_t major;
  uint32_t minor;
  uint32_t access;  // BPF_DEVCG_ACC_*
};

// Runs `prog` on `req` the way the kernel would, for the instructions BuildDeviceProgram emits
// (64-bit ALU MOV/AND/RSH, LDX W from the context, JA/JEQ/JNE/JSET with an immediate, EXIT). Fails
// the test and returns nullopt on anything else, on a read of an unset register, on a context
// access out of bounds, on a jump out of the program and on a backward jump.
std::optional<uint64_t> Interpret(const std::vector<struct bpf_insn>& prog, const Request& req) {
  const struct bpf_cgroup_dev_ctx ctx = {(req.access << 16) | req.type, req.major, req.minor};
  uint64_t reg[MAX_BPF_REG] = {};
  bool set[MAX_BPF_REG] = {};
  set[BPF_REG_1] = true;  // the context; only LDX reads it
  set[BPF_REG_10] = true;
  auto read = [&](int r) -> std::optional<uint64_t> {
    if (r >= MAX_BPF_REG || !set[r] || r == BPF_REG_1) return std::nullopt;
    return reg[r];
  };
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const struct bpf_insn& in = prog[pc];
    const uint8_t cls = BPF_CLASS(in.code);
    if (cls == BPF_LDX) {
      if (in.code != (BPF_LDX | BPF_MEM | BPF_W) || in.src_reg != BPF_REG_1 || in.off < 0 ||
          in.off % 4 != 0 || in.off + 4 > static_cast<int>(sizeof(ctx))) {
        ADD_FAILURE() << "pc " << pc << ": bad load, code 0x" << std::hex << int(in.code);
        return std::nullopt;
      }
      uint32_t v;
      std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + in.off, sizeof(v));
      reg[in.dst_reg] = v;
      set[in.dst_reg] = true;
    } else if (cls == BPF_ALU64) {
      uint64_t src = static_cast<uint64_t>(static_cast<int64_t>(in.imm));
      if (BPF_SRC(in.code) == BPF_X) {
        auto v = read(in.src_reg);
        if (!v) {
          ADD_FAILURE() << "pc " << pc << ": reads unset r" << int(in.src_reg);
          return std::nullopt;
        }
        src = *v;
      }
      if (BPF_OP(in.code) == BPF_MOV) {
        reg[in.dst_reg] = src;
        set[in.dst_reg] = true;
        continue;
      }
      auto dst = read(in.dst_reg);
      if (!dst) {
        ADD_FAILURE() << "pc " << pc << ": reads unset r" << int(in.dst_reg);
        return std::nullopt;
      }
      if (BPF_OP(in.code) == BPF_AND) {
        reg[in.dst_reg] = *dst & src;
      } else if (BPF_OP(in.code) == BPF_RSH) {
        reg[in.dst_reg] = *dst >> (src & 63);
      } else {
        ADD_FAILURE() << "pc " << pc << ": unexpected ALU op 0x" << std::hex << int(in.code);
        return std::nullopt;
      }
    } else if (cls == BPF_JMP) {
      if (BPF_OP(in.code) == BPF_EXIT) {
        if (!set[BPF_REG_0]) ADD_FAILURE() << "pc " << pc << ": exit with r0 unset";
        return set[BPF_REG_0] ? std::optional<uint64_t>(reg[BPF_REG_0]) : std::nullopt;
      }
      if (in.off < 0 || pc + 1 + in.off >= prog.size() || BPF_SRC(in.code) != BPF_K) {
        ADD_FAILURE() << "pc " << pc << ": bad jump";
        return std::nullopt;
      }
      bool taken = true;
      if (BPF_OP(in.code) != BPF_JA) {
        auto dst = read(in.dst_reg);
        if (!dst) {
          ADD_FAILURE() << "pc " << pc << ": reads unset r" << int(in.dst_reg);
          return std::nullopt;
        }
        const uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(in.imm));
        switch (BPF_OP(in.code)) {
          case BPF_JEQ:
            taken = *dst == imm;
            break;
          case BPF_JNE:
            taken = *dst != imm;
            break;
          case BPF_JSET:
            taken = (*dst & imm) != 0;
            break;
          default:
            ADD_FAILURE() << "pc " << pc << ": unexpected jump 0x" << std::hex << int(in.code);
            return std::nullopt;
        }
      }
      if (taken) pc += in.off;
    } else {
      ADD_FAILURE() << "pc " << pc << ": unexpected class 0x" << std::hex << int(in.code);
      return std::nullopt;
    }
  }
  ADD_FAILURE() << "fell off the end of the program";
  return std::nullopt;
}

// The verifier refuses a program with an instruction no path reaches ("unreachable insn").
bool AllReachable(const std::vector<struct bpf_insn>& prog) {
  std::vector<bool> seen(prog.size());
  std::vector<size_t> todo = {0};
  while (!todo.empty()) {
    size_t pc = todo.back();
    todo.pop_back();
    if (pc >= prog.size() || seen[pc]) continue;
    seen[pc] = true;
    const struct bpf_insn& in = prog[pc];
    if (BPF_CLASS(in.code) == BPF_JMP && BPF_OP(in.code) == BPF_EXIT) continue;
    if (BPF_CLASS(in.code) == BPF_JMP) {
      todo.push_back(pc + 1 + in.off);
      if (BPF_OP(in.code) == BPF_JA) continue;
    }
    todo.push_back(pc + 1);
  }
  for (bool s : seen) {
    if (!s) return false;
  }
  return true;
}

// The rules read literally: each requested bit is decided by the last rule that matches the device
// and names the bit; no rule means denied.
bool Reference(const std::vector<DeviceRule>& rules, const Request& req) {
  if (req.access == 0 || (req.access & ~(kM | kR | kW)) != 0) return false;
  const std::pair<uint32_t, char> bits[] = {{kM, 'm'}, {kR, 'r'}, {kW, 'w'}};
  for (auto [bit, letter] : bits) {
    if ((req.access & bit) == 0) continue;
    bool allowed = false;
    for (const DeviceRule& r : rules) {
      const char type = req.type == kBlock ? 'b' : req.type == kChar ? 'c' : '?';
      bool device = r.type == 'a' || (r.type == type && (r.major < 0 || r.major == req.major) &&
                                      (r.minor < 0 || r.minor == req.minor));
      if (device && r.access.find(letter) != std::string::npos) allowed = r.allow;
    }
    if (!allowed) return false;
  }
  return true;
}

std::string Describe(const Request& req) {
  return absl::StrCat(req.type == kBlock  ? "b "
                      : req.type == kChar ? "c "
                                          : "? ",
                      req.major, ":", req.minor, " access ", req.access);
}

// Builds the program for `rules` and checks it against Reference on every request over the
// numbers the rules name (and their neighbours), both device types and every access combination.
void ExpectMatchesReference(const std::vector<DeviceRule>& rules) {
  auto prog = BuildDeviceProgram(rules);
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_TRUE(AllReachable(*prog));
  std::set<uint32_t> majors = {0, 1, 999}, minors = {0, 1, 999};
  for (const DeviceRule& r : rules) {
    for (int64_t d : {-1, 0, 1}) {
      if (r.major + d >= 0) majors.insert(static_cast<uint32_t>(r.major + d));
      if (r.minor + d >= 0) minors.insert(static_cast<uint32_t>(r.minor + d));
    }
  }
  for (uint32_t type : {kBlock, kChar}) {
    for (uint32_t major : majors) {
      for (uint32_t minor : minors) {
        for (uint32_t access = 0; access < 16; ++access) {
          Request req{type, major, minor, access};
          auto got = Interpret(*prog, req);
          ASSERT_TRUE(got.has_value()) << Describe(req);
          ASSERT_EQ(*got, Reference(rules, req) ? 1u : 0u) << Describe(req);
        }
      }
    }
  }
}

std::vector<DeviceRule> DockerDefaults() {
  return {
      Rule(false, 'a', -1, -1, "rwm"), Rule(true, 'c', -1, -1, "m"),
      Rule(true, 'b', -1, -1, "m"),    Rule(true, 'c', 1, 3, "rwm"),
      Rule(true, 'c', 1, 5, "rwm"),    Rule(true, 'c', 1, 7, "rwm"),
      Rule(true, 'c', 1, 8, "rwm"),    Rule(true, 'c', 1, 9, "rwm"),
      Rule(true, 'c', 5, 0, "rwm"),    Rule(true, 'c', 5, 1, "rwm"),
      Rule(true, 'c', 5, 2, "rwm"),    Rule(true, 'c', 136, -1, "rwm"),
      Rule(true, 'c', 10, 200, "rwm"),
  };
}

uint64_t Verdict(const std::vector<DeviceRule>& rules, Request req) {
  auto prog = BuildDeviceProgram(rules);
  EXPECT_TRUE(prog.ok()) << prog.status();
  if (!prog.ok()) return 99;
  return Interpret(*prog, req).value_or(99);
}

TEST(BuildDeviceProgramTest, DockerDefaults) {
  const auto rules = DockerDefaults();
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW}), 1u) << "/dev/null rw";
  EXPECT_EQ(Verdict(rules, {kBlock, 8, 0, kR}), 0u) << "read of /dev/sda";
  EXPECT_EQ(Verdict(rules, {kBlock, 8, 0, kM}), 1u) << "mknod of /dev/sda";
  EXPECT_EQ(Verdict(rules, {kBlock, 8, 0, kM | kR}), 0u);
  EXPECT_EQ(Verdict(rules, {kChar, 136, 7, kR | kW}), 1u) << "/dev/pts/7";
  EXPECT_EQ(Verdict(rules, {kChar, 10, 200, kR | kW}), 1u) << "/dev/net/tun";
  EXPECT_EQ(Verdict(rules, {kChar, 4, 1, kR}), 0u) << "/dev/tty1";
  EXPECT_EQ(Verdict(rules, {kChar, 4, 1, kM}), 1u) << "mknod of /dev/tty1";
  ExpectMatchesReference(rules);
}

TEST(BuildDeviceProgramTest, LaterDenyOverridesEarlierAllow) {
  const std::vector<DeviceRule> rules = {Rule(true, 'a', -1, -1, "rwm"),
                                         Rule(false, 'c', 1, 3, "w")};
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR}), 1u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kW}), 0u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW}), 0u) << "O_RDWR asks for the denied w too";
  EXPECT_EQ(Verdict(rules, {kChar, 1, 5, kW}), 1u);
  EXPECT_EQ(Verdict(rules, {kBlock, 1, 3, kW}), 1u);
  ExpectMatchesReference(rules);
}

TEST(BuildDeviceProgramTest, LaterAllowOverridesEarlierDeny) {
  const std::vector<DeviceRule> rules = {Rule(false, 'c', 1, -1, "rw"),
                                         Rule(true, 'c', 1, 3, "rw")};
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW}), 1u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 5, kR}), 0u);
  ExpectMatchesReference(rules);
}

TEST(BuildDeviceProgramTest, AccessBitsAddUpAcrossRules) {
  // v1 merges the access of identical exceptions: "c 1:3 r" then "c 1:3 w" allow an O_RDWR open.
  const std::vector<DeviceRule> rules = {Rule(true, 'c', 1, 3, "r"), Rule(true, 'c', 1, 3, "w")};
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW}), 1u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW | kM}), 0u);
  ExpectMatchesReference(rules);
}

TEST(BuildDeviceProgramTest, EmptyListDeniesEverything) {
  auto prog = BuildDeviceProgram({});
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_TRUE(AllReachable(*prog));
  for (uint32_t type : {kBlock, kChar}) {
    for (uint32_t access = 0; access < 8; ++access) {
      EXPECT_EQ(Interpret(*prog, {type, 1, 3, access}), 0u);
    }
  }
}

TEST(BuildDeviceProgramTest, UnknownAccessBitsAreDenied) {
  const std::vector<DeviceRule> rules = {Rule(true, 'a', -1, -1, "rwm")};
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | kW | kM}), 1u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR | 8}), 0u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, 0}), 0u);
}

TEST(BuildDeviceProgramTest, DenyAllStopsTheProgram) {
  // Rules before "deny a rwm" can never decide: the program ends there (the verifier refuses
  // unreachable instructions), so it is as short as the empty list's.
  auto empty = BuildDeviceProgram({});
  auto deny_all =
      BuildDeviceProgram({Rule(true, 'c', 1, 3, "rwm"), Rule(false, 'a', -1, -1, "rwm")});
  ASSERT_TRUE(empty.ok() && deny_all.ok());
  EXPECT_EQ(deny_all->size(), empty->size());
  EXPECT_TRUE(AllReachable(*deny_all));
  EXPECT_EQ(Interpret(*deny_all, {kChar, 1, 3, kR}), 0u);
}

TEST(BuildDeviceProgramTest, TypeAIgnoresNumbersAndEmptyAccessDecidesNothing) {
  const std::vector<DeviceRule> rules = {Rule(true, 'a', 7, 7, "r"), Rule(false, 'c', 1, 3, "")};
  EXPECT_EQ(Verdict(rules, {kBlock, 8, 0, kR}), 1u);
  EXPECT_EQ(Verdict(rules, {kChar, 1, 3, kR}), 1u);
  ExpectMatchesReference(rules);
}

TEST(BuildDeviceProgramTest, RandomRuleListsMatchTheReference) {
  std::mt19937 rng(20240611);
  const char types[] = {'a', 'b', 'c', 'c'};
  const int64_t numbers[] = {-1, -1, 1, 3};
  const char* accesses[] = {"", "r", "w", "m", "rw", "rm", "wm", "rwm", "rwm"};
  for (int list = 0; list < 300; ++list) {
    std::vector<DeviceRule> rules(rng() % 8);
    for (DeviceRule& r : rules) {
      r = Rule(rng() % 2, types[rng() % 4], numbers[rng() % 4], numbers[rng() % 4],
               accesses[rng() % 9]);
    }
    SCOPED_TRACE(testing::Message() << "list " << list);
    ExpectMatchesReference(rules);
    if (testing::Test::HasFatalFailure()) return;
  }
}

TEST(BuildDeviceProgramTest, RefusesBadRules) {
  auto bad_type = BuildDeviceProgram({Rule(true, 'c', 1, 3, "rwm"), Rule(true, 'x', 1, 3, "r")});
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_type.status().message(), "device rule 1: type 'x' is not a, b or c");
  EXPECT_EQ(BuildDeviceProgram({Rule(true, 'c', 1, 3, "rwx")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeviceProgram({Rule(true, 'c', -2, 3, "r")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeviceProgram({Rule(true, 'c', 1, int64_t{1} << 31, "r")}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ApplyDeviceRulesTest, RefusesBadRulesBeforeTouchingTheKernel) {
  auto s = ApplyDeviceRules("/nonexistent", {Rule(true, 'x', 1, 3, "r")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(ApplyDeviceRulesTest, NamesTheMissingCgroup) {
  auto s = ApplyDeviceRules("/nonexistent/kapsel", DockerDefaults());
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("/nonexistent/kapsel"), absl::string_view::npos) << s;
}

long Bpf(int cmd, union bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

// The names of the BPF_CGROUP_DEVICE programs attached to the cgroup at `dir`.
std::vector<std::string> AttachedDevicePrograms(const std::string& dir) {
  std::vector<std::string> names;
  int cg = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    ADD_FAILURE() << "open " << dir << ": " << strerror(errno);
    return names;
  }
  absl::Cleanup close_cg = [cg] { close(cg); };
  uint32_t ids[64];
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = cg;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<uintptr_t>(ids);
  attr.query.prog_cnt = 64;
  if (Bpf(BPF_PROG_QUERY, &attr) != 0) {
    ADD_FAILURE() << "BPF_PROG_QUERY " << dir << ": " << strerror(errno);
    return names;
  }
  for (uint32_t i = 0; i < attr.query.prog_cnt; ++i) {
    union bpf_attr get;
    std::memset(&get, 0, sizeof(get));
    get.prog_id = ids[i];
    int fd = static_cast<int>(Bpf(BPF_PROG_GET_FD_BY_ID, &get));
    if (fd < 0) continue;
    struct bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    std::memset(&get, 0, sizeof(get));
    get.info.bpf_fd = fd;
    get.info.info_len = sizeof(info);
    get.info.info = reinterpret_cast<uintptr_t>(&info);
    if (Bpf(BPF_OBJ_GET_INFO_BY_FD, &get) == 0) names.emplace_back(info.name);
    close(fd);
  }
  return names;
}

// The first cgroup2 mount point, or "".
std::string Cgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::vector<std::string> pre = absl::StrSplit(line.substr(0, sep), ' ');
    if (pre.size() >= 5 && line.compare(sep + 3, 8, "cgroup2 ") == 0) return pre[4];
  }
  return "";
}

// Runs a child in the cgroup at `dir` that tries each of `opens` and reports which succeeded,
// one bit each.
int OpensAllowedInCgroup(const std::string& dir,
                         const std::vector<std::pair<const char*, int>>& opens) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls in the child.
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) != 1) _exit(255);
    int result = 0;
    for (size_t i = 0; i < opens.size(); ++i) {
      int fd = open(opens[i].first, opens[i].second | O_CLOEXEC);
      if (fd >= 0) {
        result |= 1 << i;
        close(fd);
      } else if (errno != EPERM) {
        _exit(254);
      }
    }
    _exit(result);
  }
  close(go[0]);
  auto joined = WriteFile(dir + "/cgroup.procs", absl::StrCat(pid));
  EXPECT_TRUE(joined.ok()) << joined;
  if (joined.ok()) (void)!write(go[1], "x", 1);
  close(go[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && joined.ok() ? WEXITSTATUS(status) : -1;
}

// Loads and attaches real programs: needs root and a cgroup2 hierarchy with room for a child
// cgroup (on hybrid hosts the empty one at /sys/fs/cgroup/unified will do).
TEST(V2DevicesNeedsRootTest, AttachesReplacesAndEnforces) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs and creates a cgroup";
  const std::string mount = Cgroup2Mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 hierarchy mounted";
  const std::string dir = absl::StrCat(mount, "/kapsel-v2-devices-test-", getpid());
  if (mkdir(dir.c_str(), 0755) != 0) {
    GTEST_SKIP() << "cannot create a cgroup under " << mount << ": " << strerror(errno);
  }
  absl::Cleanup remove = [&] { EXPECT_EQ(rmdir(dir.c_str()), 0) << strerror(errno); };
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full"}) {
    struct stat st;
    if (stat(dev, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 1) {
      GTEST_SKIP() << dev << " is not the usual character device";
    }
  }

  // The kernel accepts the programs of typical lists and of the edge cases of the builder, and
  // each one replaces the previous.
  const std::vector<std::vector<DeviceRule>> lists = {
      DockerDefaults(),
      {},
      {Rule(false, 'a', -1, -1, "rwm")},
      {Rule(true, 'c', 1, 3, "rwm"), Rule(false, 'a', -1, -1, "rwm")},
      {Rule(true, 'a', -1, -1, "rwm")},
      {Rule(true, 'a', -1, -1, "rwm"), Rule(false, 'c', 1, 3, "w"), Rule(true, 'b', 8, -1, "")},
  };
  for (size_t i = 0; i < lists.size(); ++i) {
    auto s = ApplyDeviceRules(dir, lists[i]);
    if (i == 0 && absl::IsPermissionDenied(s)) GTEST_SKIP() << s;
    ASSERT_TRUE(s.ok()) << "list " << i << ": " << s;
    EXPECT_EQ(AttachedDevicePrograms(dir), std::vector<std::string>{kDeviceProgramName});
  }

  // First policy: everything but reads of /dev/zero.
  auto first = ApplyDeviceRules(dir, {Rule(true, 'a', -1, -1, "rwm"), Rule(false, 'c', 1, 5, "r")});
  ASSERT_TRUE(first.ok()) << first;
  EXPECT_EQ(AttachedDevicePrograms(dir), std::vector<std::string>{kDeviceProgramName});
  EXPECT_EQ(OpensAllowedInCgroup(dir, {{"/dev/zero", O_RDONLY}, {"/dev/full", O_RDONLY}}), 0b10);

  // Second policy replaces the first: reading /dev/zero is allowed again only if the first
  // program is gone, since the kernel wants every attached program to agree.
  auto second = ApplyDeviceRules(dir, {Rule(true, 'c', 1, 3, "rw"), Rule(true, 'c', 1, 5, "r")});
  ASSERT_TRUE(second.ok()) << second;
  EXPECT_EQ(AttachedDevicePrograms(dir), std::vector<std::string>{kDeviceProgramName});
  EXPECT_EQ(OpensAllowedInCgroup(dir, {{"/dev/null", O_RDWR},
                                       {"/dev/zero", O_RDONLY},
                                       {"/dev/zero", O_WRONLY},
                                       {"/dev/full", O_RDONLY}}),
            0b0011);
}

}  // namespace
}  // namespace kapsel::runtime::cgroups
