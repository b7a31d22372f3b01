#include "io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace h2k {

void throwErrno(int err, const std::string& what, const std::string& path, int64_t offset) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      throw Error(codes::kNotFound, msg, path, offset, "check that the file exists and the path is right");
    case EACCES:
    case EPERM:
      throw Error(codes::kPermission, msg, path, offset, "check file permissions and ownership");
    case ENOSPC:
    case EDQUOT:
      throw Error(codes::kNoSpace, msg, path, offset, "free disk space on the output filesystem or choose another output");
    case EEXIST:
      throw Error(codes::kOutputExists, msg, path, offset, "remove it or pass --force");
    default:
      throw Error(codes::kIo, msg, path, offset, "an I/O error; check the device and retry");
  }
}

namespace {
std::atomic<bool> gPlainFilesOnly{false};

[[noreturn]] void refuseUnsafe(int fd, const std::string& path, const std::string& what) {
  if (fd >= 0) ::close(fd);
  throw Error(codes::kUnsafeDrop, "refusing to read " + path + ": " + what, path, -1,
              "copy the disk into the watch folder as a regular file; links, hard links, pipes, sockets and devices are never read");
}
}  // namespace

void setPlainFilesOnly(bool on) noexcept { gPlainFilesOnly.store(on); }
bool plainFilesOnly() noexcept { return gPlainFilesOnly.load(); }

File File::open(const std::string& path, Mode mode) {
  int flags = O_CLOEXEC;
  const bool plainOnly = mode == Mode::Read && plainFilesOnly();
  if (plainOnly) flags |= O_NOFOLLOW | O_NONBLOCK;
  switch (mode) {
    case Mode::Read: flags |= O_RDONLY; break;
    case Mode::CreateExclusive: flags |= O_RDWR | O_CREAT | O_EXCL; break;
    case Mode::CreateTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    case Mode::ReadWrite: flags |= O_RDWR; break;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && plainOnly && errno == ELOOP) refuseUnsafe(-1, path, "it is a symbolic link");
  if (fd < 0) throwErrno(errno, "cannot open", path);
  if (plainOnly) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      throwErrno(err, "cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) refuseUnsafe(fd, path, "it is not a regular file");
    if (st.st_nlink != 1) refuseUnsafe(fd, path, "it is a hard link (" + std::to_string(st.st_nlink) + " names)");
    // Back to blocking reads (O_NONBLOCK only kept the open from hanging on a FIFO).
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  if (mode == Mode::Read) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw Error(codes::kInvalidArgument, "is a directory: " + path, path, -1, "pass an image file");
    }
  }
  return File(fd, path);
}

File File::reopen() const {
  const std::string self = "/proc/self/fd/" + std::to_string(fd_);
  int fd;
  do {
    fd = ::open(self.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throwErrno(errno, "cannot reopen", path_);
  return File(fd, path_);
}

File::~File() { close(); }

File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)), tap_(std::move(other.tap_)) {
  other.fd_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    tap_ = std::move(other.tap_);
    other.fd_ = -1;
  }
  return *this;
}

void File::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

uint64_t File::size() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) throwErrno(errno, "cannot stat", path_);
  if (S_ISBLK(st.st_mode)) {
    off_t end = lseek(fd_, 0, SEEK_END);
    if (end < 0) throwErrno(errno, "cannot seek", path_);
    return static_cast<uint64_t>(end);
  }
  return static_cast<uint64_t>(st.st_size);
}

size_t File::readSome(void* buf, size_t len, uint64_t offset) const {
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd_, p + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throwErrno(errno, "read failed on", path_, static_cast<int64_t>(offset + done));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (tap_ && done > 0 && !TapDeferral::capture(tap_, offset, p, done)) tap_->onRead(offset, p, done);
  return done;
}

void File::readExact(void* buf, size_t len, uint64_t offset) const {
  size_t got = readSome(buf, len, offset);
  if (got != len) {
    throw Error(codes::kTruncated,
                "file ends early: needed " + std::to_string(len) + " bytes at offset " +
                    std::to_string(offset) + ", only " + std::to_string(got) + " available in " + path_,
                path_, static_cast<int64_t>(offset + got),
                "the file is truncated or its metadata points past its end; re-copy or re-export it");
  }
}

void File::writeAll(const void* buf, size_t len, uint64_t offset) const {
  auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd_, p + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throwErrno(errno, "write failed on", path_, static_cast<int64_t>(offset + done));
    }
    if (n == 0) throwErrno(ENOSPC, "write failed on", path_, static_cast<int64_t>(offset + done));
    done += static_cast<size_t>(n);
  }
}

void File::truncate(uint64_t size) const {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) throwErrno(errno, "cannot resize", path_);
}

void File::sync() const {
  if (::fsync(fd_) != 0) throwErrno(errno, "fsync failed on", path_);
}

}  // namespace h2k
