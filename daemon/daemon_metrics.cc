#include "daemon/daemon_metrics.h"

#include <map>

#include "absl/strings/numbers.h"
#include "daemon/engine.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

using metrics::Type;

// Seconds: a start takes tens of milliseconds when all is well, seconds when it is not.
const std::vector<double> kStartBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

bool ChangesState(const std::string& type) {
  return type == "start" || type == "exit" || type == "pause" || type == "unpause" ||
         type == "remove" || type == "create";
}

}  // namespace

DaemonMetrics::DaemonMetrics() : start_seconds_(kStartBuckets) {}

DaemonMetrics::~DaemonMetrics() { Stop(); }

void DaemonMetrics::Start(EventBus* bus, std::function<void()> on_state_change) {
  on_state_change_ = std::move(on_state_change);
  thread_ = std::thread([this, bus] { Run(bus); });
}

void DaemonMetrics::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DaemonMetrics::Run(EventBus* bus) {
  auto sub = bus->Subscribe();
  while (!stop_) {
    store::EventRecord e;
    switch (sub->Next(&e, absl::Milliseconds(250))) {
      case Subscription::Result::kEvent:
        Count(e);
        if (on_state_change_ && ChangesState(e.type)) on_state_change_();
        break;
      case Subscription::Result::kTimeout:
        break;
      case Subscription::Result::kOverflow:
        // Events in between are lost to the counters; a new subscription carries on.
        spdlog::warn("metrics: the event subscription fell behind; counters missed events");
        sub = bus->Subscribe();
        if (on_state_change_) on_state_change_();
        break;
      case Subscription::Result::kClosed:
        return;
    }
  }
}

void DaemonMetrics::Count(const store::EventRecord& e) {
  if (e.type == "start") {
    starts_.fetch_add(1);
  } else if (e.type == "oom") {
    uint64_t kills = 1;
    if (auto it = e.attributes.find("kills"); it != e.attributes.end()) {
      if (!absl::SimpleAtoi(it->second, &kills)) kills = 1;
    }
    oom_kills_.fetch_add(kills);
  }
}

void DaemonMetrics::RecordStart(absl::Duration elapsed, const absl::Status& result) {
  start_seconds_.Observe(absl::ToDoubleSeconds(elapsed));
  if (!result.ok()) start_failures_.fetch_add(1);
}

void DaemonMetrics::RenderCounters(metrics::TextWriter* out) const {
  out->Family("kapsel_container_starts_total", Type::kCounter, "Containers started.");
  out->Sample("kapsel_container_starts_total", {}, static_cast<double>(starts_.load()));
  out->Family("kapsel_container_start_failures_total", Type::kCounter,
              "Container starts that failed.");
  out->Sample("kapsel_container_start_failures_total", {},
              static_cast<double>(start_failures_.load()));
  out->Family("kapsel_container_start_seconds", Type::kHistogram,
              "Time to start a container, from the request to its process running.");
  out->HistogramSamples("kapsel_container_start_seconds", {}, start_seconds_.Snap());
  out->Family("kapsel_oom_kills_total", Type::kCounter,
              "Processes in containers killed by the OOM killer.");
  out->Sample("kapsel_oom_kills_total", {}, static_cast<double>(oom_kills_.load()));
}

std::string DaemonMetrics::Render(Engine* engine, const EventBus& bus) {
  metrics::TextWriter out;
  RenderCounters(&out);
  out.Family("kapsel_events_dropped_total", Type::kCounter,
             "Event subscribers cut off because they fell behind.");
  out.Sample("kapsel_events_dropped_total", {}, static_cast<double>(bus.dropped_subscribers()));

  auto containers = engine->List();
  if (!containers.ok()) {
    spdlog::warn("metrics: list containers: {}", std::string(containers.status().message()));
  }
  std::map<std::string, int> states = {
      {"created", 0}, {"running", 0}, {"paused", 0}, {"exited", 0}};
  if (containers.ok()) {
    for (const auto& c : *containers) {
      if (auto it = states.find(c.state); it != states.end()) ++it->second;
    }
  }
  out.Family("kapsel_containers", Type::kGauge, "Containers by state.");
  for (const auto& [state, n] : states) out.Sample("kapsel_containers", {{"state", state}}, n);

  struct Row {
    metrics::Labels labels;
    runtime::cgroups::Stats stats;
  };
  std::vector<Row> rows;
  if (containers.ok()) {
    for (const auto& c : *containers) {
      if (c.state != "running" && c.state != "paused") continue;
      auto stats = engine->Stats(c.id);
      if (!stats.ok()) continue;  // exited in the meantime
      rows.push_back({{{"id", c.id}, {"name", c.name}}, *stats});
    }
  }
  out.Family("kapsel_container_cpu_seconds_total", Type::kCounter,
             "CPU time used by a running container's processes.");
  for (const Row& r : rows) {
    out.Sample("kapsel_container_cpu_seconds_total", r.labels,
               static_cast<double>(r.stats.cpu_usage) / 1e9);
  }
  out.Family("kapsel_container_memory_bytes", Type::kGauge,
             "Memory used by a running container (its cgroup's usage).");
  for (const Row& r : rows) {
    out.Sample("kapsel_container_memory_bytes", r.labels,
               static_cast<double>(r.stats.memory_usage));
  }
  out.Family("kapsel_container_pids", Type::kGauge, "Processes in a running container.");
  for (const Row& r : rows) {
    out.Sample("kapsel_container_pids", r.labels, static_cast<double>(r.stats.pids_current));
  }

  auto bytes = engine->images()->LayerBytes();
  if (bytes.ok()) {
    out.Family("kapsel_image_store_bytes", Type::kGauge,
               "Bytes of unpacked image layers, shared layers counted once.");
    out.Sample("kapsel_image_store_bytes", {}, static_cast<double>(*bytes));
  } else {
    spdlog::warn("metrics: image store size: {}", std::string(bytes.status().message()));
  }
  return out.text();
}

}  // namespace kapsel::daemon
