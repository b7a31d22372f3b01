// A hosted sparse extent (monolithicSparse, twoGbMaxExtentSparse pieces, streamOptimized):
// header (or GD_AT_END footer), grain directory in memory, grain tables through a bounded
// LRU, uncompressed grains read with coalesced preads, compressed grains inflated with
// libdeflate and the last one cached for sequential sub-grain reads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "formats/vmdk/grain_walk.hpp"
#include "formats/vmdk/gt_cache.hpp"
#include "formats/vmdk/sparse_header.hpp"
#include "io/byte_view.hpp"

struct libdeflate_decompressor;

namespace h2k::vmdk {

class SparseExtent {
 public:
  // Parses and validates the header (and footer), loads the GD. Throws on any inconsistency.
  explicit SparseExtent(std::shared_ptr<const ByteView> source);
  ~SparseExtent();
  SparseExtent(const SparseExtent&) = delete;
  SparseExtent& operator=(const SparseExtent&) = delete;

  const SparseHeader& header() const { return header_; }  // the footer's fields for GD_AT_END streams
  bool gdAtEnd() const { return gdAtEnd_; }
  uint64_t capacityBytes() const { return header_.capacityBytes(); }
  const ByteView& source() const { return *source_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The embedded descriptor text (NULs trimmed), empty when there is none.
  std::string embeddedDescriptor() const;

  // How many grain tables this extent may cache (an image splits one budget among extents).
  void setGtCacheCapacity(size_t tables) { gts_.setCapacity(tables); }

  // Offsets are extent-relative bytes; offset < capacityBytes().
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen);
  void read(uint64_t offset, uint8_t* buf, size_t len);

 private:
  enum : uint32_t { kGdHole = 0, kGdZero = 1 };

  void loadFooter();
  // Reads and checks the GD at `gdSector`; returns an error message when unusable.
  bool tryLoadGd(uint64_t gdSector, std::string* why, int64_t* whyOffset);
  const std::vector<uint32_t>& grainTable(uint64_t gdIndex);
  Grain grain(uint64_t grainIndex);
  uint64_t visibleBytes(uint64_t grainIndex) const;
  const std::vector<uint8_t>& inflateGrain(uint64_t grainIndex, uint64_t sector);

  std::shared_ptr<const ByteView> source_;
  SparseHeader header_;
  bool gdAtEnd_ = false;
  std::vector<uint32_t> gd_;
  GtCache gts_;
  std::vector<std::string> warnings_;

  // Compressed grains: the decompressor, input buffer and the last decoded grain.
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> inflater_;
  std::vector<uint8_t> packed_;
  std::vector<uint8_t> decoded_;
  uint64_t decodedGrain_ = UINT64_MAX;
};

}  // namespace h2k::vmdk
