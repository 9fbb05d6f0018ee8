#pragma once

// kapseld's metrics, in the Prometheus text format (metrics.h):
//   counters fed from the event bus: kapsel_container_starts_total, kapsel_oom_kills_total;
//   start latency and failures reported by the engine (EngineOptions::start_observer):
//     kapsel_container_start_seconds, kapsel_container_start_failures_total;
//   read at scrape time: kapsel_containers{state}, kapsel_events_dropped_total,
//     kapsel_image_store_bytes, and per running container (cgroup stats)
//     kapsel_container_cpu_seconds_total, kapsel_container_memory_bytes, kapsel_container_pids.
// Counters count from the start of this kapseld.
//
// Thread-safe. The event thread also tells `on_state_change` when a container started, exited,
// paused, resumed or went away (kapseld's systemd STATUS= line).

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "daemon/event_bus.h"
#include "daemon/metrics.h"

namespace kapsel::daemon {

class Engine;

class DaemonMetrics {
 public:
  DaemonMetrics();
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  // Subscribes to `bus` and counts its events on a thread of its own until Stop (or until the
  // bus closes). `on_state_change` may be empty; it runs on that thread.
  void Start(EventBus* bus, std::function<void()> on_state_change);
  void Stop();

  // One event, as the thread sees it (public for tests).
  void Count(const store::EventRecord& event);
  // One attempt to start a container.
  void RecordStart(absl::Duration elapsed, const absl::Status& result);

  // The exposition text: this object's counters and what `engine` and `bus` report now.
  std::string Render(Engine* engine, const EventBus& bus);
  // The counters and the histogram only (tests).
  void RenderCounters(metrics::TextWriter* out) const;

 private:
  void Run(EventBus* bus);

  std::atomic<uint64_t> starts_{0};
  std::atomic<uint64_t> start_failures_{0};
  std::atomic<uint64_t> oom_kills_{0};
  metrics::Histogram start_seconds_;

  std::function<void()> on_state_change_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kapsel::daemon
