// Writing a whole directory so that readers see either the old one or the complete new one: the
// files go into a sibling `<target>.tmp-XXXXXX` (unique, mkdtemp), are flushed to disk, and the
// directory is renamed into place (swapped atomically with an existing target, whose old copy is
// then removed). A staging directory that is never committed is removed by the destructor; one
// left behind by a killed process is removed by remove_stale_staging_dirs.
#pragma once

#include <string>

namespace nova::train {

class StagingDir {
 public:
  // Creates the staging directory beside `target` (the parent must exist).
  explicit StagingDir(std::string target);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::string& path() const { return path_; }
  const std::string& target() const { return target_; }
  // fsyncs every file and the directory, renames it to the target, fsyncs the parent.
  void commit();

 private:
  std::string target_, path_;
  bool committed_ = false;
};

// True for names StagingDir uses ("<anything>.tmp-XXXXXX").
bool is_staging_name(const std::string& name);
// Removes staging directories left in `dir` by an interrupted writer; returns how many.
int remove_stale_staging_dirs(const std::string& dir);

}  // namespace nova::train
