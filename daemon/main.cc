// kapseld: wires the configuration, the store, the engine and the gRPC services together and
// serves them on the API socket until SIGTERM or SIGINT; SIGHUP reloads the configuration file.
// Containers stay with their shims when it stops.

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/api_listener.h"
#include "daemon/config.h"
#include "daemon/config_flags.h"
#include "daemon/config_reload.h"
#include "daemon/daemon_metrics.h"
#include "daemon/engine.h"
#include "daemon/event_bus.h"
#include "daemon/request_log.h"
#include "daemon/services/containers_service.h"
#include "daemon/services/events_service.h"
#include "daemon/services/images_service.h"
#include "daemon/services/networks_service.h"
#include "daemon/services/system_service.h"
#include "daemon/systemd.h"
#include "daemon/userns_remap.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/resource_quota.h"
#include "spdlog/spdlog.h"
#include "store/database.h"
#include "store/events_repo.h"
#include "store/fs_util.h"
#include "store/image_store.h"

namespace {

using kapsel::daemon::DaemonSettings;

// Bounds on what clients may make the daemon hold: bytes per message, calls in flight per
// connection, and threads serving calls (a call beyond that fails with RESOURCE_EXHAUSTED).
constexpr int kMaxMessageBytes = 16 << 20;
constexpr int kMaxStreamsPerConnection = 128;
constexpr int kMaxServerThreads = 256;

std::string FindShim(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "kapsel-shim";
  auto dir = self.parent_path();
  for (auto candidate :
       {dir / "kapsel-shim", dir / ".." / KAPSEL_SHIM_INSTALL_DIR / "kapsel-shim"}) {
    if (access(candidate.c_str(), X_OK) == 0)
      return std::filesystem::weakly_canonical(candidate).string();
  }
  return (dir / "kapsel-shim").string();
}

// Root only when the default group is missing; a group that was asked for must exist.
absl::StatusOr<kapsel::daemon::AccessPolicy> AccessPolicyFor(const DaemonSettings& settings) {
  kapsel::daemon::AccessPolicy policy;
  policy.group_name = settings.socket_group;
  auto gid = kapsel::daemon::ResolveSocketGroup(settings.socket_group);
  if (gid.ok()) {
    policy.has_group = true;
    policy.group = *gid;
    return policy;
  }
  if (absl::IsNotFound(gid.status()) && !settings.socket_group_explicit) return policy;
  return gid.status();
}

// The STATUS= line systemd shows: "3 containers running".
std::string RunningStatus(kapsel::daemon::Engine* engine) {
  auto all = engine->List();
  if (!all.ok()) return "serving";
  int running = 0;
  for (const auto& c : *all) running += c.state == "running" || c.state == "paused";
  return absl::StrCat(running, running == 1 ? " container" : " containers", " running");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kapseld: the kapsel container engine daemon"};
  std::string config_path = kapsel::daemon::kDefaultConfigPath;
  CLI::Option* config_option = app.add_option(
      "--config", config_path, "configuration file (default /etc/kapsel/kapseld.json)");
  bool validate_only = false;
  app.add_flag("--validate-config", validate_only,
               "check the configuration file and the flags, print OK or the error, and exit");
  kapsel::v1::DaemonConfig overrides;
  kapsel::daemon::AddConfigFlags(&app, &overrides);
  std::string shim_flag;
  std::string busybox = "/bin/busybox";
  app.add_option("--shim", shim_flag, "path of kapsel-shim (default: beside kapseld)");
  app.add_option("--busybox", busybox, "static busybox for the built-in busybox:latest image");
  CLI11_PARSE(app, argc, argv);
  const bool config_required = config_option->count() > 0;

  kapsel::v1::DaemonConfig running_config;
  auto settings =
      kapsel::daemon::LoadSettings(config_path, config_required, overrides, &running_config);
  absl::StatusOr<kapsel::daemon::AccessPolicy> policy =
      settings.ok() ? AccessPolicyFor(*settings) : settings.status();
  // userns_remap's ranges are read now: a missing one fails the check and the start, not the
  // first create.
  std::optional<kapsel::daemon::UsernsRemap> remap;
  if (policy.ok() && !settings->userns_remap.empty()) {
    auto resolved = kapsel::daemon::ResolveUsernsRemap(settings->userns_remap);
    if (resolved.ok()) {
      remap = *std::move(resolved);
    } else {
      policy = absl::Status(resolved.status().code(),
                            absl::StrCat("userns_remap: ", resolved.status().message()));
    }
  }
  if (validate_only) {
    if (!policy.ok()) {
      fprintf(stderr, "kapseld: %s\n", std::string(policy.status().message()).c_str());
      return 1;
    }
    printf("OK\n");
    return 0;
  }
  if (!policy.ok()) {
    fprintf(stderr, "kapseld: %s\n", std::string(policy.status().message()).c_str());
    return 1;
  }
  kapsel::daemon::ConfigureLogging(*settings);
  if (access(config_path.c_str(), F_OK) == 0) {
    spdlog::info("configuration: {} and the command line", config_path);
  } else {
    spdlog::info("configuration: defaults and the command line ({} does not exist)", config_path);
  }
  if (!policy->has_group) {
    spdlog::warn("group {} does not exist: only root may use the API", policy->group_name);
  }
  if (!settings->insecure_registries.empty()) {
    spdlog::info("insecure registries: {}", absl::StrJoin(settings->insecure_registries, ", "));
  }

  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  for (const auto& dir : {settings->data_root, settings->exec_root}) {
    if (auto s = kapsel::store::MkdirAll(dir, 0711); !s.ok()) {
      spdlog::error("{}", std::string(s.message()));
      return 1;
    }
  }
  // The API socket: systemd's (kapseld.socket), else our own. Clients that connect before the
  // engine is ready wait in the listen backlog.
  auto activated = kapsel::daemon::systemd::TakeActivatedSocket();
  if (!activated.ok()) {
    spdlog::error("socket activation: {}", std::string(activated.status().message()));
    return 1;
  }
  const bool socket_activated = activated->has_value();
  kapsel::linux::UniqueFd listen_fd;
  std::string socket_name = settings->socket_path;
  if (socket_activated) {
    listen_fd = std::move(**activated);
    socket_name = "the socket systemd passed";
  } else {
    auto bound =
        kapsel::daemon::BindApiSocket(settings->socket_path, policy->has_group ? policy->group : 0);
    if (!bound.ok()) {
      spdlog::error("api socket: {}", std::string(bound.status().message()));
      return 1;
    }
    listen_fd = *std::move(bound);
  }

  auto db = kapsel::store::Database::Open(settings->data_root + "/kapsel.db");
  if (!db.ok()) {
    spdlog::error("open database: {}", std::string(db.status().message()));
    return 1;
  }
  kapsel::store::ImageStore images(db->get(), settings->data_root);
  // Before serving: what a crash left between a commit and its file removals, or of an import.
  if (auto s = images.Recover(); !s.ok()) {
    spdlog::warn("image store sweep: {}", std::string(s.message()));
  }
  if (auto bb = images.EnsureBusybox(busybox); !bb.ok()) {
    spdlog::warn("no built-in busybox image: {}", std::string(bb.status().message()));
  }
  kapsel::daemon::EventBus bus;
  kapsel::daemon::DaemonMetrics metrics;
  kapsel::store::EventRepo events(db->get());
  kapsel::daemon::EngineOptions engine_options;
  engine_options.data_root = settings->data_root;
  engine_options.exec_root = settings->exec_root;
  engine_options.shim_path = FindShim(shim_flag);
  if (!settings->bridge_subnet.empty()) {
    engine_options.network.default_subnet = settings->bridge_subnet;
  }
  engine_options.network.enable_ip_forward = settings->ip_forward;
  engine_options.log_rotation = settings->log_rotation;
  engine_options.default_rlimits = settings->default_ulimits;
  engine_options.init_path = settings->init_path;
  engine_options.cgroup_parent = settings->cgroup_parent;
  if (remap.has_value()) {
    spdlog::info("containers run remapped to {}:{} (uids from {}, gids from {})", remap->user,
                 remap->group, remap->root_uid(), remap->root_gid());
    engine_options.userns_remap = settings->userns_remap;
  }
  engine_options.network.cni_config_dir = settings->cni_config_dir;
  engine_options.network.cni_plugin_dirs = settings->cni_plugin_dirs;
  engine_options.start_observer = [&metrics](absl::Duration elapsed, const absl::Status& result) {
    metrics.RecordStart(elapsed, result);
  };
  kapsel::daemon::Engine engine(std::move(engine_options), db->get(), &images, &bus);
  // Counting starts before Init: containers with a restart policy start there.
  metrics.Start(&bus, [&engine] { kapsel::daemon::systemd::NotifyStatus(RunningStatus(&engine)); });
  // Its thread calls the engine: it stops before the engine goes, on every way out.
  absl::Cleanup stop_metrics = [&metrics] { metrics.Stop(); };
  if (auto s = engine.Init(); !s.ok()) {
    spdlog::error("engine: {}", std::string(s.message()));
    return 1;
  }

  kapsel::daemon::SystemService system_service(&engine);
  kapsel::daemon::ContainersService containers_service(&engine);
  kapsel::store::PullOptions pull;
  pull.registry.insecure_registries = settings->insecure_registries;
  kapsel::daemon::ImagesService images_service(&engine, pull);
  kapsel::daemon::EventsService events_service(&bus, &events);
  kapsel::daemon::NetworksService networks_service(&engine);

  // No listening ports: ApiListener hands over the connections it admits.
  grpc::ServerBuilder builder;
  builder.RegisterService(&system_service);
  builder.RegisterService(&containers_service);
  builder.RegisterService(&images_service);
  builder.RegisterService(&events_service);
  builder.RegisterService(&networks_service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  grpc::ResourceQuota quota("kapseld-api");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(kapsel::daemon::NewRequestLogInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();

  kapsel::daemon::DenyAllService deny_service(*policy);
  grpc::ServerBuilder refused_builder;
  refused_builder.RegisterCallbackGenericService(&deny_service);
  refused_builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 4);
  std::unique_ptr<grpc::Server> refused_server = refused_builder.BuildAndStart();
  if (!server || !refused_server) {
    spdlog::error("cannot start the gRPC servers");
    return 1;
  }
  kapsel::daemon::ApiListener listener(std::move(listen_fd), *policy, server.get(),
                                       refused_server.get());
  if (auto s = listener.Start(); !s.ok()) {
    spdlog::error("api socket: {}", std::string(s.message()));
    return 1;
  }

  kapsel::daemon::ConfigReloader reloader(
      config_path, config_required, overrides, running_config, *settings,
      {&engine, &images_service, &bus, &metrics, policy->has_group ? policy->group : 0});
  if (auto s = reloader.StartMetrics(); !s.ok()) {
    spdlog::error("metrics: {}", std::string(s.message()));
    return 1;
  }
  spdlog::info("kapseld {} serving on {}; root{} may use it", KAPSEL_VERSION, socket_name,
               policy->has_group ? absl::StrCat(" and group ", policy->group_name) : " only");
  kapsel::daemon::systemd::NotifyReady(RunningStatus(&engine));

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) {
      spdlog::info("received {}, shutting down; containers keep running", sigabbrev_np(sig));
      break;
    }
    kapsel::daemon::systemd::NotifyReloading();
    spdlog::info("received HUP, reloading {}", config_path);
    reloader.Reload();
    kapsel::daemon::systemd::NotifyReady(RunningStatus(&engine));
  }

  kapsel::daemon::systemd::NotifyStopping();
  listener.Stop();
  reloader.StopMetrics();
  bus.Close();
  metrics.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  refused_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  engine.Shutdown();
  // systemd's socket stays for the next start; our own goes.
  if (!socket_activated) unlink(settings->socket_path.c_str());
  return 0;
}
