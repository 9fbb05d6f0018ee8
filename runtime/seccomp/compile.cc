#include "runtime/seccomp/compile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/seccomp/oci_json.h"

namespace kapsel::runtime::seccomp {
namespace {

struct FilterContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
// Owns an scmp_filter_ctx (a void*).
using FilterContext = std::unique_ptr<void, FilterContextDeleter>;

// libseccomp returns 0 or -errno; this is the one place that turns it into a Status.
absl::Status ScmpStatus(int rc, const std::string& what) {
  if (rc >= 0) return absl::OkStatus();
  return absl::ErrnoToStatus(-rc, what);
}

// The errno of SCMP_ACT_ERRNO lives in the 16 data bits of the filter's return value, and the
// kernel clamps it to MAX_ERRNO (4095) on the way out.
constexpr uint32_t kMaxErrno = 4095;

absl::StatusOr<uint32_t> ToScmpAction(Action action, std::optional<uint32_t> errno_ret,
                                      const std::string& field) {
  switch (action) {
    case Action::kKill:
    case Action::kKillThread:
      return SCMP_ACT_KILL_THREAD;
    case Action::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case Action::kTrap:
      return SCMP_ACT_TRAP;
    case Action::kErrno:
    case Action::kTrace: {
      uint32_t err = errno_ret.value_or(EPERM);
      if (err > kMaxErrno) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": errno ", err, " is above ", kMaxErrno));
      }
      return action == Action::kErrno ? SCMP_ACT_ERRNO(err) : SCMP_ACT_TRACE(err);
    }
    case Action::kAllow:
      return SCMP_ACT_ALLOW;
    case Action::kLog:
      return SCMP_ACT_LOG;
    case Action::kNotify:
      return absl::UnimplementedError(
          absl::StrCat(field,
                       ": SCMP_ACT_NOTIFY needs a seccomp listener, which kapsel does "
                       "not support"));
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown action"));
}

scmp_compare ToScmpOp(Op op) {
  switch (op) {
    case Op::kNotEqual:
      return SCMP_CMP_NE;
    case Op::kLessThan:
      return SCMP_CMP_LT;
    case Op::kLessEqual:
      return SCMP_CMP_LE;
    case Op::kEqual:
      return SCMP_CMP_EQ;
    case Op::kGreaterEqual:
      return SCMP_CMP_GE;
    case Op::kGreaterThan:
      return SCMP_CMP_GT;
    case Op::kMaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

// "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64"; 0 when unknown.
uint32_t ToScmpArch(const std::string& name) {
  constexpr char kPrefix[] = "SCMP_ARCH_";
  if (name.rfind(kPrefix, 0) != 0) return 0;
  std::string lower = name.substr(sizeof(kPrefix) - 1);
  for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(lower.c_str());
}

// Adds one rule per name. Several conditions on the same argument cannot be ANDed in one
// libseccomp rule; like runc, such a rule becomes one rule per condition (any of them matches).
absl::Status AddRule(void* ctx, const Syscall& call, uint32_t action, const std::string& field) {
  std::vector<scmp_arg_cmp> conds;
  std::set<uint32_t> indexes;
  bool repeated_index = false;
  for (const Arg& a : call.args) {
    conds.push_back({a.index, ToScmpOp(a.op), a.value, a.value_two});
    repeated_index |= !indexes.insert(a.index).second;
  }
  for (size_t i = 0; i < call.names.size(); ++i) {
    const std::string& name = call.names[i];
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall of this libseccomp; see compile.h
    const std::string what = absl::StrCat(field, ".names[", i, "]: add rule for ", name);
    if (!repeated_index) {
      if (auto s = ScmpStatus(
              seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned int>(conds.size()),
                                     conds.empty() ? nullptr : conds.data()),
              what);
          !s.ok()) {
        return s;
      }
      continue;
    }
    for (const scmp_arg_cmp& cond : conds) {
      if (auto s = ScmpStatus(seccomp_rule_add_array(ctx, action, nr, 1, &cond), what); !s.ok())
        return s;
    }
  }
  return absl::OkStatus();
}

// seccomp_export_bpf writes to an fd (libseccomp 2.5 has no in-memory export): a memfd, read
// back whole.
absl::StatusOr<std::vector<struct sock_filter>> ExportBpf(void* ctx) {
  linux::UniqueFd fd(memfd_create("kapsel-seccomp", MFD_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "memfd_create kapsel-seccomp");
  if (auto s = ScmpStatus(seccomp_export_bpf(ctx, fd.get()), "seccomp_export_bpf"); !s.ok())
    return s;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat seccomp memfd");
  if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0) {
    return absl::InternalError(
        absl::StrCat("seccomp_export_bpf wrote ", st.st_size, " bytes, not whole instructions"));
  }
  std::vector<struct sock_filter> program(static_cast<size_t>(st.st_size) /
                                          sizeof(struct sock_filter));
  char* out = reinterpret_cast<char*>(program.data());
  size_t done = 0;
  while (done < static_cast<size_t>(st.st_size)) {
    ssize_t n = pread(fd.get(), out + done, static_cast<size_t>(st.st_size) - done,
                      static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "read seccomp memfd");
    if (n == 0) return absl::InternalError("seccomp memfd: short read");
    done += static_cast<size_t>(n);
  }
  // The kernel refuses programs longer than BPF_MAXINSNS (4096) with EINVAL; say so here.
  if (program.size() > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(absl::StrCat("linux.seccomp: the filter has ", program.size(),
                                                   " instructions, more than ", BPF_MAXINSNS,
                                                   " the kernel accepts"));
  }
  return program;
}

}  // namespace

