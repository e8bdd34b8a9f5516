#include "train/staging_dir.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace nova::train {

namespace fs = std::filesystem;

namespace {

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open to flush: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail(path, std::string("cannot flush to disk: ") + std::strerror(err));
}

std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace

StagingDir::StagingDir(std::string target) : target_(std::move(target)) {
  while (!target_.empty() && target_.size() > 1 && target_.back() == '/') target_.pop_back();
  std::string templ = target_ + ".tmp-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) fail(target_, std::string("cannot create a staging directory: ") + std::strerror(errno));
  path_ = buf.data();
}

StagingDir::~StagingDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: a leftover is cleaned up by remove_stale_staging_dirs
}

void StagingDir::commit() {
  for (const auto& entry : fs::directory_iterator(path_))
    if (entry.is_regular_file()) fsync_path(entry.path().string(), false);
  fsync_path(path_, true);
  std::error_code ec;
  if (fs::exists(target_, ec)) {
    // Swap both names in one step, so the target never disappears; the old copy is then removed.
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0)
      fail(target_, std::string("cannot replace the directory: ") + std::strerror(errno));
    committed_ = true;
    fs::remove_all(path_, ec);
  } else {
    if (::rename(path_.c_str(), target_.c_str()) != 0)
      fail(target_, std::string("cannot rename the staging directory into place: ") + std::strerror(errno));
    committed_ = true;
  }
  fsync_path(parent_of(target_), true);
}

bool is_staging_name(const std::string& name) {
  const size_t p = name.rfind(".tmp-");
  return p != std::string::npos && name.size() == p + 5 + 6;
}

int remove_stale_staging_dirs(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_directory() || !is_staging_name(entry.path().filename().string())) continue;
    fs::remove_all(entry.path(), ec);
    if (!ec) ++removed;
  }
  return removed;
}

}  // namespace nova::train
