#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/database.h"

struct archive;

namespace kapsel::store::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Builds a tar file with libarchive's writer, to craft normal and hostile layers.
class TarBuilder {
 public:
  enum class Compression { kNone, kGzip };
  explicit TarBuilder(const std::string& path, Compression compression = Compression::kNone);
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;
  ~TarBuilder();

  TarBuilder& Dir(const std::string& name, int mode = 0755);
  TarBuilder& File(const std::string& name, const std::string& content, int mode = 0644);
  TarBuilder& Symlink(const std::string& name, const std::string& target);
  TarBuilder& Hardlink(const std::string& name, const std::string& target);
  // Writes the archive trailer; the file is complete afterwards.
  void Close();

 private:
  struct archive* a_;
  bool closed_ = false;
};

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
bool Exists(const std::string& path);  // lstat
// Names in a directory, sorted, without "." and "..". Empty if it does not exist.
std::vector<std::string> ListNames(const std::string& dir);
int64_t CountRows(Database& db, const std::string& table);

}  // namespace kapsel::store::testing
