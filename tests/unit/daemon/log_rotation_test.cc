#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon/log_format.h"
#include "daemon/log_options.h"
#include "daemon/log_reader.h"
#include "daemon/log_writer.h"
#include "gtest/gtest.h"

namespace kapsel::logs {
namespace {

class LogRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kapsel-log-rotation-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/container.log";
  }
  void TearDown() override {
    for (const std::string& name : Files()) unlink((dir_ + "/" + name).c_str());
    rmdir(dir_.c_str());
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  int64_t SizeOf(const std::string& name) const {
    struct stat st;
    return stat((dir_ + "/" + name).c_str(), &st) == 0 ? st.st_size : -1;
  }

  // Line i as one record.
  static std::string Line(int i) {
    std::string out;
    FormatChunk(1796026872000000000 + i, Stream::kStdout, absl::StrCat("line ", i, "\n"), &out);
    return out;
  }
  static std::vector<int> Numbers(const std::vector<std::string>& data) {
    std::vector<int> numbers;
    for (const std::string& d : data) {
      int n = 0;
      EXPECT_TRUE(absl::SimpleAtoi(absl::StripSuffix(absl::StripPrefix(d, "line "), "\n"), &n))
          << d;
      numbers.push_back(n);
    }
    return numbers;
  }
  static std::vector<int> Range(int from, int to) {
    std::vector<int> v;
    for (int i = from; i <= to; ++i) v.push_back(i);
    return v;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(LogRotationTest, RotatesBySizeAndKeepsAtMostMaxFiles) {
  const int64_t record_size = static_cast<int64_t>(Line(100).size());
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 3});
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 100; i < 1100; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  EXPECT_EQ(Files(),
            std::vector<std::string>({"container.log", "container.log.1", "container.log.2"}));
  for (const std::string& name : Files()) {
    EXPECT_LE(SizeOf(name), 4096) << name;
    // Rotated files are full: another record would not have fitted.
    if (name != "container.log") {
      EXPECT_GT(SizeOf(name) + record_size, 4096) << name;
    }
  }
  // What is kept is the newest records, in order, without gaps.
  LogReader reader(path_);
  std::vector<std::string> seen;
  ASSERT_TRUE(reader.ReadAvailable([&](const Record& r) { seen.push_back(r.data); }).ok());
  std::vector<int> numbers = Numbers(seen);
  ASSERT_FALSE(numbers.empty());
  EXPECT_EQ(numbers, Range(numbers.front(), 1099));
  EXPECT_GT(numbers.size(), 2u * 4096 / static_cast<size_t>(record_size));
}

TEST_F(LogRotationTest, NeverSplitsARecordAcrossFiles) {
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 10});
  ASSERT_TRUE(writer.ok()) << writer.status();
  // Many records in one Append, as the shim gets them from one read of a pipe.
  std::string chunk;
  for (int i = 0; i < 300; ++i) chunk += Line(i);
  ASSERT_TRUE(writer->Append(chunk).ok());
  LogReader reader(path_);
  std::vector<std::string> seen;
  ASSERT_TRUE(reader.ReadAvailable([&](const Record& r) { seen.push_back(r.data); }).ok());
  EXPECT_EQ(Numbers(seen), Range(0, 299));
  for (const std::string& name : Files()) EXPECT_LE(SizeOf(name), 4096) << name;
}

TEST_F(LogRotationTest, ARecordLargerThanMaxSizeGetsAFileOfItsOwn) {
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 3});
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::string big;
  FormatChunk(1, Stream::kStderr, std::string(10000, 'x'), &big);
  ASSERT_TRUE(writer->Append(Line(1)).ok());
  ASSERT_TRUE(writer->Append(big).ok());
  ASSERT_TRUE(writer->Append(Line(2)).ok());
  EXPECT_EQ(SizeOf("container.log.2"), static_cast<int64_t>(Line(1).size()));
  EXPECT_EQ(SizeOf("container.log.1"), static_cast<int64_t>(big.size()));
  EXPECT_EQ(SizeOf("container.log"), static_cast<int64_t>(Line(2).size()));
}

TEST_F(LogRotationTest, OneFileMeansTheCurrentOneOnly) {
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 1});
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  EXPECT_EQ(Files(), std::vector<std::string>({"container.log"}));
  EXPECT_LE(SizeOf("container.log"), 4096);
}

