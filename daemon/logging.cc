#include "daemon/logging.h"

#include <stdio.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>

#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

#ifndef SD_JOURNAL_SUPPRESS_LOCATION
#define SD_JOURNAL_SUPPRESS_LOCATION
#endif
#include <systemd/sd-journal.h>

namespace kapsel::daemon::logging {
namespace {

thread_local Fields request_fields;

std::string Rfc3339(spdlog::log_clock::time_point tp) {
  const auto since = tp.time_since_epoch();
  const time_t secs = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  const int millis =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

// One sink whose output can be switched; base_sink's mutex serializes records and switches.
class KapseldSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  KapseldSink() { set_pattern_("%Y-%m-%dT%H:%M:%S.%e %l %v"); }
  void SetOutput(Output output) {
    std::lock_guard<std::mutex> lock(mutex_);
    output_ = output;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    switch (output_) {
      case Output::kText: {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        fwrite(formatted.data(), 1, formatted.size(), stderr);
        break;
      }
      case Output::kJson: {
        const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
        std::string line =
            FormatJsonRecord(Rfc3339(msg.time), absl::string_view(level.data(), level.size()),
                             payload, request_fields);
        line.push_back('\n');
        fwrite(line.data(), 1, line.size(), stderr);
        break;
      }
      case Output::kJournal:
        SendToJournal(msg.level, payload);
        break;
    }
  }
  void flush_() override { fflush(stderr); }

 private:
  static void SendToJournal(spdlog::level::level_enum level, absl::string_view payload) {
    std::vector<std::string> entries = {
        absl::StrCat("MESSAGE=", payload),
        absl::StrCat("PRIORITY=", SyslogPriority(level)),
        "SYSLOG_IDENTIFIER=kapseld",
    };
    for (const auto& [key, value] : request_fields) {
      entries.push_back(absl::StrCat("KAPSEL_", absl::AsciiStrToUpper(key), "=", value));
    }
    std::vector<struct iovec> iov;
    for (std::string& e : entries) iov.push_back({e.data(), e.size()});
    // On failure there is nowhere better to report it; the record is lost.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }

  Output output_ = Output::kText;
};

std::mutex configure_mu;
std::shared_ptr<KapseldSink> installed;

}  // namespace

void Configure(Output output, spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> lock(configure_mu);
  if (installed == nullptr) {
    installed = std::make_shared<KapseldSink>();
    auto logger = std::make_shared<spdlog::logger>("kapseld", installed);
    spdlog::set_default_logger(logger);
  }
  installed->SetOutput(output);
  spdlog::set_level(level);
  // Errors reach the terminal or the journal at once; the rest is flushed per record as well,
  // since stderr may be a pipe read by a supervisor.
  spdlog::flush_on(spdlog::level::trace);
}

void SetRequestFields(Fields fields) { request_fields = std::move(fields); }

void ClearRequestFields() { request_fields.clear(); }

std::string FormatJsonRecord(const std::string& time, absl::string_view level,
                             absl::string_view msg, const Fields& fields) {
  nlohmann::ordered_json j;
  j["time"] = time;
  j["level"] = std::string(level);
  // Invalid UTF-8 (a file name, a process' output) must not make the record unprintable.
  j["msg"] = std::string(msg);
  for (const auto& [key, value] : fields) {
    if (key != "time" && key != "level" && key != "msg") j[key] = value;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kapsel::daemon::logging
