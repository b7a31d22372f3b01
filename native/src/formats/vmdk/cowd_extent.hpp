// COWD: the ESX "vmfsSparse" snapshot delta (VMFSSPARSE extent). A 2048-byte LE header,
// a grain directory of u32 GT sector numbers, grain tables of 4096 u32 grain sector numbers.
// GTE 0 is unallocated (the parent shows through: Hole); anything else is the grain's sector.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/vmdk/grain_map_extent.hpp"
#include "formats/vmdk/gt_cache.hpp"

namespace h2k::vmdk {

inline constexpr uint64_t kCowdHeaderBytes = 2048;
inline constexpr uint64_t kCowdGtEntries = 4096;

struct CowdHeader {
  uint32_t version = 0;
  uint32_t flags = 0;
  uint32_t capacity = 0;   // sectors
  uint32_t grainSize = 0;  // sectors
  uint32_t gdSector = 0;
  uint32_t gdEntries = 0;
  uint32_t nextFreeSector = 0;
  uint8_t dirty = 0;
};

class CowdExtent : public GrainMapExtent {
 public:
  // Validates the header against the file and the descriptor line's sector count, loads the
  // GD. Throws E_VMDK_BAD_MAGIC, E_UNSUPPORTED, E_VMDK_BAD_GRAIN_SIZE, E_VMDK_BAD_CAPACITY,
  // E_VMDK_BAD_GD or E_TRUNCATED.
  CowdExtent(std::shared_ptr<const ByteView> source, uint64_t descriptorSectors);
  const CowdHeader& header() const { return header_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 protected:
  Grain grain(uint64_t grainIndex) override;
  bool tableEmpty(uint64_t gdIndex) const override { return gd_[gdIndex] == 0; }

 private:
  const std::vector<uint32_t>& grainTable(uint64_t gdIndex);

  CowdHeader header_;
  std::vector<uint32_t> gd_;
  GtCache gts_;
  std::vector<std::string> warnings_;
};

}  // namespace h2k::vmdk
