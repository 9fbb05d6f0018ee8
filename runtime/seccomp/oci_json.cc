#include "runtime/seccomp/oci_json.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace kapsel::runtime::seccomp {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// An unsigned integer that fits in T; a negative, fractional or too large number names the field.
template <typename T>
absl::Status GetUnsigned(const json& obj, const char* key, const std::string& field,
                         std::optional<T>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  const std::string f = absl::StrCat(field, ".", key);
  if (!it->is_number_integer()) return FieldError(f, "must be a non-negative integer");
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > std::numeric_limits<T>::max()) return FieldError(f, absl::StrCat(v, " is too large"));
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }
  int64_t v = it->get<int64_t>();
  if (v < 0) return FieldError(f, absl::StrCat(v, " must not be negative"));
  if (static_cast<uint64_t>(v) > std::numeric_limits<T>::max())
    return FieldError(f, absl::StrCat(v, " is too large"));
  *out = static_cast<T>(v);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StringArray(const json& obj, const char* key,
                                                     const std::string& field) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  const std::string f = absl::StrCat(field, ".", key);
  if (!it->is_array()) return FieldError(f, "must be an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) return FieldError(absl::StrCat(f, "[", i, "]"), "must be a string");
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

absl::StatusOr<Action> GetAction(const json& obj, const char* key, const std::string& field) {
  const std::string f = absl::StrCat(field, ".", key);
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return FieldError(f, "is required");
  if (!it->is_string()) return FieldError(f, "must be a string");
  const std::string name = it->get<std::string>();
  std::optional<Action> action = ActionByName(name);
  if (!action) return FieldError(f, absl::StrCat("unknown action \"", name, "\""));
  return *action;
}

absl::Status ParseArg(const json& j, const std::string& field, Arg* arg) {
  if (!j.is_object()) return FieldError(field, "must be an object");
  std::optional<uint32_t> index;
  std::optional<uint64_t> value, value_two;
  if (auto s = GetUnsigned(j, "index", field, &index); !s.ok()) return s;
  if (auto s = GetUnsigned(j, "value", field, &value); !s.ok()) return s;
  if (auto s = GetUnsigned(j, "valueTwo", field, &value_two); !s.ok()) return s;
  if (!index) return FieldError(field + ".index", "is required");
  // seccomp_data has six arguments (seccomp(2)).
  if (*index > 5) return FieldError(field + ".index", absl::StrCat(*index, " is not in [0, 5]"));
  if (!value) return FieldError(field + ".value", "is required");
  auto op = j.find("op");
  if (op == j.end() || op->is_null()) return FieldError(field + ".op", "is required");
  if (!op->is_string()) return FieldError(field + ".op", "must be a string");
  std::optional<Op> parsed = OpByName(op->get<std::string>());
  if (!parsed) {
    return FieldError(field + ".op",
                      absl::StrCat("unknown operator \"", op->get<std::string>(), "\""));
  }
  arg->index = *index;
  arg->value = *value;
  arg->value_two = value_two.value_or(0);
  arg->op = *parsed;
  return absl::OkStatus();
}

absl::Status ParseSyscallInto(const json& j, const std::string& field, Syscall* call) {
  if (!j.is_object()) return FieldError(field, "must be an object");
  auto names = StringArray(j, "names", field);
  if (!names.ok()) return names.status();
  if (names->empty()) return FieldError(field + ".names", "must name at least one syscall");
  for (size_t i = 0; i < names->size(); ++i) {
    if ((*names)[i].empty())
      return FieldError(absl::StrCat(field, ".names[", i, "]"), "must not be empty");
  }
  call->names = *std::move(names);
  auto action = GetAction(j, "action", field);
  if (!action.ok()) return action.status();
  call->action = *action;
  if (auto s = GetUnsigned(j, "errnoRet", field, &call->errno_ret); !s.ok()) return s;
  if (call->errno_ret && call->action != Action::kErrno && call->action != Action::kTrace) {
    return FieldError(field + ".errnoRet", absl::StrCat("is only valid with SCMP_ACT_ERRNO and "
                                                        "SCMP_ACT_TRACE, not ",
                                                        ActionName(call->action)));
  }
  if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return FieldError(field + ".args", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      Arg arg;
      if (auto s = ParseArg((*it)[i], absl::StrCat(field, ".args[", i, "]"), &arg); !s.ok())
        return s;
      call->args.push_back(arg);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const json& j, const std::string& field) {
  if (!j.is_object()) return FieldError(field, "must be an object");
  Config config;
  auto action = GetAction(j, "defaultAction", field);
  if (!action.ok()) return action.status();
  config.default_action = *action;
  if (auto s = GetUnsigned(j, "defaultErrnoRet", field, &config.default_errno_ret); !s.ok())
    return s;
  if (config.default_errno_ret && config.default_action != Action::kErrno &&
      config.default_action != Action::kTrace) {
    return FieldError(field + ".defaultErrnoRet",
                      absl::StrCat("is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ",
                                   ActionName(config.default_action)));
  }
  auto arches = StringArray(j, "architectures", field);
  if (!arches.ok()) return arches.status();
  for (size_t i = 0; i < arches->size(); ++i) {
    if (!IsKnownArchitecture((*arches)[i])) {
      return FieldError(absl::StrCat(field, ".architectures[", i, "]"),
                        absl::StrCat("unknown architecture \"", (*arches)[i], "\""));
    }
  }
  config.architectures = *std::move(arches);
  auto flags = StringArray(j, "flags", field);
  if (!flags.ok()) return flags.status();
  for (size_t i = 0; i < flags->size(); ++i) {
    if (!IsKnownFlag((*flags)[i])) {
      return FieldError(absl::StrCat(field, ".flags[", i, "]"),
                        absl::StrCat("unknown flag \"", (*flags)[i], "\""));
    }
  }
  config.flags = *std::move(flags);
  if (auto it = j.find("syscalls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return FieldError(field + ".syscalls", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      Syscall call;
      if (auto s = ParseSyscallInto((*it)[i], absl::StrCat(field, ".syscalls[", i, "]"), &call);
          !s.ok()) {
        return s;
      }
      config.syscalls.push_back(std::move(call));
    }
  }
  return config;
}

absl::StatusOr<Syscall> ParseSyscall(const json& j, const std::string& field) {
  Syscall call;
  if (auto s = ParseSyscallInto(j, field, &call); !s.ok()) return s;
  return call;
}

json ConfigToJson(const Config& config) {
  json out = {{"defaultAction", ActionName(config.default_action)}};
  if (config.default_errno_ret) out["defaultErrnoRet"] = *config.default_errno_ret;
  if (!config.architectures.empty()) out["architectures"] = config.architectures;
  if (!config.flags.empty()) out["flags"] = config.flags;
  json syscalls = json::array();
  for (const Syscall& call : config.syscalls) {
    json c = {{"names", call.names}, {"action", ActionName(call.action)}};
    if (call.errno_ret) c["errnoRet"] = *call.errno_ret;
    if (!call.args.empty()) {
      json args = json::array();
      for (const Arg& a : call.args) {
        json arg = {{"index", a.index}, {"value", a.value}, {"op", OpName(a.op)}};
        if (a.value_two != 0) arg["valueTwo"] = a.value_two;
        args.push_back(arg);
      }
      c["args"] = args;
    }
    syscalls.push_back(c);
  }
  out["syscalls"] = syscalls;
  return out;
}

}  // namespace kapsel::runtime::seccomp
