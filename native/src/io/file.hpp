// RAII file handle with exact positional I/O. Every read that must be complete
// throws E_TRUNCATED with the file and offset when the file ends early.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "io/read_tap.hpp"

namespace h2k {

// Plain-files-only mode (process-wide; the watch-folder daemon turns it on): every read-only
// open refuses a symlink as the last component (O_NOFOLLOW), never blocks on a FIFO
// (O_NONBLOCK), and refuses anything but a regular file with one name, with E_UNSAFE_DROP. It
// closes the gap between the daemon's lstat checks and the converter's own opens.
void setPlainFilesOnly(bool on) noexcept;
bool plainFilesOnly() noexcept;

class File {
 public:
  enum class Mode { Read, CreateExclusive, CreateTruncate, ReadWrite };

  File() = default;
  static File open(const std::string& path, Mode mode = Mode::Read);
  // Takes ownership of an open descriptor (io/open_beneath.hpp opens files this way).
  static File adopt(int fd, std::string path) { return File(fd, std::move(path)); }
  // A second read-only handle on the same file, without resolving its name again (so a name
  // swapped since the open cannot redirect it): /proc/self/fd, or a dup where /proc is absent.
  File reopen() const;
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  bool isOpen() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_; }

  uint64_t size() const;  // current size (fstat)

  // Reads exactly len bytes at offset or throws E_TRUNCATED / E_IO.
  void readExact(void* buf, size_t len, uint64_t offset) const;
  // Reads up to len bytes; returns the count (short only at EOF).
  size_t readSome(void* buf, size_t len, uint64_t offset) const;
  // Writes all len bytes at offset or throws (E_NO_SPACE, E_IO).
  void writeAll(const void* buf, size_t len, uint64_t offset) const;

  // Every later successful read is shown to `tap` (nullptr = none).
  void setReadTap(std::shared_ptr<ReadTap> tap) noexcept { tap_ = std::move(tap); }

  // Gives up ownership of the descriptor (returned; this File is closed afterwards).
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  void truncate(uint64_t size) const;
  void sync() const;
  void close();

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::shared_ptr<ReadTap> tap_;
};

// Throws the h2k::Error matching errno (E_NOT_FOUND, E_PERMISSION, E_NO_SPACE, E_IO).
[[noreturn]] void throwErrno(int err, const std::string& what, const std::string& path,
                             int64_t offset = -1);

}  // namespace h2k
