#include "engine/chunk_source.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/error.hpp"

namespace h2k {
namespace {
// Merged zero stretches are cut at this size so progress and cancellation stay responsive.
constexpr uint64_t kMaxZeroChunk = 1ULL << 30;
}  // namespace

ChunkSource::ChunkSource(ImageReader& reader, uint32_t clusterSize, uint64_t chunkBytes)
    : reader_(reader), size_(reader.virtualSize()), cs_(clusterSize), chunkBytes_(chunkBytes) {}

BlockStatus ChunkSource::status(uint64_t offset) {
  uint64_t cachedEnd = cached_.offset + cached_.length;
  if (offset < cached_.offset || offset >= cachedEnd) {
    cached_ = reader_.blockStatus(offset, size_ - offset);
    if (cached_.offset != offset || cached_.length == 0 || cached_.length > size_ - offset)
      throw Error(codes::kCorrupt, "source reported an invalid block-status run at guest offset " +
                  std::to_string(offset), {}, static_cast<int64_t>(offset), "the source image is inconsistent");
    cachedEnd = cached_.offset + cached_.length;
  }
  return {offset, cachedEnd - offset, cached_.kind};
}

bool ChunkSource::next(Chunk& c) {
  if (pos_ >= size_) return false;
  c.offset = pos_;
  c.dataBytes = 0;
  c.clusters.clear();
  c.tapReads.clear();

  BlockStatus st = status(pos_);
  if (st.kind != BlockKind::Data) {
    // Merge consecutive non-data runs; the chunk ends on a cluster boundary (or the end).
    uint64_t runEnd = pos_ + st.length;
    while (runEnd < size_ && runEnd - pos_ < kMaxZeroChunk) {
      BlockStatus n = status(runEnd);
      if (n.kind == BlockKind::Data) break;
      runEnd += n.length;
    }
    runEnd = std::min(runEnd, pos_ + kMaxZeroChunk);
    uint64_t end = runEnd == size_ ? size_ : runEnd / cs_ * cs_;
    if (end > pos_) {
      c.zero = true;
      c.guestLength = end - pos_;
      c.bufLength = 0;
      pos_ = end;
      return true;
    }
    // The zero run ends inside this cluster: the cluster holds data, read it below.
  }

  uint64_t limit = std::min(pos_ + chunkBytes_, alignUp(size_));
  uint64_t limitGuest = std::min(limit, size_);
  uint64_t e = pos_;
  while (e < limitGuest) {
    BlockStatus s = status(e);
    uint64_t runEnd = e + s.length;
    if (s.kind != BlockKind::Data) {
      // Stop before a zero run that covers a whole cluster: it becomes a zero chunk.
      uint64_t a = alignUp(e);
      if (a > pos_ && (runEnd >= a + cs_ || runEnd == size_)) {
        e = a;
        break;
      }
    }
    e = std::min(runEnd, limitGuest);
  }
  uint64_t end = std::min(alignUp(e), limit);
  uint64_t guestEnd = std::min(end, size_);

  c.zero = false;
  c.guestLength = guestEnd - pos_;
  c.bufLength = static_cast<size_t>(end - pos_);
  // Size a buffer once, for the largest chunk: growing it chunk by chunk cost a copy and a
  // zero-fill each time (together ~15% of a plain conversion's CPU).
  if (c.buf.size() < c.bufLength) c.buf.resize(std::max<uint64_t>(c.bufLength, alignUp(chunkBytes_)));
  std::optional<TapDeferral> deferral;
  if (deferTaps_) deferral.emplace(c.buf.data(), c.bufLength, &c.tapReads);
  for (uint64_t off = pos_; off < guestEnd;) {
    BlockStatus s = status(off);
    uint64_t n = std::min(s.length, guestEnd - off);
    uint8_t* dst = c.buf.data() + (off - pos_);
    if (s.kind == BlockKind::Data) {
      reader_.read(off, dst, static_cast<size_t>(n));
      c.dataBytes += n;
    } else {
      std::memset(dst, 0, static_cast<size_t>(n));
    }
    off += n;
  }
  if (end > guestEnd) std::memset(c.buf.data() + (guestEnd - pos_), 0, static_cast<size_t>(end - guestEnd));
  pos_ = end;
  return true;
}

}  // namespace h2k
