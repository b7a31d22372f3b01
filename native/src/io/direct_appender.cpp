#include "io/direct_appender.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.hpp"

namespace h2k {

namespace {
uint64_t alignDown(uint64_t v) { return v / DirectAppender::kAlign * DirectAppender::kAlign; }
size_t alignUp(size_t v) { return (v + DirectAppender::kAlign - 1) / DirectAppender::kAlign * DirectAppender::kAlign; }
}  // namespace

void DirectAppender::FreeAligned::operator()(uint8_t* p) const noexcept { std::free(p); }

DirectAppender::DirectAppender(const File& file, bool direct, size_t windowBytes) : file_(file) {
  if (!direct) return;
  // A second open file description: O_DIRECT set with fcntl would also change the caller's.
  const std::string self = "/proc/self/fd/" + std::to_string(file.fd());
  int fd;
  do {
    fd = ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return;  // the file system does not take O_DIRECT: buffered writes
  directFd_ = File::adopt(fd, file.path());
  cap_ = std::max(kAlign, alignUp(windowBytes));
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, cap_) != 0) throw std::bad_alloc();
  window_.reset(static_cast<uint8_t*>(p));
  std::memset(window_.get(), 0, cap_);
}

void DirectAppender::write(const void* data, size_t len, uint64_t offset) {
  if (len == 0) return;
  end_ = std::max(end_, offset + len);
  auto* p = static_cast<const uint8_t*>(data);
  if (!direct()) {
    file_.writeAll(p, len, offset);
    return;
  }
  if (offset < start_) {  // already behind the window: through the page cache
    size_t before = static_cast<size_t>(std::min<uint64_t>(len, start_ - offset));
    file_.writeAll(p, before, offset);
    p += before;
    offset += before;
    len -= before;
  }
  while (len > 0 && direct()) {
    uint64_t rel = offset - start_;
    if (rel >= cap_) {  // past the window: write it, start the next one at this write
      if (staged_) writeWindow(alignUp(staged_));
      start_ = alignDown(offset);
      staged_ = 0;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, cap_ - rel));
    std::memcpy(window_.get() + rel, p, n);
    staged_ = std::max<size_t>(staged_, static_cast<size_t>(rel) + n);
    p += n;
    offset += n;
    len -= n;
    if (staged_ == cap_) {
      writeWindow(cap_);
      start_ += cap_;
      staged_ = 0;
    }
  }
  if (len > 0) file_.writeAll(p, len, offset);  // direct I/O was refused midway
}

void DirectAppender::writeWindow(size_t bytes) {
  const uint8_t* buf = window_.get();
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pwrite(directFd_.fd(), buf + done, bytes - done, static_cast<off_t>(start_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL) {  // alignment this device will not take: same bytes, buffered
      file_.writeAll(buf + done, staged_ > done ? staged_ - done : 0, start_ + done);
      dropDirect();
      return;
    }
    if (n < 0) throwErrno(errno, "write failed on", file_.path(), static_cast<int64_t>(start_ + done));
    if (n == 0) throwErrno(ENOSPC, "write failed on", file_.path(), static_cast<int64_t>(start_ + done));
    done += static_cast<size_t>(n);
  }
  std::memset(window_.get(), 0, bytes);  // gaps in the next use of the window read as zeros
}

void DirectAppender::dropDirect() {
  directFd_.close();
  window_.reset();
  staged_ = 0;
}

void DirectAppender::flush() {
  if (direct() && staged_) {
    writeWindow(alignUp(staged_));
    if (direct()) start_ += alignUp(staged_);
    staged_ = 0;
  }
  // The last window was written padded to the alignment: the file ends at the last real byte.
  if (file_.size() > end_) file_.truncate(end_);
}

}  // namespace h2k
