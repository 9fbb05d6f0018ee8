// Drives kapseld's gRPC API directly, without kapselctl, to separate the CLI's cost from the
// engine's: the C++ half of tests/bench/run.sh. Each mode prints one JSON object on stdout;
// times are milliseconds of wall clock (CLOCK_MONOTONIC), taken after the channel is connected.
//
// usage: lifecycle_bench --socket PATH --image REF MODE [--iterations N] [--clients C]
//                        [--containers M] [--network none|bridge] [--userns VALUE]
//   lifecycle    N x (create, start, wait, remove) of `true`; per-phase and total times
//   throughput   C clients (one channel each) run N lifecycles each; containers per second
//   exec         one running container, N x Exec of `true` into it
//   list         M created containers in the store, N x List(all)
//   events       N x: a running `sleep`, SIGKILL through its pidfd, time from the pidfd
//                reporting the exit to an Events subscriber receiving the exit event
//   start-many   M running `sleep` containers, left running; prints their ids
//   remove-all   force-removes every container of the daemon
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kapsel/v1/containers.grpc.pb.h"
#include "kapsel/v1/events.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Options {
  std::string socket;
  std::string image = "busybox";
  std::string mode;
  std::string network = "none";
  std::string userns;  // run --userns: host, remap:USER; empty: the daemon's default
  int iterations = 20;
  int clients = 1;
  int containers = 100;
};

[[noreturn]] void Die(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "lifecycle_bench: %s: %s\n", what.c_str(), status.error_message().c_str());
  std::exit(1);
}

std::shared_ptr<grpc::Channel> Connect(const Options& options) {
  auto channel =
      grpc::CreateChannel("unix://" + options.socket, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "lifecycle_bench: cannot connect to %s\n", options.socket.c_str());
    std::exit(1);
  }
  return channel;
}

kapsel::v1::ContainerSpec Spec(const Options& options, std::vector<std::string> cmd) {
  kapsel::v1::ContainerSpec spec;
  spec.set_image(options.image);
  spec.set_network_mode(options.network);
  spec.set_userns(options.userns);
  for (auto& arg : cmd) spec.add_cmd(std::move(arg));
  return spec;
}

std::string Create(kapsel::v1::Containers::Stub* stub, const kapsel::v1::ContainerSpec& spec) {
  kapsel::v1::CreateContainerRequest request;
  *request.mutable_spec() = spec;
  kapsel::v1::CreateContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Create(&call, request, &response);
  if (!status.ok()) Die("create", status);
  return response.id();
}

void Start(kapsel::v1::Containers::Stub* stub, const std::string& id) {
  kapsel::v1::StartContainerRequest request;
  request.set_container(id);
  kapsel::v1::StartContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Start(&call, request, &response);
  if (!status.ok()) Die("start", status);
}

void Wait(kapsel::v1::Containers::Stub* stub, const std::string& id) {
  kapsel::v1::WaitContainerRequest request;
  request.set_container(id);
  kapsel::v1::WaitContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Wait(&call, request, &response);
  if (!status.ok()) Die("wait", status);
}

void Remove(kapsel::v1::Containers::Stub* stub, const std::string& id, bool force) {
  kapsel::v1::RemoveContainerRequest request;
  request.set_container(id);
  request.set_force(force);
  kapsel::v1::RemoveContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Remove(&call, request, &response);
  if (!status.ok()) Die("remove", status);
}

int PidOf(kapsel::v1::Containers::Stub* stub, const std::string& id) {
  kapsel::v1::InspectContainerRequest request;
  request.set_container(id);
  kapsel::v1::InspectContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Inspect(&call, request, &response);
  if (!status.ok()) Die("inspect", status);
  return response.container().status().pid();
}

std::string JsonList(const std::vector<double>& values) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%.3f", i ? "," : "", values[i]);
    out += buf;
  }
  return out + "]";
}

