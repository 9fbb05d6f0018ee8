// kapseld: wires the store, the engine and the gRPC services together and serves them on a Unix
// socket until SIGTERM or SIGINT. Containers stay with their shims when it stops.

#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "daemon/engine.h"
#include "daemon/event_bus.h"
#include "daemon/services/containers_service.h"
#include "daemon/services/events_service.h"
#include "daemon/services/images_service.h"
#include "daemon/services/networks_service.h"
#include "daemon/services/system_service.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"
#include "store/database.h"
#include "store/events_repo.h"
#include "store/fs_util.h"
#include "store/image_store.h"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kapseld: the kapsel container engine daemon"};
  std::string data_root = "/var/lib/kapsel";
  std::string exec_root = "/run/kapsel";
  std::string socket_path;
  std::string log_level = "info";
  std::string shim_flag;
  std::string busybox = "/bin/busybox";
  app.add_option("--data-root", data_root, "persistent state: database, images, containers");
  app.add_option("--exec-root", exec_root, "runtime state: socket, shim directories");
  app.add_option("--socket", socket_path, "API socket (default <exec-root>/kapsel.sock)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--shim", shim_flag, "path of kapsel-shim (default: beside kapseld)");
  app.add_option("--busybox", busybox, "static busybox for the built-in busybox:latest image");
  kapsel::daemon::NetworkManagerOptions network;
  app.add_option("--bridge-subnet", network.default_subnet,
                 "IPv4 subnet of the default bridge network (kapsel0)");
  app.add_flag("--ip-forward,!--no-ip-forward", network.enable_ip_forward,
               "turn on net.ipv4.ip_forward when a container needs a route out (default on)");
  kapsel::logs::RotationOptions log_rotation = kapsel::daemon::EngineOptions{}.log_rotation;
  app.add_option("--log-max-size", log_rotation.max_size_bytes,
                 "size at which a container's log is rotated, e.g. 20m (default 20m)")
      ->transform(CLI::AsSizeValue(/*kb_is_1000=*/false))
      ->check(CLI::Range(int64_t{4096}, std::numeric_limits<int64_t>::max()));
  app.add_option("--log-max-files", log_rotation.max_files,
                 "log files kept per container, the current one included (default 5)")
      ->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  if (socket_path.empty()) socket_path = exec_root + "/kapsel.sock";
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  for (const auto& dir : {data_root, exec_root}) {
    if (auto s = kapsel::store::MkdirAll(dir, 0711); !s.ok()) {
      spdlog::error("{}", std::string(s.message()));
      return 1;
    }
  }
  auto db = kapsel::store::Database::Open(data_root + "/kapsel.db");
  if (!db.ok()) {
    spdlog::error("open database: {}", std::string(db.status().message()));
    return 1;
  }
  kapsel::store::ImageStore images(db->get(), data_root);
  // Before serving: what a crash left between a commit and its file removals, or of an import.
  if (auto s = images.Recover(); !s.ok()) {
    spdlog::warn("image store sweep: {}", std::string(s.message()));
  }
  if (auto bb = images.EnsureBusybox(busybox); !bb.ok()) {
    spdlog::warn("no built-in busybox image: {}", std::string(bb.status().message()));
  }
  kapsel::daemon::EventBus bus;
  kapsel::store::EventRepo events(db->get());
  kapsel::daemon::Engine engine({data_root, exec_root, FindShim(shim_flag), network, log_rotation},
                                db->get(), &images, &bus);
  if (auto s = engine.Init(); !s.ok()) {
    spdlog::error("engine: {}", std::string(s.message()));
    return 1;
  }

  kapsel::daemon::SystemService system_service(&engine);
  kapsel::daemon::ContainersService containers_service(&engine);
  kapsel::daemon::ImagesService images_service(&engine);
  kapsel::daemon::EventsService events_service(&bus, &events);
  kapsel::daemon::NetworksService networks_service(&engine);

  unlink(socket_path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&system_service);
  builder.RegisterService(&containers_service);
  builder.RegisterService(&images_service);
  builder.RegisterService(&events_service);
  builder.RegisterService(&networks_service);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    spdlog::error("cannot serve on {}", socket_path);
    return 1;
  }
  // Root and the kapsel group may use the API; nobody else.
  gid_t gid = 0;
  if (struct group* g = getgrnam("kapsel"); g != nullptr) gid = g->gr_gid;
  if (chown(socket_path.c_str(), 0, gid) != 0 || chmod(socket_path.c_str(), 0660) != 0) {
    spdlog::error("set owner and mode of {}: {}", socket_path, strerror(errno));
    return 1;
  }
  spdlog::info("kapseld {} serving on {}", KAPSEL_VERSION, socket_path);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down; containers keep running", sigabbrev_np(sig));
  bus.Close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  engine.Shutdown();
  unlink(socket_path.c_str());
  return 0;
}
