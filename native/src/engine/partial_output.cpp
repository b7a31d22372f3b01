#include "engine/partial_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/error.hpp"
#include "common/path_guard.hpp"

namespace h2k {

void checkOutputAvailable(const std::string& output, bool force) {
  struct stat st;
  if (::lstat(output.c_str(), &st) == 0 && !force)
    throw Error(codes::kOutputExists, "output already exists: " + output, output, -1,
                "remove it, choose another output path, or pass --force");
}

PartialOutput::PartialOutput(const std::string& output) : output_(output), partial_(output + ".partial") {
  // A .partial is never a finished output, so a leftover one is safe to discard.
  if (::unlink(partial_.c_str()) != 0 && errno != ENOENT) throwErrno(errno, "cannot remove stale", partial_);
  file_ = File::open(partial_, File::Mode::CreateExclusive);
}

PartialOutput::~PartialOutput() {
  if (!committed_) {
    file_.close();
    ::unlink(partial_.c_str());
  }
}

void PartialOutput::commit() {
  file_.sync();
  file_.close();
  if (::rename(partial_.c_str(), output_.c_str()) != 0) throwErrno(errno, "cannot rename to", output_);
  committed_ = true;
  std::string dir = dirName(output_);
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);  // best effort: some filesystems refuse fsync on directories
    ::close(fd);
  }
}

}  // namespace h2k
