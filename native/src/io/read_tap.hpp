// Lets a consumer see the bytes a File reads, as they are read. `convert --hash` hashes the
// source file from the conversion's own reads instead of reading the file a second time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace h2k {

class ReadTap {
 public:
  virtual ~ReadTap() = default;
  // After each successful read of `len` bytes at file `offset`, on the reading thread.
  // Must be thread-safe: several threads may read one file.
  virtual void onRead(uint64_t offset, const uint8_t* data, size_t len) = 0;
  // A read reported late (TapDeferral), with the XXH3 block sums of `data` when known (8 words
  // per KiB from data, see hash/hasher.hpp; null otherwise). Taps that hash may use them.
  virtual void onReadPresummed(uint64_t offset, const uint8_t* data, size_t len, const uint64_t* xxh3Sums) {
    onRead(offset, data, len);
  }
};

// A read whose report to its tap was put off (see TapDeferral).
struct DeferredTapRead {
  std::shared_ptr<ReadTap> tap;
  uint64_t offset = 0;  // in the tapped file
  size_t bufferPos = 0;  // where the bytes landed in the deferral's buffer
  size_t length = 0;
};

// While one is alive on a thread, reads on that thread whose bytes land inside [begin,
// begin+size) are not shown to their taps but appended to `out`; the owner shows them later
// (the conversion engine: once the chunk's block sums exist, so a source hash can reuse them).
// Reads into other buffers (metadata) are shown at once, as without it.
class TapDeferral {
 public:
  TapDeferral(const uint8_t* begin, size_t size, std::vector<DeferredTapRead>* out) noexcept;
  ~TapDeferral();
  TapDeferral(const TapDeferral&) = delete;
  TapDeferral& operator=(const TapDeferral&) = delete;

  // For File: true when this thread's deferral took the read (the tap must not see it now).
  static bool capture(const std::shared_ptr<ReadTap>& tap, uint64_t offset, const uint8_t* data, size_t len);

 private:
  const uint8_t* begin_;
  size_t size_;
  std::vector<DeferredTapRead>* out_;
  TapDeferral* outer_;
};

class File;
// Gives the tap for a file just opened (nullptr = none); a tap that reads the file itself
// reopens this handle (File::reopen), never its name.
using FileTapFactory = std::function<std::shared_ptr<ReadTap>(const File& file)>;

}  // namespace h2k
