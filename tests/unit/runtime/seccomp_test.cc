// Unit tests of the seccomp module: parsing linux.seccomp, compiling with libseccomp (no filter
// is loaded), Docker-format profiles and the default profile. No root needed.

#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/launch.h"
#include "runtime/seccomp/compile.h"
#include "runtime/seccomp/default_profile.h"
#include "runtime/seccomp/docker_profile.h"
#include "runtime/seccomp/oci_json.h"
#include "runtime/spec.h"

namespace kapsel::runtime::seccomp {
namespace {

using nlohmann::json;

json Minimal() {
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"defaultErrnoRet", 1},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}},
          {"flags", {"SECCOMP_FILTER_FLAG_LOG"}},
          {"syscalls",
           {{{"names", {"read", "write"}}, {"action", "SCMP_ACT_ALLOW"}},
            {{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 13}},
            {{"names", {"personality"}},
             {"action", "SCMP_ACT_ALLOW"},
             {"args", {{{"index", 0}, {"value", 8}, {"op", "SCMP_CMP_EQ"}}}}},
            {{"names", {"clone"}},
             {"action", "SCMP_ACT_ALLOW"},
             {"args",
              {{{"index", 0},
                {"value", 2114060288},
                {"valueTwo", 0},
                {"op", "SCMP_CMP_MASKED_EQ"}}}}}}}};
}