TEST_F(LogRotationTest, OpenContinuesTheFileAndDropsFilesBeyondMaxFiles) {
  {
    auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 5});
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int i = 0; i < 400; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  }
  ASSERT_EQ(Files().size(), 5u);
  const int64_t size = SizeOf("container.log");
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 2});
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ(writer->size(), size);
  EXPECT_EQ(Files(), std::vector<std::string>({"container.log", "container.log.1"}));
}

TEST_F(LogRotationTest, NoRotationWithoutAMaxSize) {
  auto writer = LogWriter::Open(path_, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  EXPECT_EQ(Files(), std::vector<std::string>({"container.log"}));
}

TEST_F(LogRotationTest, AFollowingReaderSeesEveryRecordOnceThroughRotations) {
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 3});
  ASSERT_TRUE(writer.ok()) << writer.status();
  LogReader reader(path_);
  std::vector<std::string> seen;
  auto collect = [&](const Record& r) { seen.push_back(r.data); };
  ASSERT_TRUE(reader.ReadAvailable(collect).ok());  // nothing yet
  int next = 0;
  // Batches of different sizes: some stay within a file, some cross one or two rotations.
  for (int batch : {1, 7, 60, 3, 120, 1, 90, 50, 50, 50, 110}) {
    for (int i = 0; i < batch; ++i) ASSERT_TRUE(writer->Append(Line(next++)).ok());
    ASSERT_TRUE(reader.ReadAvailable(collect).ok());
  }
  EXPECT_EQ(Numbers(seen), Range(0, next - 1));
}

TEST_F(LogRotationTest, AReaderOutrunByRotationSkipsButNeverRepeats) {
  auto writer = LogWriter::Open(path_, {.max_size_bytes = 4096, .max_files = 2});
  ASSERT_TRUE(writer.ok()) << writer.status();
  LogReader reader(path_);
  std::vector<std::string> seen;
  auto collect = [&](const Record& r) { seen.push_back(r.data); };
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  ASSERT_TRUE(reader.ReadAvailable(collect).ok());
  // Far more than two files' worth before the reader looks again.
  for (int i = 10; i < 1000; ++i) ASSERT_TRUE(writer->Append(Line(i)).ok());
  ASSERT_TRUE(reader.ReadAvailable(collect).ok());
  std::vector<int> numbers = Numbers(seen);
  ASSERT_GE(numbers.size(), 10u);
  EXPECT_EQ(std::vector<int>(numbers.begin(), numbers.begin() + 10), Range(0, 9));
  EXPECT_EQ(numbers.back(), 999);
  for (size_t i = 1; i < numbers.size(); ++i) EXPECT_LT(numbers[i - 1], numbers[i]);
  // The kept files are read whole: after the jump there is no gap.
  auto jump =
      std::adjacent_find(numbers.begin(), numbers.end(), [](int a, int b) { return b != a + 1; });
  if (jump != numbers.end()) {
    EXPECT_EQ(std::vector<int>(jump + 1, numbers.end()), Range(*(jump + 1), 999));
  }
}

TEST(LogOptionsTest, ValidatesSetValues) {
  v1::LogOptions options;
  EXPECT_TRUE(daemon::ValidateLogOptions(options).ok());
  options.set_max_size_bytes(4095);
  absl::Status s = daemon::ValidateLogOptions(options);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("max-size"), absl::string_view::npos) << s;
  options.set_max_size_bytes(4096);
  EXPECT_TRUE(daemon::ValidateLogOptions(options).ok());
  options.set_max_files(-1);
  s = daemon::ValidateLogOptions(options);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("max-file"), absl::string_view::npos) << s;
}

TEST(LogOptionsTest, UnsetValuesTakeTheDefaults) {
  const RotationOptions defaults{.max_size_bytes = 20 << 20, .max_files = 5};
  v1::LogOptions options;
  RotationOptions r = daemon::EffectiveLogRotation(options, defaults);
  EXPECT_EQ(r.max_size_bytes, 20 << 20);
  EXPECT_EQ(r.max_files, 5);
  options.set_max_files(2);
  r = daemon::EffectiveLogRotation(options, defaults);
  EXPECT_EQ(r.max_size_bytes, 20 << 20);
  EXPECT_EQ(r.max_files, 2);
  options.set_max_size_bytes(8192);
  r = daemon::EffectiveLogRotation(options, defaults);
  EXPECT_EQ(r.max_size_bytes, 8192);
}

}  // namespace
}  // namespace kapsel::logs
