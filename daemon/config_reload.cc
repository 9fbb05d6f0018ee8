#include "daemon/config_reload.h"

#include "absl/strings/str_join.h"
#include "daemon/logging.h"
#include "daemon/systemd.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {

void ConfigureLogging(const DaemonSettings& settings) {
  logging::Output output =
      settings.log_format == LogFormat::kJson ? logging::Output::kJson : logging::Output::kText;
  if (systemd::StderrIsJournal()) output = logging::Output::kJournal;
  logging::Configure(output, spdlog::level::from_str(settings.log_level));
}

ConfigReloader::ConfigReloader(std::string config_path, bool config_required,
                               v1::DaemonConfig overrides, v1::DaemonConfig running,
                               DaemonSettings settings, Targets targets)
    : config_path_(std::move(config_path)),
      config_required_(config_required),
      overrides_(std::move(overrides)),
      running_(std::move(running)),
      settings_(std::move(settings)),
      targets_(targets) {}

absl::Status ConfigReloader::StartMetrics() {
  if (!settings_.metrics.has_value()) return absl::OkStatus();
  auto server = NewMetricsServer(*settings_.metrics);
  if (!server.ok()) return server.status();
  metrics_server_ = *std::move(server);
  spdlog::info("metrics on {}", settings_.metrics->text);
  return absl::OkStatus();
}

void ConfigReloader::StopMetrics() { metrics_server_.reset(); }

void ConfigReloader::Reload() {
  v1::DaemonConfig fresh_config;
  auto fresh = LoadSettings(config_path_, config_required_, overrides_, &fresh_config);
  if (!fresh.ok()) {
    spdlog::error("reload: {}; the running configuration stays",
                  std::string(fresh.status().message()));
    return;
  }
  const ReloadPlan plan = PlanReload(running_, fresh_config);
  if (plan.applied.empty() && plan.restart_needed.empty()) {
    spdlog::info("reload: {} unchanged", config_path_);
    return;
  }
  ReloadPlan done;
  for (const std::string& field : plan.applied) {
    if (field == "metrics") {
      if (auto s = SwapMetrics(fresh->metrics); !s.ok()) {
        spdlog::error("reload: metrics: {}; the running endpoint stays", std::string(s.message()));
        continue;
      }
      settings_.metrics = fresh->metrics;
    } else if (field == "log_level" || field == "log_format") {
      settings_.log_level = fresh->log_level;
      settings_.log_format = fresh->log_format;
      ConfigureLogging(settings_);
    } else if (field == "log_rotation") {
      settings_.log_rotation = fresh->log_rotation;
      targets_.engine->SetDefaultLogRotation(settings_.log_rotation);
    } else if (field == "insecure_registries") {
      settings_.insecure_registries = fresh->insecure_registries;
      targets_.images->SetInsecureRegistries(settings_.insecure_registries);
    }
    done.applied.push_back(field);
  }
  ApplyReload(done, fresh_config, &running_);
  if (!done.applied.empty()) {
    spdlog::info("reload: applied {} (log level {})", absl::StrJoin(done.applied, ", "),
                 settings_.log_level);
  }
  for (const std::string& field : plan.restart_needed) {
    spdlog::warn("reload: {} changed; it takes effect when kapseld restarts", field);
  }
}

absl::StatusOr<std::unique_ptr<MetricsServer>> ConfigReloader::NewMetricsServer(
    const ListenAddress& address) {
  return MetricsServer::Start(address, targets_.metrics_gid, [this] {
    return targets_.metrics->Render(targets_.engine, *targets_.bus);
  });
}

absl::Status ConfigReloader::SwapMetrics(const std::optional<ListenAddress>& address) {
  std::unique_ptr<MetricsServer> next;
  if (address.has_value()) {
    auto server = NewMetricsServer(*address);
    if (!server.ok()) return server.status();
    next = *std::move(server);
  }
  metrics_server_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace kapsel::daemon
