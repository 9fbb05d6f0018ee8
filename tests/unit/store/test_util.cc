#include "tests/unit/store/test_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "store/fs_util.h"

namespace kapsel::store::testing {

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string templ =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/kapsel-store-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ;
  }
  path_ = templ;
}

TempDir::~TempDir() {
  absl::Status status = RemoveTree(path_);
  if (!status.ok()) ADD_FAILURE() << status;
}

TarBuilder::TarBuilder(const std::string& path, Compression compression) : a_(archive_write_new()) {
  archive_write_set_format_pax_restricted(a_);
  if (compression == Compression::kGzip) archive_write_add_filter_gzip(a_);
  EXPECT_EQ(archive_write_open_filename(a_, path.c_str()), ARCHIVE_OK) << archive_error_string(a_);
}

TarBuilder::~TarBuilder() {
  Close();
  archive_write_free(a_);
}

void TarBuilder::Close() {
  if (closed_) return;
  closed_ = true;
  EXPECT_EQ(archive_write_close(a_), ARCHIVE_OK) << archive_error_string(a_);
}

namespace {

struct archive_entry* NewEntry(const std::string& name, mode_t type, int mode) {
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, mode);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_set_mtime(e, 1700000000, 0);
  return e;
}

}  // namespace

TarBuilder& TarBuilder::Dir(const std::string& name, int mode) {
  struct archive_entry* e = NewEntry(name, AE_IFDIR, mode);
  EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
  archive_entry_free(e);
  return *this;
}

TarBuilder& TarBuilder::File(const std::string& name, const std::string& content, int mode) {
  struct archive_entry* e = NewEntry(name, AE_IFREG, mode);
  archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
  EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
  EXPECT_EQ(archive_write_data(a_, content.data(), content.size()),
            static_cast<la_ssize_t>(content.size()));
  archive_entry_free(e);
  return *this;
}

TarBuilder& TarBuilder::Symlink(const std::string& name, const std::string& target) {
  struct archive_entry* e = NewEntry(name, AE_IFLNK, 0777);
  archive_entry_set_symlink(e, target.c_str());
  EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
  archive_entry_free(e);
  return *this;
}

TarBuilder& TarBuilder::Hardlink(const std::string& name, const std::string& target) {
  struct archive_entry* e = NewEntry(name, AE_IFREG, 0644);
  archive_entry_set_hardlink(e, target.c_str());
  archive_entry_set_size(e, 0);
  EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
  archive_entry_free(e);
  return *this;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << "write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* ent = readdir(d)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

int64_t CountRows(Database& db, const std::string& table) {
  absl::StatusOr<Statement> stmt = db.Prepare("SELECT COUNT(*) FROM " + table);
  EXPECT_TRUE(stmt.ok()) << stmt.status();
  if (!stmt.ok()) return -1;
  absl::StatusOr<bool> row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row);
  return stmt->ColumnInt64(0);
}

}  // namespace kapsel::store::testing
