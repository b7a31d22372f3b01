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

// The whole aligned range. Runs on the background thread; returns errno, 0 when every byte landed.
int writeDirect(int fd, const uint8_t* buf, size_t bytes, uint64_t at) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pwrite(fd, buf + done, bytes - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ENOSPC;
    done += static_cast<size_t>(n);
  }
  return 0;
}
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
  for (Buffer* b : {&window_, &spare_}) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, cap_) != 0) throw std::bad_alloc();
    b->reset(static_cast<uint8_t*>(p));  // not zeroed: only what a window uses is touched (below)
  }
}

DirectAppender::~DirectAppender() {
  // An abandoned output (an error elsewhere): let the background write end before the buffers
  // and descriptors go; its result no longer matters.
  if (inFlight_.active()) inFlight_.done.wait();
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
    awaitIfOverlaps(offset, before);
    if (direct()) {  // (a refused background write turns everything buffered, below)
      file_.writeAll(p, before, offset);
      p += before;
      offset += before;
      len -= before;
    }
  }
  while (len > 0 && direct()) {
    uint64_t rel = offset - start_;
    if (rel >= cap_) {  // past the window: write it, start the next one at this write
      if (staged_) submitWindow(alignUp(staged_));
      if (!direct()) break;
      start_ = alignDown(offset);
      staged_ = 0;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, cap_ - rel));
    // bytes skipped since the last write read as zeros (a hole); the buffer holds a previous
    // window's bytes there, and zeroing only the gaps spares touching untouched pages at all
    if (rel > staged_) std::memset(window_.get() + staged_, 0, static_cast<size_t>(rel) - staged_);
    std::memcpy(window_.get() + rel, p, n);
    staged_ = std::max<size_t>(staged_, static_cast<size_t>(rel) + n);
    p += n;
    offset += n;
    len -= n;
    if (staged_ == cap_) {
      submitWindow(cap_);
      if (direct()) start_ += cap_;
    }
  }
  if (len > 0) file_.writeAll(p, len, offset);  // direct I/O was refused midway
}

void DirectAppender::submitWindow(size_t bytes) {
  awaitInFlight();  // the spare buffer must be free before it becomes the window
  if (!direct()) return;
  if (bytes > staged_) std::memset(window_.get() + staged_, 0, bytes - staged_);  // the padding
  inFlight_.start = start_;
  inFlight_.bytes = bytes;
  inFlight_.staged = staged_;
  inFlight_.done = std::async(std::launch::async, writeDirect, directFd_.fd(), window_.get(), bytes, start_);
  std::swap(window_, spare_);
  staged_ = 0;
}

void DirectAppender::awaitIfOverlaps(uint64_t offset, size_t len) {
  if (inFlight_.active() && offset < inFlight_.start + inFlight_.bytes && inFlight_.start < offset + len) awaitInFlight();
}

void DirectAppender::awaitInFlight() {
  if (!inFlight_.active()) return;
  int err = inFlight_.done.get();
  if (err == 0) return;
  if (err != EINVAL) throwErrno(err, "write failed on", file_.path(), static_cast<int64_t>(inFlight_.start));
  // Alignment this device will not take: the same bytes, buffered — the window that was in
  // flight (its buffer is not reused before this wait), then the one being filled.
  file_.writeAll(spare_.get(), inFlight_.staged, inFlight_.start);
  if (staged_) file_.writeAll(window_.get(), staged_, start_);
  dropDirect();
}

void DirectAppender::dropDirect() {
  directFd_.close();
  window_.reset();
  spare_.reset();
  staged_ = 0;
}

void DirectAppender::flush() {
  if (direct() && staged_) {
    const size_t padded = alignUp(staged_);
    submitWindow(padded);
    if (direct()) start_ += padded;
  }
  awaitInFlight();
  // The last window was written padded to the alignment: the file ends at the last real byte.
  if (file_.size() > end_) file_.truncate(end_);
}

}  // namespace h2k
