// SESparse: the ESXi space-efficient snapshot delta (SESPARSE extent), read-only. A const
// header (sector 0) places every region in sectors; a volatile header says whether the
// journal still needs replaying (then we refuse). The grain directory holds u64 entries
// (0 = no table, 0x10000000'xxxxxxxx = table number x); tables hold 4096 u64 GTEs whose top
// nibble says unallocated (Hole), unmapped or zero (Zero) or allocated (Data, grain number
// split across bits 48-59 and 0-47).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/vmdk/grain_map_extent.hpp"
#include "formats/vmdk/gt_cache.hpp"

namespace h2k::vmdk {

inline constexpr uint64_t kSesparseMagic = 0x00000000CAFEBABEull;
inline constexpr uint64_t kSesparseVolatileMagic = 0x00000000CAFECAFEull;
inline constexpr uint64_t kSesparseVersion = 0x0000000200000001ull;
inline constexpr uint64_t kSesparseGrainSectors = 8;   // the only grain size ESXi writes (4 KiB)
inline constexpr uint64_t kSesparseGtSectors = 64;     // 4096 u64 entries
inline constexpr uint64_t kSesparseGtEntries = 4096;
inline constexpr uint64_t kSesparseMaxCapacity = 1ull << 37;  // sectors: 64 TiB, the format's limit

struct SesparseHeader {
  uint64_t capacity = 0;  // sectors
  uint64_t volatileOffset = 0, volatileSize = 0;
  uint64_t journalOffset = 0, journalSize = 0;
  uint64_t gdOffset = 0, gdSize = 0;
  uint64_t gtOffset = 0, gtSize = 0;
  uint64_t grainsOffset = 0, grainsSize = 0;
  uint64_t freeGtNumber = 0;
  uint64_t nextTxnSeq = 0;
};

class SesparseExtent : public GrainMapExtent {
 public:
  // Validates both headers against the file and the descriptor line's sector count, loads the
  // GD. Throws E_VMDK_BAD_MAGIC, E_UNSUPPORTED, E_VMDK_JOURNAL_DIRTY, E_VMDK_BAD_HEADER,
  // E_VMDK_BAD_CAPACITY, E_VMDK_BAD_GD or E_TRUNCATED.
  SesparseExtent(std::shared_ptr<const ByteView> source, uint64_t descriptorSectors);
  const SesparseHeader& header() const { return header_; }

 protected:
  Grain grain(uint64_t grainIndex) override;
  bool tableEmpty(uint64_t gdIndex) const override { return gtSector_[gdIndex] == 0; }

 private:
  const std::vector<uint64_t>& grainTable(uint64_t gdIndex);
  void checkVolatileHeader();

  SesparseHeader header_;
  std::vector<uint64_t> gtSector_;  // per GD entry: sector of its table, 0 = none
  TableCache<uint64_t> gts_;
};

}  // namespace h2k::vmdk