int Lifecycle(const Options& options) {
  auto stub = kapsel::v1::Containers::NewStub(Connect(options));
  kapsel::v1::ContainerSpec spec = Spec(options, {"true"});
  std::vector<double> create, start, wait, remove, total;
  for (int i = 0; i < options.iterations; ++i) {
    auto t0 = Clock::now();
    std::string id = Create(stub.get(), spec);
    create.push_back(MsSince(t0));
    auto t1 = Clock::now();
    Start(stub.get(), id);
    start.push_back(MsSince(t1));
    auto t2 = Clock::now();
    Wait(stub.get(), id);
    wait.push_back(MsSince(t2));
    auto t3 = Clock::now();
    Remove(stub.get(), id, false);
    remove.push_back(MsSince(t3));
    total.push_back(MsSince(t0));
  }
  std::printf(
      "{\"mode\":\"lifecycle\",\"network\":\"%s\",\"userns\":\"%s\",\"create_ms\":%s,"
      "\"start_ms\":%s,\"wait_ms\":%s,\"remove_ms\":%s,\"total_ms\":%s}\n",
      options.network.c_str(), options.userns.c_str(), JsonList(create).c_str(),
      JsonList(start).c_str(), JsonList(wait).c_str(), JsonList(remove).c_str(),
      JsonList(total).c_str());
  return 0;
}

int Throughput(const Options& options) {
  std::vector<std::unique_ptr<kapsel::v1::Containers::Stub>> stubs;
  for (int c = 0; c < options.clients; ++c) {
    stubs.push_back(kapsel::v1::Containers::NewStub(Connect(options)));
  }
  kapsel::v1::ContainerSpec spec = Spec(options, {"true"});
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < options.iterations; ++i) {
        std::string id = Create(stubs[c].get(), spec);
        Start(stubs[c].get(), id);
        Wait(stubs[c].get(), id);
        Remove(stubs[c].get(), id, false);
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = MsSince(t0) / 1000;
  int done = options.clients * options.iterations;
  std::printf(
      "{\"mode\":\"throughput\",\"clients\":%d,\"containers\":%d,\"seconds\":%.3f,"
      "\"per_second\":%.2f}\n",
      options.clients, done, seconds, done / seconds);
  return 0;
}

int Exec(const Options& options) {
  auto stub = kapsel::v1::Containers::NewStub(Connect(options));
  std::string id = Create(stub.get(), Spec(options, {"sleep", "3600"}));
  Start(stub.get(), id);
  std::vector<double> times;
  for (int i = 0; i < options.iterations; ++i) {
    auto t0 = Clock::now();
    grpc::ClientContext call;
    auto stream = stub->Exec(&call);
    kapsel::v1::ExecRequest request;
    request.mutable_spec()->set_container(id);
    request.mutable_spec()->add_cmd("true");
    stream->Write(request);
    stream->WritesDone();
    kapsel::v1::ExecResponse response;
    bool exited = false;
    while (stream->Read(&response)) {
      if (response.has_exit()) exited = true;
    }
    grpc::Status status = stream->Finish();
    if (!status.ok()) Die("exec", status);
    if (!exited) Die("exec", grpc::Status(grpc::StatusCode::INTERNAL, "no exit status"));
    times.push_back(MsSince(t0));
  }
  Remove(stub.get(), id, true);
  std::printf("{\"mode\":\"exec\",\"exec_ms\":%s}\n", JsonList(times).c_str());
  return 0;
}

int List(const Options& options) {
  auto stub = kapsel::v1::Containers::NewStub(Connect(options));
  kapsel::v1::ContainerSpec spec = Spec(options, {"true"});
  std::vector<std::string> ids;
  auto c0 = Clock::now();
  for (int i = 0; i < options.containers; ++i) ids.push_back(Create(stub.get(), spec));
  double create_seconds = MsSince(c0) / 1000;
  std::vector<double> times;
  int listed = 0;
  for (int i = 0; i < options.iterations; ++i) {
    kapsel::v1::ListContainersRequest request;
    request.set_all(true);
    kapsel::v1::ListContainersResponse response;
    grpc::ClientContext call;
    auto t0 = Clock::now();
    grpc::Status status = stub->List(&call, request, &response);
    times.push_back(MsSince(t0));
    if (!status.ok()) Die("list", status);
    listed = response.containers_size();
  }
  for (const std::string& id : ids) Remove(stub.get(), id, true);
  std::printf(
      "{\"mode\":\"list\",\"containers\":%d,\"listed\":%d,\"create_seconds\":%.3f,"
      "\"list_ms\":%s}\n",
      options.containers, listed, create_seconds, JsonList(times).c_str());
  return 0;
}

