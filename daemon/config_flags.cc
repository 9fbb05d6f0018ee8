#include "daemon/config_flags.h"

#include <string>
#include <vector>

#include "daemon/ulimits.h"

namespace kapsel::daemon {
namespace {

// A flag that sets one string field of the configuration.
void StringFlag(CLI::App* app, const std::string& name, const std::string& help,
                std::function<void(const std::string&)> set) {
  app->add_option_function<std::string>(name, std::move(set), help);
}

// Docker's form: NAME=SOFT[:HARD], -1 for unlimited.
v1::Ulimit ParseUlimitFlag(const std::string& text) {
  auto u = ParseUlimitText(text);
  if (!u.ok()) throw CLI::ValidationError("--default-ulimit", std::string(u.status().message()));
  return *std::move(u);
}

}  // namespace

void AddConfigFlags(CLI::App* app, v1::DaemonConfig* o) {
  StringFlag(app, "--data-root", "persistent state: database, images, containers",
             [o](const std::string& v) { o->set_data_root(v); });
  StringFlag(app, "--exec-root", "runtime state: socket, shim directories",
             [o](const std::string& v) { o->set_exec_root(v); });
  StringFlag(app, "--socket", "API socket (default <exec-root>/kapsel.sock)",
             [o](const std::string& v) { o->set_socket(v); });
  StringFlag(app, "--socket-group", "group admitted to the API besides root (default kapsel)",
             [o](const std::string& v) { o->set_socket_group(v); });
  StringFlag(app, "--log-level", "trace, debug, info, warn, error",
             [o](const std::string& v) { o->set_log_level(v); });
  StringFlag(app, "--log-format", "text or json (one object per line)",
             [o](const std::string& v) { o->set_log_format(v); });
  StringFlag(app, "--log-max-size",
             "size at which a container's log is rotated, e.g. 20m (default 20m)",
             [o](const std::string& v) { o->mutable_log_rotation()->set_max_size(v); });
  app->add_option_function<int>(
      "--log-max-files", [o](const int& v) { o->mutable_log_rotation()->set_max_files(v); },
      "log files kept per container, the current one included (default 5)");
  StringFlag(app, "--bridge-subnet", "IPv4 subnet of the default bridge network (kapsel0)",
             [o](const std::string& v) { o->set_bridge_subnet(v); });
  app->add_flag_function(
      "--ip-forward,!--no-ip-forward", [o](int64_t count) { o->set_ip_forward(count > 0); },
      "turn on net.ipv4.ip_forward when a container needs a route out (default on)");
  StringFlag(app, "--cgroup-parent", "cgroup below which new containers live (default kapsel)",
             [o](const std::string& v) { o->set_cgroup_parent(v); });
  StringFlag(app, "--userns-remap",
             "run new containers in a user namespace mapped to USER[:GROUP]'s ranges in "
             "/etc/subuid and /etc/subgid (\"default\": the user kapsel)",
             [o](const std::string& v) { o->set_userns_remap(v); });
  app->add_option_function<std::vector<std::string>>(
      "--default-ulimit",
      [o](const std::vector<std::string>& values) {
        o->clear_default_ulimits();
        for (const std::string& v : values) *o->add_default_ulimits() = ParseUlimitFlag(v);
      },
      "rlimit of container processes, NAME=SOFT[:HARD] (e.g. nofile=1024:4096); repeatable");
  StringFlag(app, "--init-path",
             "static init binary run as PID 1 of --init containers (default /usr/bin/tini-static)",
             [o](const std::string& v) { o->set_init_path(v); });
  StringFlag(app, "--metrics",
             "serve Prometheus metrics at GET /metrics on unix:/PATH or 127.0.0.1:PORT",
             [o](const std::string& v) { o->set_metrics(v); });
  app->add_option_function<std::vector<std::string>>(
      "--insecure-registry",
      [o](const std::vector<std::string>& values) {
        o->clear_insecure_registries();
        for (const std::string& v : values) o->add_insecure_registries(v);
      },
      "HOST[:PORT] of a registry pulled from over plain HTTP or unverified TLS (loopback "
      "registries always are); repeatable");
  StringFlag(app, "--cni-config-dir",
             "CNI network configuration lists of --network cni:NAME (default /etc/cni/net.d)",
             [o](const std::string& v) { o->set_cni_config_dir(v); });
  app->add_option_function<std::vector<std::string>>(
      "--cni-plugin-dir",
      [o](const std::vector<std::string>& values) {
        o->clear_cni_plugin_dirs();
        for (const std::string& v : values) o->add_cni_plugin_dirs(v);
      },
      "directory of CNI plugin binaries (default /usr/lib/cni); repeatable");
}

}  // namespace kapsel::daemon
