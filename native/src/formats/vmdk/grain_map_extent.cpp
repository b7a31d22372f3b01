#include "formats/vmdk/grain_map_extent.hpp"

#include <algorithm>

namespace h2k::vmdk {

uint64_t GrainMapExtent::visibleBytes(uint64_t grainIndex) const {
  const uint64_t start = grainIndex * grainBytes();
  return std::min(grainBytes(), sizeBytes() - start);
}

BlockStatus GrainMapExtent::blockStatus(uint64_t offset, uint64_t maxLen) {
  return grainRun(offset, maxLen, sizeBytes(), grainBytes(), perTable_, [this](uint64_t grainIndex, bool* wholeTable) {
    *wholeTable = tableEmpty(grainIndex / perTable_);
    return *wholeTable ? BlockKind::Hole : grain(grainIndex).kind;
  });
}

void GrainMapExtent::read(uint64_t offset, uint8_t* buf, size_t len) {
  auto grainAt = [this](uint64_t grainIndex) { return grain(grainIndex); };
  readGrains(offset, buf, len, grainBytes(), grainAt, [&](uint8_t* out, uint64_t pos, uint64_t end, Grain g) {
    return readStoredRun(*source_, out, pos, end, grainSectors_, g, grainAt);
  });
}

}  // namespace h2k::vmdk
