#include "daemon/metrics.h"

#include <cmath>
#include <limits>

#include "daemon/daemon_metrics.h"
#include "daemon/logging.h"
#include "daemon/metrics_server.h"
#include "daemon/systemd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kapsel {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(MetricsTest, Values) {
  EXPECT_EQ(metrics::FormatValue(0), "0");
  EXPECT_EQ(metrics::FormatValue(42), "42");
  EXPECT_EQ(metrics::FormatValue(-3), "-3");
  EXPECT_EQ(metrics::FormatValue(1234567890123), "1234567890123");
  EXPECT_EQ(metrics::FormatValue(0.25), "0.25");
  EXPECT_EQ(metrics::FormatValue(0.1), "0.1");
  EXPECT_EQ(metrics::FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(metrics::FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(metrics::FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(metrics::EscapeLabelValue(R"(a\b"c)"
                                      "\n"
                                      "d"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(metrics::EscapeHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(MetricsTest, CounterAndGaugeText) {
  metrics::TextWriter w;
  w.Family("kapsel_things_total", metrics::Type::kCounter, "Things.\nCounted.");
  w.Sample("kapsel_things_total", {}, 3);
  w.Family("kapsel_containers", metrics::Type::kGauge, "Containers by state.");
  w.Sample("kapsel_containers", {{"state", "running"}}, 2);
  w.Sample("kapsel_container_memory_bytes", {{"id", "abc"}, {"name", "we\"ird\\na\nme"}}, 1024);
  EXPECT_EQ(w.text(),
            "# HELP kapsel_things_total Things.\\nCounted.\n"
            "# TYPE kapsel_things_total counter\n"
            "kapsel_things_total 3\n"
            "# HELP kapsel_containers Containers by state.\n"
            "# TYPE kapsel_containers gauge\n"
            "kapsel_containers{state=\"running\"} 2\n"
            "kapsel_container_memory_bytes{id=\"abc\",name=\"we\\\"ird\\\\na\\nme\"} 1024\n");
}

TEST(MetricsTest, HistogramText) {
  metrics::Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  metrics::TextWriter w;
  w.Family("kapsel_container_start_seconds", metrics::Type::kHistogram, "Start time.");
  w.HistogramSamples("kapsel_container_start_seconds", {}, h.Snap());
  EXPECT_EQ(w.text(),
            "# HELP kapsel_container_start_seconds Start time.\n"
            "# TYPE kapsel_container_start_seconds histogram\n"
            "kapsel_container_start_seconds_bucket{le=\"0.1\"} 2\n"
            "kapsel_container_start_seconds_bucket{le=\"1\"} 3\n"
            "kapsel_container_start_seconds_bucket{le=\"+Inf\"} 4\n"
            "kapsel_container_start_seconds_sum 7.65\n"
            "kapsel_container_start_seconds_count 4\n");
}

TEST(MetricsTest, DaemonCountersFromEvents) {
  daemon::DaemonMetrics m;
  store::EventRecord start;
  start.type = "start";
  store::EventRecord oom;
  oom.type = "oom";
  oom.attributes["kills"] = "3";
  store::EventRecord exit;
  exit.type = "exit";
  m.Count(start);
  m.Count(start);
  m.Count(oom);
  m.Count(exit);
  m.RecordStart(absl::Milliseconds(30), absl::OkStatus());
  m.RecordStart(absl::Seconds(20), absl::InternalError("spawn failed"));
  metrics::TextWriter w;
  m.RenderCounters(&w);
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_starts_total 2\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_start_failures_total 1\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_oom_kills_total 3\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_start_seconds_bucket{le=\"0.05\"} 1\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_start_seconds_bucket{le=\"10\"} 1\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_start_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(w.text(), HasSubstr("\nkapsel_container_start_seconds_count 2\n"));
}

TEST(MetricsHttpTest, Responses) {
  auto render = [] { return std::string("kapsel_up 1\n"); };
  std::string ok = daemon::RespondToHttpRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", render);
  EXPECT_EQ(ok,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 12\r\nConnection: close\r\n\r\nkapsel_up 1\n");
  EXPECT_THAT(daemon::RespondToHttpRequest("GET /metrics?x=1 HTTP/1.0\n\n", render),
              StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(daemon::RespondToHttpRequest("GET / HTTP/1.0\r\n\r\n", render),
              StartsWith("HTTP/1.0 404 Not Found\r\n"));
  std::string post = daemon::RespondToHttpRequest("POST /metrics HTTP/1.0\r\n\r\n", render);
  EXPECT_THAT(post, StartsWith("HTTP/1.0 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET\r\n"));
  for (const char* bad : {"", "GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
                          "GET  /metrics HTTP/1.0\r\n\r\n", "GET metrics HTTP/1.0\r\n\r\n"}) {
    EXPECT_THAT(daemon::RespondToHttpRequest(bad, render), StartsWith("HTTP/1.0 400 Bad Request"))
        << bad;
  }
}

TEST(LoggingTest, JsonRecord) {
  EXPECT_EQ(daemon::logging::FormatJsonRecord("2024-01-02T03:04:05.006Z", "info", "a \"b\"\n",
                                              {{"method", "/kapsel.v1.System/Version"}}),
            R"({"time":"2024-01-02T03:04:05.006Z","level":"info","msg":"a \"b\"\n",)"
            R"("method":"/kapsel.v1.System/Version"})");
}

TEST(SystemdTest, JournalStream) {
  EXPECT_TRUE(daemon::systemd::JournalStreamMatches("8:12345", 8, 12345));
  EXPECT_FALSE(daemon::systemd::JournalStreamMatches("8:12345", 8, 1));
  EXPECT_FALSE(daemon::systemd::JournalStreamMatches(nullptr, 8, 12345));
  EXPECT_FALSE(daemon::systemd::JournalStreamMatches("garbage", 8, 12345));
}

}  // namespace
}  // namespace kapsel
