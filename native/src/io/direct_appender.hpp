// Output writes for an append-mostly writer (qcow2: host clusters allocated in increasing
// order), through O_DIRECT where the file system takes it. Measured on this project's VM disk:
// buffered writes + fsync ran at 0.3-1.4 GB/s with a third of the converter's CPU in the kernel's
// copy into the page cache; O_DIRECT ran at 1.8 GB/s with no copy and nothing left to flush.
//
// Writes at or past the staging window's start are copied into an aligned buffer; the buffer is
// written whole (O_DIRECT) when a write runs past its end. A write wholly beyond the window leaves
// the bytes between as a hole. A write before the window (the header, tables reserved early and
// filled at the end) goes through the page cache on the ordinary descriptor; the kernel keeps
// both views coherent. flush() writes the staged rest and trims the padding, so the file ends
// exactly where the last byte was written. A file system that refuses O_DIRECT (tmpfs, some FUSE)
// or a write it rejects turns the appender into plain buffered writes, same bytes.
//
// Two windows: a full one is written by a background thread while the caller fills the other,
// so the disk's time overlaps the caller's (on one core the writer otherwise sat idle for each
// 8 MiB write). A window is reused only after its write ended, and a write behind the window
// that touches the range still in flight waits for it, so the bytes land in program order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>

#include "io/file.hpp"

namespace h2k {

class DirectAppender {
 public:
  // `file` is open for writing and stays open for the appender's lifetime. `direct` false: plain
  // buffered writes (the caller's choice, e.g. `-t writeback`).
  DirectAppender(const File& file, bool direct, size_t windowBytes = kDefaultWindow);
  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  void write(const void* data, size_t len, uint64_t offset);
  // Everything written reaches the file (not yet the disk: the caller fsyncs the file).
  void flush();
  bool direct() const noexcept { return directFd_.isOpen(); }

  static constexpr size_t kAlign = 4096;
  static constexpr size_t kDefaultWindow = 8u << 20;

 private:
  struct FreeAligned {
    void operator()(uint8_t* p) const noexcept;
  };
  using Buffer = std::unique_ptr<uint8_t, FreeAligned>;
  // A window handed to the background write: its bytes stay untouched until `done` is waited.
  struct InFlight {
    std::future<int> done;  // errno of the write, 0 when it all landed
    uint64_t start = 0;
    size_t bytes = 0;       // written (aligned up)
    size_t staged = 0;      // of which real data or gaps (what a buffered fallback writes)
    bool active() const noexcept { return done.valid(); }
  };

  void submitWindow(size_t bytes);  // hand the window at start_ to the background; swap buffers
  void awaitInFlight();             // the background write ended (or fell back to buffered)
  void awaitIfOverlaps(uint64_t offset, size_t len);
  void dropDirect();                // after a refused write: buffered from here on

  const File& file_;
  File directFd_;
  Buffer window_;         // being filled
  Buffer spare_;          // the other one: in flight or free
  size_t cap_ = 0;
  uint64_t start_ = 0;    // file offset of window_[0] (aligned)
  size_t staged_ = 0;     // bytes of the window holding data or gaps (from 0)
  uint64_t end_ = 0;      // highest byte written + 1
  InFlight inFlight_;     // declared last: its future is joined before the buffers are freed
};

}  // namespace h2k
