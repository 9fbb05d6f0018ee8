#include "daemon/services/containers_service.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/log_reader.h"
#include "daemon/services/attach_stream.h"
#include "daemon/services/exec_stream.h"
#include "daemon/services/status.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "store/overlay.h"

namespace kapsel::daemon {
namespace {

v1::ContainerState StateOf(const std::string& s) {
  if (s == "created") return v1::CONTAINER_STATE_CREATED;
  if (s == "running") return v1::CONTAINER_STATE_RUNNING;
  if (s == "paused") return v1::CONTAINER_STATE_PAUSED;
  if (s == "exited") return v1::CONTAINER_STATE_EXITED;
  if (s == "removing") return v1::CONTAINER_STATE_REMOVING;
  return v1::CONTAINER_STATE_UNSPECIFIED;
}

void ToProto(const Engine& engine, const store::ContainerRecord& rec, v1::Container* out) {
  out->set_id(rec.id);
  out->set_name(rec.name);
  out->set_image(rec.image_ref);
  out->set_image_id(rec.image_id);
  (void)google::protobuf::util::JsonStringToMessage(rec.spec_json, out->mutable_spec());
  nlohmann::json cmd = nlohmann::json::parse(rec.command_json, nullptr, false);
  if (cmd.is_array()) {
    for (const auto& a : cmd) {
      if (a.is_string()) out->add_command(a.get<std::string>());
    }
  }
  out->set_rootfs(store::OverlayPathsFor(engine.ContainerDir(rec.id)).rootfs);
  out->set_log_path(engine.LogPath(rec.id));
  v1::ContainerStatus* st = out->mutable_status();
  st->set_state(StateOf(rec.state));
  st->set_pid(rec.pid);
  st->set_exit_code(rec.exit_code);
  st->set_exit_signal(rec.exit_signal);
  st->set_oom_killed(rec.oom_killed);
  st->set_error(rec.error);
  st->set_created_at_unix_nanos(rec.created_at);
  st->set_started_at_unix_nanos(rec.started_at);
  st->set_finished_at_unix_nanos(rec.finished_at);
  st->set_restart_count(rec.restart_count);
}

void NetworkToProto(Engine& engine, const store::ContainerRecord& rec, v1::Container* out) {
  if (engine.network() == nullptr) return;
  auto net = engine.network()->Describe(rec.id, out->spec().network_mode());
  if (!net.ok()) return;
  v1::NetworkSettings* n = out->mutable_network();
  n->set_mode(net->mode);
  n->set_network(net->network);
  n->set_ip_address(net->address);
  n->set_prefix_length(net->prefix_length);
  n->set_gateway(net->gateway);
  for (const auto& p : net->ports) {
    v1::PortBinding* b = n->add_ports();
    b->set_host_ip(p.host_ip);
    b->set_host_port(p.host_port);
    b->set_container_port(p.container_port);
    b->set_protocol(std::string(network::ProtocolName(p.protocol)));
  }
  for (const auto& c : net->connected) {
    v1::ConnectedNetwork* out_c = n->add_connected();
    out_c->set_network(c.network);
    out_c->set_ip_address(c.address);
    out_c->set_prefix_length(c.prefix_length);
    out_c->set_interface(c.interface);
  }
}

v1::OutputChunk::Stream ToProto(logs::Stream s) {
  return s == logs::Stream::kStderr ? v1::OutputChunk::STREAM_STDERR
                                    : v1::OutputChunk::STREAM_STDOUT;
}

}  // namespace

grpc::Status ContainersService::Create(grpc::ServerContext*, const v1::CreateContainerRequest* req,
                                       v1::CreateContainerResponse* resp) {
  auto rec = engine_->Create(req->spec());
  if (!rec.ok()) return ToGrpc(rec.status());
  resp->set_id(rec->id);
  resp->set_name(rec->name);
  return grpc::Status::OK;
}

grpc::Status ContainersService::Start(grpc::ServerContext*, const v1::StartContainerRequest* req,
                                      v1::StartContainerResponse*) {
  return ToGrpc(engine_->Start(req->container()));
}

bool ContainersService::FollowLog(grpc::ServerContext* ctx, const std::string& id, bool follow,
                                  int exit_fd,
                                  const std::function<bool(const v1::OutputChunk&, int64_t)>& emit,
                                  const std::function<bool()>& caught_up) {
  logs::LogReader reader(engine_->LogPath(id));
  linux::UniqueFd inotify(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (follow && inotify) {
    // The directory, not the file: rotation (log_writer.h) renames the file away and creates a
    // new one, and a watch on the file would stay with the old one.
    const std::string dir = reader.path().substr(0, reader.path().rfind('/'));
    inotify_add_watch(inotify.get(), dir.c_str(),
                      IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO);
  }
  bool client_ok = true;
  auto drain = [&] {
    (void)reader.ReadAvailable([&](const logs::Record& r) {
      if (!client_ok) return;
      v1::OutputChunk chunk;
      chunk.set_stream(ToProto(r.stream));
      chunk.set_data(r.data);
      client_ok = emit(chunk, r.time);
    });
  };
  bool first = true;
  for (;;) {
    drain();
    if (first && caught_up && client_ok) client_ok = caught_up();
    first = false;
    if (!client_ok) return false;
    if (!follow) return true;
    struct pollfd fds[2] = {{inotify.get(), POLLIN, 0}, {exit_fd, POLLIN, 0}};
    // The timeout only serves to notice a client that went away.
    int n = poll(fds, 2, 1000);
    if (n < 0 && errno != EINTR) return true;
    if (fds[0].revents & POLLIN) {
      char buf[4096];
      while (read(inotify.get(), buf, sizeof(buf)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      drain();
      return client_ok;
    }
    if (ctx->IsCancelled()) return false;
  }
}

grpc::Status ContainersService::Run(grpc::ServerContext* ctx, const v1::RunContainerRequest* req,
                                    grpc::ServerWriter<v1::RunContainerResponse>* writer) {
  auto rec = engine_->Create(req->spec());
  if (!rec.ok()) return ToGrpc(rec.status());
  const std::string id = rec->id;
  v1::RunContainerResponse created;
  created.mutable_created()->set_id(id);
  created.mutable_created()->set_name(rec->name);
  writer->Write(created);

  auto send_exit = [&](int code, int sig, bool oom, const std::string& error) {
    v1::RunContainerResponse resp;
    v1::ExitStatus* exit = resp.mutable_exit();
    exit->set_exit_code(code);
    exit->set_signal(sig);
    exit->set_oom_killed(oom);
    exit->set_error(error);
    writer->Write(resp);
  };

  if (req->detach()) {
    absl::Status s = engine_->Start(id);
    if (auto code = ExitCodeOf(s)) {
      send_exit(*code, 0, false, std::string(s.message()));
      return grpc::Status::OK;
    }
    return ToGrpc(s);
  }

  // Attached: keep an auto-remove container until its output has been streamed.
  engine_->Attach(id);
  struct Detacher {
    Engine* engine;
    std::string id;
    ~Detacher() { engine->Detach(id); }
  } detacher{engine_, id};

  auto exit_fd = engine_->ExitNotifier(id);
  if (!exit_fd.ok()) return ToGrpc(exit_fd.status());
  absl::Status s = engine_->Start(id);
  if (auto code = ExitCodeOf(s)) {
    send_exit(*code, 0, false, std::string(s.message()));
    return grpc::Status::OK;
  }
  if (!s.ok()) return ToGrpc(s);

  bool client_ok =
      FollowLog(ctx, id, true, exit_fd->get(), [&](const v1::OutputChunk& chunk, int64_t) {
        v1::RunContainerResponse resp;
        *resp.mutable_output() = chunk;
        return writer->Write(resp);
      });
  if (!client_ok)
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "client went away; the container keeps running");
  auto done = engine_->Get(id);
  if (!done.ok()) return ToGrpc(done.status());
  send_exit(done->exit_code, done->exit_signal, done->oom_killed, done->error);
  return grpc::Status::OK;
}

grpc::Status ContainersService::Stop(grpc::ServerContext*, const v1::StopContainerRequest* req,
                                     v1::StopContainerResponse*) {
  return ToGrpc(
      engine_->Stop(req->container(), req->timeout_seconds() == 0 ? -1 : req->timeout_seconds()));
}

grpc::Status ContainersService::Kill(grpc::ServerContext*, const v1::KillContainerRequest* req,
                                     v1::KillContainerResponse*) {
  auto sig = ParseSignal(req->signal());
  if (!sig.ok()) return ToGrpc(sig.status());
  return ToGrpc(engine_->Kill(req->container(), *sig));
}

grpc::Status ContainersService::Remove(grpc::ServerContext*, const v1::RemoveContainerRequest* req,
                                       v1::RemoveContainerResponse* resp) {
  auto rec = engine_->Get(req->container());
  if (!rec.ok()) return ToGrpc(rec.status());
  if (auto s = engine_->Remove(rec->id, req->force()); !s.ok()) return ToGrpc(s);
  resp->set_id(rec->id);
  return grpc::Status::OK;
}

grpc::Status ContainersService::List(grpc::ServerContext*, const v1::ListContainersRequest* req,
                                     v1::ListContainersResponse* resp) {
  auto all = engine_->List();
  if (!all.ok()) return ToGrpc(all.status());
  for (const auto& [key, value] : req->filters()) {
    if (key != "status" && key != "name" && key != "label" && key != "id") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("unknown filter \"", key, "\""));
    }
    if (key == "status" && StateOf(value) == v1::CONTAINER_STATE_UNSPECIFIED) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("invalid status filter \"", value,
                                       "\": want created, running, paused, exited or removing"));
    }
  }
  for (const auto& rec : *all) {
    if (!req->all() && rec.state != "running" && rec.state != "paused") continue;
    v1::Container c;
    ToProto(*engine_, rec, &c);
    bool keep = true;
    for (const auto& [key, value] : req->filters()) {
      if (key == "status") keep &= rec.state == value;
      if (key == "name") keep &= absl::StrContains(rec.name, value);
      if (key == "id") keep &= absl::StartsWith(rec.id, value);
      if (key == "label") {
        auto eq = value.find('=');
        const auto& labels = c.spec().labels();
        if (eq == std::string::npos) {
          keep &= labels.contains(value);
        } else {
          auto it = labels.find(value.substr(0, eq));
          keep &= it != labels.end() && it->second == value.substr(eq + 1);
        }
      }
    }
    if (keep) *resp->add_containers() = std::move(c);
  }
  return grpc::Status::OK;
}