absl::StatusOr<Filter> Compile(const Config& config) {
  const std::string field = "linux.seccomp";
  auto default_action =
      ToScmpAction(config.default_action, config.default_errno_ret, field + ".defaultAction");
  if (!default_action.ok()) return default_action.status();
  FilterContext ctx(seccomp_init(*default_action));
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  // A binary tree of syscall numbers instead of a linear list: Docker's profile has ~350 rules
  // and every syscall of the container walks the filter (libseccomp 2.5).
  if (auto s = ScmpStatus(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2),
                          "seccomp_attr_set SCMP_FLTATR_CTL_OPTIMIZE");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < config.architectures.size(); ++i) {
    const std::string& name = config.architectures[i];
    uint32_t arch = ToScmpArch(name);
    const std::string af = absl::StrCat(field, ".architectures[", i, "]");
    if (arch == 0)
      return absl::InvalidArgumentError(absl::StrCat(af, ": unknown architecture ", name));
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc == -EEXIST) continue;  // the native one is there from seccomp_init
    if (auto s = ScmpStatus(rc, absl::StrCat(af, ": seccomp_arch_add ", name)); !s.ok()) return s;
  }
  Filter filter;
  for (const std::string& flag : config.flags) {
    if (flag == "SECCOMP_FILTER_FLAG_LOG") filter.flags |= SECCOMP_FILTER_FLAG_LOG;
    if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") filter.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  }
  for (size_t i = 0; i < config.syscalls.size(); ++i) {
    const Syscall& call = config.syscalls[i];
    const std::string sf = absl::StrCat(field, ".syscalls[", i, "]");
    auto action = ToScmpAction(call.action, call.errno_ret, sf + ".action");
    if (!action.ok()) return action.status();
    // libseccomp refuses a rule that does what the default does; it is redundant anyway.
    if (*action == *default_action) continue;
    if (auto s = AddRule(ctx.get(), call, *action, sf); !s.ok()) return s;
  }
  auto program = ExportBpf(ctx.get());
  if (!program.ok()) return program.status();
  filter.program = *std::move(program);
  return filter;
}

namespace {

// The cache file: "kapsel-seccomp-cache 1\n", the key's length and the key, the flags, the
// program's length and its instructions (native byte order: the file never leaves this host).
constexpr char kCacheMagic[] = "kapsel-seccomp-cache 1\n";

// FNV-1a of the key, for the file name only: a hit also compares the whole key.
std::string CacheFileName(const std::string& key) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16), ".bpf");
}

std::optional<Filter> ReadCached(const std::string& path, const std::string& key) {
  linux::UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
      (st.st_mode & 022) != 0 || st.st_size > (1 << 20)) {
    return std::nullopt;
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  size_t at = sizeof(kCacheMagic) - 1;
  auto take = [&](void* out, size_t size) {
    if (at > data.size() || data.size() - at < size) return false;
    memcpy(out, data.data() + at, size);
    at += size;
    return true;
  };
  if (data.compare(0, at, kCacheMagic) != 0) return std::nullopt;
  uint64_t key_size = 0, count = 0;
  Filter filter;
  if (!take(&key_size, sizeof(key_size)) || key_size != key.size() ||
      data.compare(at, key.size(), key) != 0) {
    return std::nullopt;
  }
  at += key.size();
  if (!take(&filter.flags, sizeof(filter.flags)) || !take(&count, sizeof(count)) || count == 0 ||
      count > BPF_MAXINSNS || data.size() - at != count * sizeof(sock_filter)) {
    return std::nullopt;
  }
  filter.program.resize(count);
  memcpy(filter.program.data(), data.data() + at, count * sizeof(sock_filter));
  return filter;
}

void WriteCached(const std::string& dir, const std::string& path, const std::string& key,
                 const Filter& filter) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return;
  std::string data(kCacheMagic);
  const uint64_t key_size = key.size(), count = filter.program.size();
  data.append(reinterpret_cast<const char*>(&key_size), sizeof(key_size));
  data.append(key);
  data.append(reinterpret_cast<const char*>(&filter.flags), sizeof(filter.flags));
  data.append(reinterpret_cast<const char*>(&count), sizeof(count));
  data.append(reinterpret_cast<const char*>(filter.program.data()), count * sizeof(sock_filter));
  // A name of its own per writer: two shims may fill the same entry at once.
  const std::string tmp = absl::StrCat(path, ".", getpid(), ".tmp");
  linux::UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return;
  bool ok = write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size());
  fd.Close();
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) unlink(tmp.c_str());
}

}  // namespace

absl::StatusOr<Filter> CompileCached(const Config& config, const std::string& cache_dir) {
  if (cache_dir.empty()) return Compile(config);
  const std::string key = ConfigToJson(config).dump();
  const std::string path = absl::StrCat(cache_dir, "/", CacheFileName(key));
  if (std::optional<Filter> cached = ReadCached(path, key)) return *std::move(cached);
  auto filter = Compile(config);
  if (filter.ok()) WriteCached(cache_dir, path, key, *filter);
  return filter;
}

}  // namespace kapsel::runtime::seccomp