int Events(const Options& options) {
  auto channel = Connect(options);
  auto stub = kapsel::v1::Containers::NewStub(channel);
  auto events = kapsel::v1::Events::NewStub(channel);

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Clock::time_point> received;  // container id -> exit event seen
  grpc::ClientContext subscribe_call;
  kapsel::v1::SubscribeRequest subscribe;
  subscribe.add_types("exit");
  auto reader = events->Subscribe(&subscribe_call, subscribe);
  std::thread subscriber([&] {
    kapsel::v1::Event event;
    while (reader->Read(&event)) {
      auto now = Clock::now();
      std::lock_guard<std::mutex> lock(mu);
      received.emplace(event.container_id(), now);
      cv.notify_all();
    }
  });

  std::vector<double> times;
  for (int i = 0; i < options.iterations; ++i) {
    std::string id = Create(stub.get(), Spec(options, {"sleep", "3600"}));
    Start(stub.get(), id);
    int pid = PidOf(stub.get(), id);
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      std::perror("lifecycle_bench: pidfd_open");
      return 1;
    }
    if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) != 0) {
      std::perror("lifecycle_bench: pidfd_send_signal");
      return 1;
    }
    pollfd pfd{.fd = pidfd, .events = POLLIN, .revents = 0};
    poll(&pfd, 1, 10000);
    auto exited = Clock::now();
    close(pidfd);
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return received.count(id) > 0; })) {
      std::fprintf(stderr, "lifecycle_bench: no exit event for %s\n", id.c_str());
      return 1;
    }
    times.push_back(std::chrono::duration<double, std::milli>(received[id] - exited).count());
    lock.unlock();
    Remove(stub.get(), id, true);
  }
  subscribe_call.TryCancel();
  subscriber.join();
  std::printf("{\"mode\":\"events\",\"event_ms\":%s}\n", JsonList(times).c_str());
  return 0;
}

int StartMany(const Options& options) {
  auto stub = kapsel::v1::Containers::NewStub(Connect(options));
  kapsel::v1::ContainerSpec spec = Spec(options, {"sleep", "3600"});
  for (int i = 0; i < options.containers; ++i) {
    std::string id = Create(stub.get(), spec);
    Start(stub.get(), id);
    std::printf("%s\n", id.c_str());
  }
  return 0;
}

int RemoveAll(const Options& options) {
  auto stub = kapsel::v1::Containers::NewStub(Connect(options));
  kapsel::v1::ListContainersRequest request;
  request.set_all(true);
  kapsel::v1::ListContainersResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->List(&call, request, &response);
  if (!status.ok()) Die("list", status);
  for (const auto& container : response.containers()) Remove(stub.get(), container.id(), true);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lifecycle_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--socket") {
      options.socket = value();
    } else if (arg == "--image") {
      options.image = value();
    } else if (arg == "--network") {
      options.network = value();
    } else if (arg == "--userns") {
      options.userns = value();
    } else if (arg == "--iterations") {
      options.iterations = std::atoi(value().c_str());
    } else if (arg == "--clients") {
      options.clients = std::atoi(value().c_str());
    } else if (arg == "--containers") {
      options.containers = std::atoi(value().c_str());
    } else if (!arg.empty() && arg[0] != '-' && options.mode.empty()) {
      options.mode = arg;
    } else {
      std::fprintf(stderr, "lifecycle_bench: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (options.socket.empty() || options.mode.empty()) {
    std::fprintf(stderr,
                 "usage: lifecycle_bench --socket PATH --image REF "
                 "lifecycle|throughput|exec|list|events|start-many|remove-all [--iterations N] "
                 "[--clients C] [--containers M] [--network none|bridge] [--userns VALUE]\n");
    return 2;
  }
  if (options.mode == "lifecycle") return Lifecycle(options);
  if (options.mode == "throughput") return Throughput(options);
  if (options.mode == "exec") return Exec(options);
  if (options.mode == "list") return List(options);
  if (options.mode == "events") return Events(options);
  if (options.mode == "start-many") return StartMany(options);
  if (options.mode == "remove-all") return RemoveAll(options);
  std::fprintf(stderr, "lifecycle_bench: unknown mode %s\n", options.mode.c_str());
  return 2;
}
