#include "formats/vmdk/grain_map_extent.hpp"

#include <algorithm>
#include <cstring>

namespace h2k::vmdk {

uint64_t GrainMapExtent::visibleBytes(uint64_t grainIndex) const {
  const uint64_t start = grainIndex * grainBytes();
  return std::min(grainBytes(), sizeBytes() - start);
}

BlockKind GrainMapExtent::kindOf(uint64_t grainIndex, bool* wholeTable) {
  BlockKind kind;
  *wholeTable = tableKind(grainIndex / perTable_, &kind);
  return *wholeTable ? kind : grain(grainIndex).kind;
}

BlockStatus GrainMapExtent::blockStatus(uint64_t offset, uint64_t maxLen) {
  const uint64_t gb = grainBytes();
  const uint64_t end = offset + std::min(maxLen, sizeBytes() - offset);
  const uint64_t tableSpan = gb * perTable_;
  bool whole = false;
  const BlockKind kind = kindOf(offset / gb, &whole);
  uint64_t pos = whole ? (offset / tableSpan + 1) * tableSpan : (offset / gb + 1) * gb;
  while (pos < end) {
    if (kindOf(pos / gb, &whole) != kind) break;
    // A directory entry that decides its whole table answers for all of it at once.
    pos = whole ? (pos / tableSpan + 1) * tableSpan : pos + gb;
  }
  return {offset, std::min(pos, end) - offset, kind};
}

void GrainMapExtent::read(uint64_t offset, uint8_t* buf, size_t len) {
  const uint64_t gb = grainBytes();
  const uint64_t end = offset + len;
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t gi = pos / gb;
    const uint64_t inGrain = pos % gb;
    uint64_t n = std::min(gb - inGrain, end - pos);
    uint8_t* out = buf + (pos - offset);
    bool whole = false;
    if (kindOf(gi, &whole) != BlockKind::Data) {
      std::memset(out, 0, n);
    } else {
      Grain g = grain(gi);
      // Following grains stored right after this one are read with the same pread.
      uint64_t nextSector = g.sector + grainSectors_;
      while (pos + n < end) {
        Grain next = grain(gi + (inGrain + n) / gb);
        if (next.kind != BlockKind::Data || next.sector != nextSector) break;
        n += std::min(gb, end - pos - n);
        nextSector += grainSectors_;
      }
      source_->readExact(out, n, (g.sector << 9) + inGrain);
    }
    pos += n;
  }
}

}  // namespace h2k::vmdk
