// Seam for work that must see the guest-visible content once, in order, during the
// conversion pass (content hashes, dedup fingerprints). An observer runs either on the
// reader thread as each chunk is read (cheap work: the bytes are still in cache and no extra
// thread competes with the writer for the cores) or on one observer thread after the chunk is
// written (engine/observer_thread.hpp); in guest order either way: a slow observer slows the
// conversion but never reorders it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/read_tap.hpp"

namespace h2k {

class ContentObserver {
 public:
  virtual ~ContentObserver() = default;
  // Called in strictly ascending, gap-free guest order; together the calls cover
  // [0, virtualSize) exactly once. data == nullptr means `len` zero bytes (a hole or zero
  // run; len may be large). Throwing aborts the conversion.
  virtual void onContent(uint64_t offset, const uint8_t* data, size_t len) = 0;
  // Once the source is open, before the conversion reads its first chunk.
  virtual void onStart() {}
  // After the last onContent of a conversion that is about to succeed.
  virtual void onFinish() {}
  // true: onContent runs on the reader thread, right after each chunk is read; false: on
  // the observer thread, after the chunk is written. Cheap observers say true.
  virtual bool onReaderThread() const { return false; }
  // true: the observer hashes with XXH3 only and can take each chunk's XXH3 block sums,
  // computed by the worker threads; it then sees the chunk on the writer thread after it is
  // written, through onContentPresummed (uncompressed conversions: their workers are idle).
  virtual bool acceptsXxh3Sums() const { return false; }
  // As onContent; xxh3Sums (may be null: unaligned chunk) holds 8 words per KiB of data.
  virtual void onContentPresummed(uint64_t offset, const uint8_t* data, size_t len, const uint64_t* xxh3Sums) {
    onContent(offset, data, len);
  }
};

struct ConvertHooks {
  std::vector<ContentObserver*> observers;  // not owned; must outlive the convertImage call
  FileTapFactory sourceFileTaps;            // taps on the source's files (OpenOptions)
};

}  // namespace h2k
