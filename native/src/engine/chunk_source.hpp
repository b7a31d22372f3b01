// Walks an ImageReader's block status once, in guest order, and cuts the guest range into
// chunks: long zero/hole stretches become buffer-less zero chunks; anything with data is
// read (only its Data runs; the rest of the buffer is zero-filled) in chunks of up to
// `chunkBytes`, aligned to the output cluster size.
#pragma once
#include <cstdint>

#include "engine/chunk.hpp"
#include "formats/image_reader.hpp"

namespace h2k {

class ChunkSource {
 public:
  ChunkSource(ImageReader& reader, uint32_t clusterSize, uint64_t chunkBytes);
  // Fills `c` (keeping its buffer capacity) with the next chunk; false when done.
  bool next(Chunk& c);
  uint64_t position() const { return pos_; }
  // Reads into a chunk's buffer are then reported to their file taps only later, by whoever
  // takes the chunk (Chunk::tapReads).
  void deferTaps(bool on) { deferTaps_ = on; }

 private:
  BlockStatus status(uint64_t offset);
  uint64_t alignUp(uint64_t v) const { return (v + cs_ - 1) / cs_ * cs_; }

  ImageReader& reader_;
  uint64_t size_;
  uint64_t cs_;
  uint64_t chunkBytes_;
  uint64_t pos_ = 0;
  bool deferTaps_ = false;
  BlockStatus cached_{0, 0, BlockKind::Hole};
};

}  // namespace h2k
