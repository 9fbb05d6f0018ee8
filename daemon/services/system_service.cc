#include "daemon/services/system_service.h"

#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "daemon/services/status.h"
#include "runtime/cgroups/manager.h"

namespace kapsel::daemon {

grpc::Status SystemService::Version(grpc::ServerContext*, const v1::VersionRequest*,
                                    v1::VersionResponse* resp) {
  struct utsname u;
  uname(&u);
  resp->set_version(KAPSEL_VERSION);
  resp->set_api_version("v1");
  resp->set_git_commit(KAPSEL_GIT_COMMIT);
  resp->set_kernel_version(u.release);
  resp->set_os("linux");
  resp->set_arch(u.machine);
  return grpc::Status::OK;
}

grpc::Status SystemService::Info(grpc::ServerContext*, const v1::InfoRequest*,
                                 v1::InfoResponse* resp) {
  resp->set_data_root(engine_->options().data_root);
  resp->set_exec_root(engine_->options().exec_root);
  resp->set_userns_remap(engine_->options().userns_remap);
  auto mode = runtime::cgroups::DetectMode();
  resp->set_cgroup_mode(!mode.ok()                             ? "unknown"
                        : *mode == runtime::cgroups::Mode::kV2 ? "v2"
                                                               : "v1");
  auto containers = engine_->List();
  if (!containers.ok()) return ToGrpc(containers.status());
  int running = 0, exited = 0;
  for (const auto& c : *containers) {
    if (c.state == "running" || c.state == "paused") ++running;
    if (c.state == "exited") ++exited;
  }
  resp->set_containers(static_cast<int32_t>(containers->size()));
  resp->set_containers_running(running);
  resp->set_containers_exited(exited);
  auto images = engine_->images()->List();
  if (!images.ok()) return ToGrpc(images.status());
  resp->set_images(static_cast<int32_t>(images->size()));
  resp->set_storage_driver("overlay");
  struct utsname u;
  uname(&u);
  resp->set_kernel_version(u.release);
  resp->set_server_version(KAPSEL_VERSION);
  resp->set_cpus(static_cast<int32_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  struct sysinfo si;
  if (sysinfo(&si) == 0) resp->set_memory_bytes(static_cast<int64_t>(si.totalram) * si.mem_unit);
  return grpc::Status::OK;
}

grpc::Status SystemService::Health(grpc::ServerContext*, const v1::HealthRequest*,
                                   v1::HealthResponse* resp) {
  resp->set_serving(true);
  return grpc::Status::OK;
}

}  // namespace kapsel::daemon