TEST(SeccompParseTest, ParsesEveryField) {
  auto config = ParseConfig(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_action, Action::kErrno);
  EXPECT_EQ(config->default_errno_ret, 1u);
  EXPECT_EQ(config->architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  EXPECT_EQ(config->flags, (std::vector<std::string>{"SECCOMP_FILTER_FLAG_LOG"}));
  ASSERT_EQ(config->syscalls.size(), 4u);
  EXPECT_EQ(config->syscalls[0].names, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(config->syscalls[1].errno_ret, 13u);
  ASSERT_EQ(config->syscalls[3].args.size(), 1u);
  EXPECT_EQ(config->syscalls[3].args[0].op, Op::kMaskedEqual);
  EXPECT_EQ(config->syscalls[3].args[0].value, 2114060288u);
}

TEST(SeccompParseTest, RoundTripsThroughJson) {
  auto config = ParseConfig(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  auto again = ParseConfig(ConfigToJson(*config));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ConfigToJson(*again), ConfigToJson(*config));
}

struct BadCase {
  const char* name;
  std::function<void(json&)> mutate;
  const char* message;
};

TEST(SeccompParseTest, ErrorsNameTheField) {
  const BadCase cases[] = {
      {"unknown action", [](json& j) { j["syscalls"][3]["action"] = "SCMP_ACT_FOO"; },
       "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""},
      {"missing default", [](json& j) { j.erase("defaultAction"); },
       "linux.seccomp.defaultAction: is required"},
      {"unknown arch", [](json& j) { j["architectures"][1] = "SCMP_ARCH_Z80"; },
       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\""},
      {"unknown flag", [](json& j) { j["flags"] = {"SECCOMP_FILTER_FLAG_FOO"}; },
       "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\""},
      {"bad op", [](json& j) { j["syscalls"][2]["args"][0]["op"] = "SCMP_CMP_XX"; },
       "linux.seccomp.syscalls[2].args[0].op: unknown operator \"SCMP_CMP_XX\""},
      {"bad index", [](json& j) { j["syscalls"][2]["args"][0]["index"] = 6; },
       "linux.seccomp.syscalls[2].args[0].index: 6 is not in [0, 5]"},
      {"negative value", [](json& j) { j["syscalls"][2]["args"][0]["value"] = -1; },
       "linux.seccomp.syscalls[2].args[0].value: -1 must not be negative"},
      {"no names", [](json& j) { j["syscalls"][0]["names"] = json::array(); },
       "linux.seccomp.syscalls[0].names: must name at least one syscall"},
      {"errnoRet with allow", [](json& j) { j["syscalls"][0]["errnoRet"] = 1; },
       "linux.seccomp.syscalls[0].errnoRet: is only valid with SCMP_ACT_ERRNO"},
      {"not an object", [](json& j) { j = json::array(); }, "linux.seccomp: must be an object"},
  };
  for (const BadCase& c : cases) {
    json j = Minimal();
    c.mutate(j);
    auto config = ParseConfig(j);
    ASSERT_FALSE(config.ok()) << c.name;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(std::string(config.status().message()).find(c.message), std::string::npos)
        << c.name << ": " << config.status();
  }
}

TEST(SeccompParseTest, SpecKeepsTheTypedConfig) {
  json config = {{"ociVersion", "1.0.2"},
                 {"root", {{"path", "/tmp"}}},
                 {"process", {{"args", {"sh"}}, {"cwd", "/"}}},
                 {"linux", {{"seccomp", Minimal()}}}};
  auto spec = ParseSpec(config.dump(), "/tmp");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->seccomp.has_value());
  EXPECT_EQ(spec->seccomp->syscalls.size(), 4u);
  config["linux"]["seccomp"]["syscalls"][1]["action"] = "SCMP_ACT_NOPE";
  spec = ParseSpec(config.dump(), "/tmp");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("linux.seccomp.syscalls[1].action"), std::string::npos);
}

TEST(SeccompCompileTest, CompilesToBpfWithFlags) {
  auto config = ParseConfig(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  auto filter = Compile(*config);
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_GT(filter->program.size(), 5u);
  EXPECT_LE(filter->program.size(), static_cast<size_t>(BPF_MAXINSNS));
  EXPECT_EQ(filter->flags, static_cast<unsigned>(SECCOMP_FILTER_FLAG_LOG));
  // The last instruction of a classic BPF program is a return.
  EXPECT_EQ(BPF_CLASS(filter->program.back().code), BPF_RET);
}

TEST(SeccompCompileTest, UnknownSyscallNamesAreSkipped) {
  Config config;
  config.default_action = Action::kAllow;
  config.syscalls.push_back({{"no_such_syscall_at_all", "mkdir"}, Action::kErrno, EPERM, {}});
  auto filter = Compile(config);
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_FALSE(filter->program.empty());
}

TEST(SeccompCompileTest, RulesLikeTheDefaultAreDropped) {
  Config config;
  config.default_action = Action::kErrno;
  config.syscalls.push_back({{"mkdir"}, Action::kErrno, std::nullopt, {}});  // EPERM == default
  EXPECT_TRUE(Compile(config).ok());
}

TEST(SeccompCompileTest, SeveralConditionsOnOneArgument) {
  Config config;
  config.default_action = Action::kAllow;
  config.syscalls.push_back(
      {{"personality"}, Action::kErrno, 22, {{0, 1, 0, Op::kEqual}, {0, 2, 0, Op::kEqual}}});
  EXPECT_TRUE(Compile(config).ok());
}

TEST(SeccompCompileTest, NotifyIsUnimplemented) {
  Config config;
  config.default_action = Action::kAllow;
  config.syscalls.push_back({{"mkdir"}, Action::kNotify, std::nullopt, {}});
  auto filter = Compile(config);
  ASSERT_FALSE(filter.ok());
  EXPECT_EQ(filter.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(filter.status().message().find("linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY"),
            std::string::npos)
      << filter.status();
}

TEST(SeccompCompileTest, ErrnoAboveMaxErrnoIsRefused) {
  Config config;
  config.default_action = Action::kAllow;
  config.syscalls.push_back({{"mkdir"}, Action::kErrno, 70000, {}});
  auto filter = Compile(config);
  ASSERT_FALSE(filter.ok());
  EXPECT_NE(filter.status().message().find("syscalls[0].action: errno 70000"), std::string::npos)
      << filter.status();
}

TEST(SeccompBuildPlanTest, PlanCarriesTheProgramAndWhenToLoadIt) {
  json config = {{"ociVersion", "1.0.2"},
                 {"root", {{"path", "/tmp"}}},
                 {"process", {{"args", {"sh"}}, {"cwd", "/"}, {"noNewPrivileges", true}}},
                 {"linux", {{"namespaces", {{{"type", "mount"}}}}, {"seccomp", Minimal()}}}};
  auto spec = ParseSpec(config.dump(), "/tmp");
  ASSERT_TRUE(spec.ok()) << spec.status();
  LaunchOptions options;
  options.stdin_fd = 0;
  options.stdout_fd = 1;
  options.stderr_fd = 2;
  auto plan = BuildPlan(*spec, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->seccomp_program.empty());
  EXPECT_FALSE(plan->seccomp_early);
  spec->process.no_new_privileges = false;
  plan = BuildPlan(*spec, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->seccomp_early);  // needs CAP_SYS_ADMIN: loaded before the caps are dropped
}

ProfileEnvironment Amd64(std::set<std::string> caps) {
  ProfileEnvironment env;
  env.caps = std::move(caps);
  env.go_arch = "amd64";
  env.seccomp_arch = "SCMP_ARCH_X86_64";
  env.kernel_major = 6;
  env.kernel_minor = 1;
  return env;
}

// The actions the resolved config gives `name` (one per rule that names it).
std::vector<const Syscall*> RulesFor(const Config& config, const std::string& name) {
  std::vector<const Syscall*> out;
  for (const Syscall& s : config.syscalls) {
    if (std::find(s.names.begin(), s.names.end(), name) != s.names.end()) out.push_back(&s);
  }
  return out;
}

const std::set<std::string> kDockerCaps = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

TEST(DefaultProfileTest, DockerDefaultCapsGetTheRestrictedProfile) {
  auto config = DefaultProfile(Amd64(kDockerCaps));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_action, Action::kErrno);
  EXPECT_EQ(config->default_errno_ret, static_cast<uint32_t>(EPERM));
  EXPECT_EQ(config->architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  for (const char* denied : {"mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf",
                             "kexec_load", "reboot", "init_module", "open_by_handle_at",
                             "settimeofday", "swapon", "perf_event_open", "ptrace_nope"}) {
    EXPECT_TRUE(RulesFor(*config, denied).empty()) << denied << " should be left to the default";
  }
  for (const char* allowed : {"read", "execve", "chroot", "arch_prctl", "ptrace", "socket"}) {
    EXPECT_FALSE(RulesFor(*config, allowed).empty()) << allowed;
  }
  EXPECT_TRUE(RulesFor(*config, "s390_runtime_instr").empty());
  // clone only without namespace flags; clone3 gets ENOSYS.
  auto clone = RulesFor(*config, "clone");
  ASSERT_EQ(clone.size(), 1u);
  ASSERT_EQ(clone[0]->args.size(), 1u);
  EXPECT_EQ(clone[0]->args[0].index, 0u);
  EXPECT_EQ(clone[0]->args[0].op, Op::kMaskedEqual);
  auto clone3 = RulesFor(*config, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0]->action, Action::kErrno);
  EXPECT_EQ(clone3[0]->errno_ret, static_cast<uint32_t>(ENOSYS));
  EXPECT_EQ(RulesFor(*config, "personality").size(), 5u);
  auto filter = Compile(*config);
  ASSERT_TRUE(filter.ok()) << filter.status();
}

TEST(DefaultProfileTest, CapabilitiesUnlockTheirSyscalls) {
  std::set<std::string> caps = kDockerCaps;
  caps.insert(
      {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYS_TIME"});
  auto config = DefaultProfile(Amd64(caps));
  ASSERT_TRUE(config.ok()) << config.status();
  for (const char* allowed :
       {"mount", "unshare", "setns", "kcmp", "init_module", "reboot", "settimeofday", "clone3"}) {
    auto rules = RulesFor(*config, allowed);
    ASSERT_FALSE(rules.empty()) << allowed;
    EXPECT_EQ(rules[0]->action, Action::kAllow) << allowed;
  }
  // With CAP_SYS_ADMIN clone is unrestricted and clone3 is not refused.
  for (const Syscall* s : RulesFor(*config, "clone")) EXPECT_TRUE(s->args.empty());
  for (const Syscall* s : RulesFor(*config, "clone3")) EXPECT_EQ(s->action, Action::kAllow);
  EXPECT_TRUE(Compile(*config).ok());
}

TEST(DefaultProfileTest, OldKernelsKeepPtraceBehindTheCapability) {
  ProfileEnvironment env = Amd64(kDockerCaps);
  env.kernel_major = 4;
  env.kernel_minor = 4;
  auto config = DefaultProfile(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(RulesFor(*config, "ptrace").empty());
}

TEST(DockerProfileTest, ConvertsIncludesExcludesAndArchMap) {
  const std::string text = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [
      {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
      {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
    ],
    "syscalls": [
      {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": []},
      {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_CHOWN"]}},
      {"names": ["rmdir"], "action": "SCMP_ACT_KILL", "includes": {"arches": ["arm64"]}},
      {"names": ["link"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "99.0"}},
      {"names": ["unlink"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "3.0"}},
      {"names": ["rename"], "action": "SCMP_ACT_LOG", "comment": "kept", "includes": {}}
    ]})";
  auto profile = ParseDockerProfile(text);
  ASSERT_TRUE(profile.ok()) << profile.status();
  auto config = ResolveDockerProfile(*profile, Amd64({"CAP_CHOWN"}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_action, Action::kAllow);
  EXPECT_EQ(config->architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  std::vector<std::string> names;
  for (const Syscall& s : config->syscalls) names.push_back(s.names[0]);
  EXPECT_EQ(names, (std::vector<std::string>{"mkdir", "rename"}));
  EXPECT_EQ(config->syscalls[0].errno_ret, 13u);
  EXPECT_TRUE(Compile(*config).ok());
}

TEST(DockerProfileTest, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"{", "seccomp profile: not valid JSON"},
      {R"({"syscalls": []})", "seccomp profile: defaultAction: is required"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "X"}]})",
       "seccomp profile: syscalls[0].action: unknown action \"X\""},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
          "action": "SCMP_ACT_ERRNO"}]})",
       "seccomp profile: syscalls[0]: use either name or names"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
          "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]})",
       "seccomp profile: architectures: cannot be given together with archMap"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
          "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "new"}}]})",
       "seccomp profile: syscalls[0].includes.minKernel: \"new\" is not a version"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
          "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["SYS_ADMIN"]}}]})",
       "seccomp profile: syscalls[0].includes.caps[0]: \"SYS_ADMIN\" is not a capability"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_PDP11"}]})",
       "seccomp profile: archMap[0]: unknown architecture \"SCMP_ARCH_PDP11\""},
  };
  for (const Case& c : cases) {
    auto profile = ParseDockerProfile(c.text);
    ASSERT_FALSE(profile.ok()) << c.text;
    EXPECT_EQ(profile.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(profile.status().message()).find(c.message), std::string::npos)
        << profile.status();
  }
}

}  // namespace
}  // namespace kapsel::runtime::seccomp

