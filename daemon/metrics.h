#pragma once

// The Prometheus text exposition format (version 0.0.4): families with # HELP and # TYPE lines,
// samples with escaped label values, histograms with cumulative le buckets, _sum and _count.
// https://prometheus.io/docs/instrumenting/exposition_formats/
//
// Histogram is thread-safe; TextWriter is thread-compatible (one per scrape).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kapsel::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Label values: backslash, double quote and line feed escaped as \\, \" and \n.
std::string EscapeLabelValue(absl::string_view value);
// HELP text: backslash and line feed escaped.
std::string EscapeHelp(absl::string_view help);
// Integers without a fraction or exponent, +Inf, -Inf, NaN, otherwise the shortest text that
// reads back as the same double.
std::string FormatValue(double value);

class Histogram {
 public:
  // `upper_bounds` ascending; the +Inf bucket is implied.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> buckets_ ABSL_GUARDED_BY(mu_);  // non-cumulative, +Inf last
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

class TextWriter {
 public:
  // Starts a family: # HELP and # TYPE. Its samples follow.
  void Family(absl::string_view name, Type type, absl::string_view help);
  // name{label="value",...} value
  void Sample(absl::string_view name, const Labels& labels, double value);
  // <name>_bucket{...,le="..."} for each bound and +Inf, <name>_sum, <name>_count.
  void HistogramSamples(absl::string_view name, const Labels& labels,
                        const Histogram::Snapshot& snapshot);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace kapsel::metrics
