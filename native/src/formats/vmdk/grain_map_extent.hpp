// The part the ESX delta extents (COWD, SESparse) share: a guest range split into grains,
// each either a hole (read the parent), zero, or data at a sector of the extent file.
// Subclasses decode their own directory/tables and bounds-check every sector they hand out;
// this class merges runs for block status and coalesces adjacent grains into one pread
// (grain_walk.hpp, shared with the hosted sparse extent).
#pragma once
#include <cstdint>
#include <memory>

#include "formats/image_reader.hpp"
#include "formats/vmdk/extent.hpp"
#include "formats/vmdk/grain_walk.hpp"
#include "io/byte_view.hpp"

namespace h2k::vmdk {

class GrainMapExtent : public Extent {
 public:
  GrainMapExtent(uint64_t sizeBytes, std::shared_ptr<const ByteView> source)
      : Extent(sizeBytes), source_(std::move(source)) {}
  const ByteView& source() const { return *source_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;

 protected:
  // Grain geometry; set by the subclass constructor before any lookup.
  void setGeometry(uint64_t grainSectors, uint64_t grainsPerTable) {
    grainSectors_ = grainSectors;
    perTable_ = grainsPerTable;
  }
  virtual Grain grain(uint64_t grainIndex) = 0;
  // True when directory entry `gdIndex` has no table: all its grains are holes (none is loaded).
  virtual bool tableEmpty(uint64_t gdIndex) const = 0;
  uint64_t grainBytes() const { return grainSectors_ << 9; }
  uint64_t grainCount() const { return sizeBytes() / grainBytes() + (sizeBytes() % grainBytes() ? 1 : 0); }
  // Guest bytes of a grain inside the extent (the last one may be partial).
  uint64_t visibleBytes(uint64_t grainIndex) const;

  std::shared_ptr<const ByteView> source_;

 private:
  uint64_t grainSectors_ = 1;
  uint64_t perTable_ = 1;
};

}  // namespace h2k::vmdk