namespace kapsel::runtime::seccomp {
namespace {

// The files of a cache directory, without the directory itself.
std::vector<std::string> CacheFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
    }
    closedir(d);
  }
  return out;
}

TEST(SeccompCompileCachedTest, SameProgramFromTheCacheAndOnlyFromATrustedFile) {
  if (geteuid() != 0) GTEST_SKIP() << "cache files are trusted only when owned by root";
  char tmpl[] = "/tmp/kapsel-seccomp-cache.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  const std::string cache = root + "/cache";
  auto config = ParseConfig(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  auto fresh = Compile(*config);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto same = [](const Filter& a, const Filter& b) {
    return a.flags == b.flags && a.program.size() == b.program.size() &&
           memcmp(a.program.data(), b.program.data(), a.program.size() * sizeof(sock_filter)) == 0;
  };

  // A miss compiles and fills the cache (the directory is made, mode 0700).
  auto first = CompileCached(*config, cache);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(same(*first, *fresh));
  std::vector<std::string> files = CacheFiles(cache);
  ASSERT_EQ(files.size(), 1u);
  struct stat st;
  ASSERT_EQ(stat(cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // A hit is read from the file: an instruction changed there shows up in the result.
  std::string data;
  {
    std::ifstream in(files[0], std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(data.size(), sizeof(sock_filter));
  std::string tampered = data;
  tampered[tampered.size() - sizeof(sock_filter) + 4] ^= 0x7f;  // the last instruction's k
  auto write_file = [&](const std::string& bytes, mode_t mode) {
    std::ofstream(files[0], std::ios::binary | std::ios::trunc) << bytes;
    chmod(files[0].c_str(), mode);
  };
  write_file(tampered, 0600);
  auto hit = CompileCached(*config, cache);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_FALSE(same(*hit, *fresh));

  // The same bytes in a file others may write are not trusted: compiled again, file rewritten.
  write_file(tampered, 0666);
  auto untrusted = CompileCached(*config, cache);
  ASSERT_TRUE(untrusted.ok()) << untrusted.status();
  EXPECT_TRUE(same(*untrusted, *fresh));
  ASSERT_EQ(stat(files[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A truncated file is not used either.
  write_file(data.substr(0, data.size() - 3), 0600);
  auto truncated = CompileCached(*config, cache);
  ASSERT_TRUE(truncated.ok()) << truncated.status();
  EXPECT_TRUE(same(*truncated, *fresh));

  // Another config has its own entry and its own program.
  Config other = *config;
  other.default_action = Action::kAllow;
  auto other_cached = CompileCached(other, cache);
  ASSERT_TRUE(other_cached.ok()) << other_cached.status();
  auto other_fresh = Compile(other);
  ASSERT_TRUE(other_fresh.ok());
  EXPECT_TRUE(same(*other_cached, *other_fresh));
  EXPECT_FALSE(same(*other_cached, *fresh));
  EXPECT_EQ(CacheFiles(cache).size(), 2u);
  auto again = CompileCached(*config, cache);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(same(*again, *fresh));

  for (const std::string& f : CacheFiles(cache)) unlink(f.c_str());
  rmdir(cache.c_str());
  rmdir(root.c_str());
}

}  // namespace
}  // namespace kapsel::runtime::seccomp
