// The walks over a grain map that both kinds of sparse VMDK extent make: the hosted sparse
// extent (sparse_extent.hpp) and the ESX delta extents (grain_map_extent.hpp). Templates over
// the extent's own grain lookup, so the read path adds no virtual call and allocates nothing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k::vmdk {

// One grain as its table maps it.
struct Grain {
  BlockKind kind;
  uint64_t sector;  // Data only: the grain's (or its compressed record's) first sector in the file, checked in bounds
};

// The run of grains of one kind from `offset`, at most `maxLen` and not past `size`.
// `kindOf(grainIndex, &wholeTable)` gives a grain's kind and whether its directory entry decides
// its whole table (of `perTable` grains): the walk then steps over that table at once.
template <class KindOf>
BlockStatus grainRun(uint64_t offset, uint64_t maxLen, uint64_t size, uint64_t grainBytes, uint64_t perTable, KindOf&& kindOf) {
  const uint64_t end = offset + std::min(maxLen, size - offset);
  const uint64_t tableSpan = grainBytes * perTable;
  bool whole = false;
  const BlockKind kind = kindOf(offset / grainBytes, &whole);
  uint64_t pos = offset;
  do {
    pos = whole ? (pos / tableSpan + 1) * tableSpan : (pos / grainBytes + 1) * grainBytes;
  } while (pos < end && kindOf(pos / grainBytes, &whole) == kind);
  return {offset, std::min(pos, end) - offset, kind};
}

// Reads [offset, offset + len) grain by grain: hole and zero grains as zeros, a data grain `g`
// through `readData(out, pos, end, g)`, which returns how many bytes from `pos` it read (the
// rest of the grain, or more: see readStoredRun).
template <class GrainAt, class ReadData>
void readGrains(uint64_t offset, uint8_t* buf, size_t len, uint64_t grainBytes, GrainAt&& grainAt, ReadData&& readData) {
  const uint64_t end = offset + len;
  for (uint64_t pos = offset; pos < end;) {
    uint8_t* out = buf + (pos - offset);
    const Grain g = grainAt(pos / grainBytes);
    if (g.kind == BlockKind::Data) {
      pos += readData(out, pos, end, g);
    } else {
      const uint64_t n = std::min(grainBytes - pos % grainBytes, end - pos);
      std::memset(out, 0, n);
      pos += n;
    }
  }
}

// Reads from `pos` (inside the data grain `g`) up to `end` with one pread: the rest of the grain
// and the following grains stored right after it in the file. Returns the bytes read.
template <class GrainAt>
uint64_t readStoredRun(const ByteView& source, uint8_t* out, uint64_t pos, uint64_t end, uint64_t grainSectors, Grain g,
                       GrainAt&& grainAt) {
  const uint64_t grainBytes = grainSectors << 9;
  const uint64_t gi = pos / grainBytes;
  const uint64_t inGrain = pos % grainBytes;
  uint64_t n = std::min(grainBytes - inGrain, end - pos);
  for (uint64_t nextSector = g.sector + grainSectors; pos + n < end; nextSector += grainSectors) {
    const Grain next = grainAt(gi + (inGrain + n) / grainBytes);
    if (next.kind != BlockKind::Data || next.sector != nextSector) break;
    n += std::min(grainBytes, end - pos - n);
  }
  source.readExact(out, n, (g.sector << 9) + inGrain);
  return n;
}

}  // namespace h2k::vmdk
