#include "daemon/log_format.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "daemon/log_reader.h"
#include "gtest/gtest.h"

namespace kapsel::logs {
namespace {

TEST(LogFormatTest, SplitsAtNewlinesAndMarksPartialLines) {
  std::string out;
  const int64_t t = 1796026872123456789;
  FormatChunk(t, Stream::kStdout, "one\ntwo\nthr", &out);
  EXPECT_EQ(out,
            "2026-11-30T08:21:12.123456789Z stdout F one\n"
            "2026-11-30T08:21:12.123456789Z stdout F two\n"
            "2026-11-30T08:21:12.123456789Z stdout P thr\n");
}

TEST(LogFormatTest, RoundTrip) {
  std::string out;
  FormatChunk(1796026872000000001, Stream::kStderr, "a b  c\n", &out);
  Record r;
  ASSERT_TRUE(ParseLine(absl::string_view(out).substr(0, out.size() - 1), &r));
  EXPECT_EQ(r.stream, Stream::kStderr);
  EXPECT_EQ(r.data, "a b  c\n");
  EXPECT_EQ(r.time, 1796026872000000001);
}

TEST(LogFormatTest, RejectsMalformedLines) {
  Record r;
  EXPECT_FALSE(ParseLine("", &r));
  EXPECT_FALSE(ParseLine("not a log line at all, not at all", &r));
  EXPECT_FALSE(ParseLine("2026-11-30T08:21:12.123456789Z stdin F x", &r));
  EXPECT_FALSE(ParseLine("2026-11-30T08:21:12.123456789Z stdout X x", &r));
}

TEST(LogReaderTest, ReadsWholeRecordsAsTheFileGrows) {
  char path[] = "/tmp/kapsel-log-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  LogReader reader(path);
  std::vector<std::string> seen;
  auto collect = [&](const Record& r) { seen.push_back(r.data); };
  std::string text;
  FormatChunk(1, Stream::kStdout, "hello\nwor", &text);
  // Write half a record: the reader must wait for its newline.
  std::string first = text.substr(0, text.size() / 2 + 10);
  ASSERT_EQ(write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
  ASSERT_TRUE(reader.ReadAvailable(collect).ok());
  std::string rest = text.substr(first.size());
  ASSERT_EQ(write(fd, rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ASSERT_TRUE(reader.ReadAvailable(collect).ok());
  close(fd);
  unlink(path);
  EXPECT_EQ(seen, std::vector<std::string>({"hello\n", "wor"}));
}

}  // namespace
}  // namespace kapsel::logs
