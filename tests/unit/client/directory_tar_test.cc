// WriteDirectoryTar: what `kapselctl load -i DIR` streams, read back with libarchive.

#include "client/directory_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

struct TarEntry {
  mode_t type = 0;
  std::string data;     // regular files
  std::string symlink;  // symlinks
};

std::map<std::string, TarEntry> ReadTar(const std::string& bytes) {
  std::map<std::string, TarEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  struct archive_entry* entry = nullptr;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    TarEntry e;
    e.type = archive_entry_filetype(entry);
    if (const char* link = archive_entry_symlink(entry)) e.symlink = link;
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) e.data.append(buf, n);
    out[archive_entry_pathname(entry)] = e;
  }
  archive_read_free(a);
  return out;
}

class DirectoryTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/directory-tar-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/layout/blobs/sha256");
    std::ofstream(dir_ + "/layout/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    std::ofstream(dir_ + "/layout/blobs/sha256/aa") << "blob bytes";
    std::ofstream(dir_ + "/outside") << "secret";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::Status Write(std::string* out) {
    return WriteDirectoryTar(dir_ + "/layout", [out](absl::string_view piece) {
      out->append(piece.data(), piece.size());
      return absl::OkStatus();
    });
  }

  std::string dir_;
};

TEST_F(DirectoryTarTest, WritesFilesDirectoriesAndInnerSymlinks) {
  std::filesystem::create_symlink("aa", dir_ + "/layout/blobs/sha256/bb");
  std::string bytes;
  absl::Status status = Write(&bytes);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(bytes.size() % 512, 0u);
  std::map<std::string, TarEntry> entries = ReadTar(bytes);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries["oci-layout"].type, AE_IFREG);
  EXPECT_EQ(entries["oci-layout"].data, R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(entries["blobs/"].type, AE_IFDIR);
  EXPECT_EQ(entries["blobs/sha256/"].type, AE_IFDIR);
  EXPECT_EQ(entries["blobs/sha256/aa"].data, "blob bytes");
  EXPECT_EQ(entries["blobs/sha256/bb"].type, AE_IFLNK);
  EXPECT_EQ(entries["blobs/sha256/bb"].symlink, "/blobs/sha256/aa");
}

TEST_F(DirectoryTarTest, RefusesSymlinksOutDanglingAndSpecialFiles) {
  std::string link = dir_ + "/layout/blobs/sha256/bb";
  for (const std::string& target : {dir_ + "/outside", std::string("../../../outside")}) {
    std::filesystem::create_symlink(target, link);
    std::string bytes;
    absl::Status status = Write(&bytes);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_NE(
        status.message().find("symlink blobs/sha256/bb -> " + target + " leaves the directory"),
        std::string::npos)
        << status;
    EXPECT_TRUE(bytes.empty());
    std::filesystem::remove(link);
  }
  std::filesystem::create_symlink("nowhere", link);
  std::string bytes;
  absl::Status status = Write(&bytes);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("does not resolve"), std::string::npos) << status;
  std::filesystem::remove(link);

  ASSERT_EQ(mkfifo((dir_ + "/layout/fifo").c_str(), 0600), 0);
  status = Write(&bytes);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("fifo is neither a regular file"), std::string::npos) << status;
  EXPECT_TRUE(bytes.empty());
}

TEST_F(DirectoryTarTest, ASinkErrorEndsTheWrite) {
  absl::Status status = WriteDirectoryTar(dir_ + "/layout", [](absl::string_view) {
    return absl::CancelledError("the daemon ended the load");
  });
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  status = WriteDirectoryTar(dir_ + "/missing", [](absl::string_view) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_NE(status.message().find("missing"), std::string::npos) << status;
}

}  // namespace
}  // namespace kapsel::client
