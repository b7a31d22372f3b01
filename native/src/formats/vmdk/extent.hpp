// One extent of a VMDK as the image sees it: a guest byte range backed by a sparse file,
// a flat file (or a slice of it), or nothing at all (ZERO / NOACCESS). Offsets are
// relative to the extent's start; callers keep them below sizeBytes().
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "formats/image_reader.hpp"
#include "formats/vmdk/sparse_extent.hpp"
#include "io/byte_view.hpp"

namespace h2k::vmdk {

class Extent {
 public:
  explicit Extent(uint64_t sizeBytes) : size_(sizeBytes) {}
  virtual ~Extent() = default;
  uint64_t sizeBytes() const { return size_; }
  virtual BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) = 0;
  virtual void read(uint64_t offset, uint8_t* buf, size_t len) = 0;

 private:
  uint64_t size_;
};

// ZERO extents and NOACCESS extents (which we do not open) read as zeros.
class EmptyExtent : public Extent {
 public:
  EmptyExtent(uint64_t sizeBytes, BlockKind kind) : Extent(sizeBytes), kind_(kind) {}
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;

 private:
  BlockKind kind_;
};

// FLAT / VMFS: guest bytes are the file bytes starting at fileOffset. Holes of a sparse
// file are reported as holes so they are not read.
class FlatExtent : public Extent {
 public:
  FlatExtent(uint64_t sizeBytes, std::shared_ptr<const ByteView> source, uint64_t fileOffset);
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;

 private:
  std::shared_ptr<const ByteView> source_;
  uint64_t fileOffset_;
};

// SPARSE: the descriptor line's size wins for the layout; a tail beyond the sparse
// header's capacity (a mismatch we warn about) reads as a hole.
class SparseSlot : public Extent {
 public:
  SparseSlot(uint64_t sizeBytes, std::unique_ptr<SparseExtent> sparse) : Extent(sizeBytes), sparse_(std::move(sparse)) {}
  const SparseExtent& sparse() const { return *sparse_; }
  void setGtCacheCapacity(size_t tables) { sparse_->setGtCacheCapacity(tables); }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;

 private:
  std::unique_ptr<SparseExtent> sparse_;
};

}  // namespace h2k::vmdk