grpc::Status ContainersService::Inspect(grpc::ServerContext*,
                                        const v1::InspectContainerRequest* req,
                                        v1::InspectContainerResponse* resp) {
  auto rec = engine_->Get(req->container());
  if (!rec.ok()) return ToGrpc(rec.status());
  ToProto(*engine_, *rec, resp->mutable_container());
  NetworkToProto(*engine_, *rec, resp->mutable_container());
  // Mounts added while running (engine_mounts.cc).
  auto mounts = engine_->ListMounts(rec->id);
  if (!mounts.ok()) return ToGrpc(mounts.status());
  for (auto& m : *mounts) *resp->mutable_container()->add_mounts() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status ContainersService::Wait(grpc::ServerContext* ctx, const v1::WaitContainerRequest* req,
                                     v1::WaitContainerResponse* resp) {
  auto exit = engine_->Wait(req->container(), [ctx] { return ctx->IsCancelled(); });
  if (!exit.ok()) return ToGrpc(exit.status());
  resp->mutable_exit()->set_exit_code(exit->exit_code);
  resp->mutable_exit()->set_signal(exit->signal);
  resp->mutable_exit()->set_oom_killed(exit->oom_killed);
  resp->mutable_exit()->set_error(exit->error);
  return grpc::Status::OK;
}

grpc::Status ContainersService::Logs(grpc::ServerContext* ctx, const v1::LogsRequest* req,
                                     grpc::ServerWriter<v1::LogEntry>* writer) {
  auto rec = engine_->Get(req->container());
  if (!rec.ok()) return ToGrpc(rec.status());
  if (req->tail() < 0)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "tail: must not be negative");
  linux::UniqueFd exit_fd;
  if (req->follow()) {
    auto fd = engine_->ExitNotifier(rec->id);
    if (!fd.ok()) return ToGrpc(fd.status());
    exit_fd = *std::move(fd);
  }
  // --tail keeps the last N entries of what is there now; following goes on from there.
  std::deque<v1::LogEntry> tail;
  bool buffering = req->tail() > 0;
  auto emit = [&](const v1::OutputChunk& chunk, int64_t time) {
    if (time < req->since_unix_nanos()) return true;
    v1::LogEntry entry;
    entry.set_stream(chunk.stream());
    entry.set_data(chunk.data());
    entry.set_time_unix_nanos(time);
    if (!buffering) return writer->Write(entry);
    tail.push_back(std::move(entry));
    if (static_cast<int64_t>(tail.size()) > req->tail()) tail.pop_front();
    return true;
  };
  auto caught_up = [&] {
    buffering = false;
    for (const auto& e : tail) {
      if (!writer->Write(e)) return false;
    }
    return true;
  };
  if (!FollowLog(ctx, rec->id, req->follow(), exit_fd.get(), emit, caught_up)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

grpc::Status ContainersService::Restart(grpc::ServerContext*,
                                        const v1::RestartContainerRequest* req,
                                        v1::RestartContainerResponse*) {
  return ToGrpc(engine_->Restart(req->container(),
                                 req->timeout_seconds() == 0 ? -1 : req->timeout_seconds()));
}

grpc::Status ContainersService::Pause(grpc::ServerContext*, const v1::PauseContainerRequest* req,
                                      v1::PauseContainerResponse*) {
  return ToGrpc(engine_->Pause(req->container()));
}

grpc::Status ContainersService::Unpause(grpc::ServerContext*,
                                        const v1::UnpauseContainerRequest* req,
                                        v1::UnpauseContainerResponse*) {
  return ToGrpc(engine_->Unpause(req->container()));
}

grpc::Status ContainersService::Rename(grpc::ServerContext*, const v1::RenameContainerRequest* req,
                                       v1::RenameContainerResponse*) {
  return ToGrpc(engine_->Rename(req->container(), req->new_name()));
}

grpc::Status ContainersService::Update(grpc::ServerContext*, const v1::UpdateContainerRequest* req,
                                       v1::UpdateContainerResponse*) {
  return ToGrpc(engine_->Update(req->container(), req->resources()));
}

grpc::Status ContainersService::Top(grpc::ServerContext*, const v1::TopRequest* req,
                                    v1::TopResponse* resp) {
  auto procs = engine_->Top(req->container());
  if (!procs.ok()) return ToGrpc(procs.status());
  for (const ProcessInfo& p : *procs) {
    v1::Process* out = resp->add_processes();
    out->set_pid(p.pid);
    out->set_ppid(p.ppid);
    out->set_uid(p.uid);
    out->set_state(p.state);
    out->set_cpu_time_nanos(p.cpu_time_nanos);
    out->set_rss_bytes(p.rss_bytes);
    for (const auto& a : p.args) out->add_args(a);
  }
  return grpc::Status::OK;
}

grpc::Status ContainersService::Stats(grpc::ServerContext* ctx, const v1::StatsRequest* req,
                                      grpc::ServerWriter<v1::StatsResponse>* writer) {
  auto rec = engine_->Get(req->container());
  if (!rec.ok()) return ToGrpc(rec.status());
  linux::UniqueFd exit_fd;
  if (req->stream()) {
    auto fd = engine_->ExitNotifier(rec->id);
    if (!fd.ok()) return ToGrpc(fd.status());
    exit_fd = *std::move(fd);
  }
  for (bool first = true;; first = false) {
    auto stats = engine_->Stats(rec->id);
    if (!stats.ok()) {
      // The container ended while streamed: the stream ends cleanly.
      if (!first && absl::IsFailedPrecondition(stats.status())) return grpc::Status::OK;
      return ToGrpc(stats.status());
    }
    v1::StatsResponse resp;
    resp.set_id(rec->id);
    resp.set_memory_usage_bytes(stats->memory_usage);
    resp.set_memory_peak_bytes(stats->memory_peak);
    resp.set_memory_limit_bytes(stats->memory_limit);
    resp.set_cpu_usage_nanos(stats->cpu_usage);
    resp.set_pids_current(stats->pids_current);
    resp.set_oom_kills(stats->oom_kills);
    if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    if (!req->stream()) return grpc::Status::OK;
    // One sample a second, as docker stats; the container's exit or the client's cancel end it.
    struct pollfd pfd = {exit_fd.get(), POLLIN, 0};
    int n = poll(&pfd, 1, 1000);
    if (n > 0) return grpc::Status::OK;
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
}

grpc::Status ContainersService::Exec(
    grpc::ServerContext* ctx, grpc::ServerReaderWriter<v1::ExecResponse, v1::ExecRequest>* stream) {
  return ServeExec(engine_, ctx, stream);
}
grpc::Status ContainersService::Attach(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>* stream) {
  return ServeAttach(engine_, ctx, stream);
}
grpc::Status ContainersService::AddMount(grpc::ServerContext*, const v1::AddMountRequest* req,
                                         v1::AddMountResponse*) {
  return ToGrpc(engine_->AddMount(req->container(), req->mount()));
}
grpc::Status ContainersService::RemoveMount(grpc::ServerContext*, const v1::RemoveMountRequest* req,
                                            v1::RemoveMountResponse* resp) {
  auto lazy = engine_->RemoveMount(req->container(), req->container_path());
  if (!lazy.ok()) return ToGrpc(lazy.status());
  resp->set_lazy(*lazy);
  return grpc::Status::OK;
}
grpc::Status ContainersService::ListMounts(grpc::ServerContext*, const v1::ListMountsRequest* req,
                                           v1::ListMountsResponse* resp) {
  auto mounts = engine_->ListMounts(req->container());
  if (!mounts.ok()) return ToGrpc(mounts.status());
  for (auto& m : *mounts) *resp->add_mounts() = std::move(m);
  return grpc::Status::OK;
}

}  // namespace kapsel::daemon
