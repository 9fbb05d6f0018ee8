#pragma once

// The parts of kapseld's configuration that change while it runs: log output, and what a SIGHUP
// reload applies (log level and format, default log rotation, insecure registries, the metrics
// endpoint). Fields that need a restart are logged as such and keep their running values.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "daemon/config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/engine.h"
#include "daemon/event_bus.h"
#include "daemon/metrics_server.h"
#include "daemon/services/images_service.h"
#include "kapsel/v1/config.pb.h"

namespace kapsel::daemon {

// Sends log records where `settings` says: the journal when stderr is the journal, else text or
// JSON lines on stderr, at the configured level.
void ConfigureLogging(const DaemonSettings& settings);

// Owns the metrics endpoint. Used by the main thread only (start-up and SIGHUP); the pointers
// must outlive it.
class ConfigReloader {
 public:
  struct Targets {
    Engine* engine;
    ImagesService* images;
    EventBus* bus;
    DaemonMetrics* metrics;
    gid_t metrics_gid;  // group of a Unix metrics socket
  };
  // `running` is the normalized configuration the daemon started with (LoadSettings);
  // `overrides` the command-line flags, laid over the file again at each reload.
  ConfigReloader(std::string config_path, bool config_required, v1::DaemonConfig overrides,
                 v1::DaemonConfig running, DaemonSettings settings, Targets targets);

  // Serves the metrics endpoint of the running configuration, if it has one.
  absl::Status StartMetrics();
  void StopMetrics();
  // Re-reads the file. A file that does not load or check out changes nothing.
  void Reload();

 private:
  absl::StatusOr<std::unique_ptr<MetricsServer>> NewMetricsServer(const ListenAddress& address);
  // Binds the new endpoint before dropping the old one, so a failure keeps the old one.
  absl::Status SwapMetrics(const std::optional<ListenAddress>& address);

  const std::string config_path_;
  const bool config_required_;
  const v1::DaemonConfig overrides_;
  v1::DaemonConfig running_;
  DaemonSettings settings_;
  const Targets targets_;
  std::unique_ptr<MetricsServer> metrics_server_;
};

}  // namespace kapsel::daemon
