// Shared by the fuzz targets of the ByteView readers: walk block status over the whole
// disk and read a bounded amount of guest data, so table lookups, bitmap runs and
// decompression all run on the fuzzed metadata.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/error.hpp"
#include "formats/image_reader.hpp"

inline void fuzzWalkImage(h2k::ImageReader& r) {
  const uint64_t size = r.virtualSize();
  std::vector<uint8_t> buf(256 * 1024);
  size_t budget = 4 << 20;
  uint64_t off = 0;
  for (int steps = 0; off < size && steps < 512; ++steps) {
    h2k::BlockStatus s = r.blockStatus(off, size - off);
    if (s.length == 0 || s.offset != off || s.length > size - off) __builtin_trap();  // contract violation
    if (s.kind == h2k::BlockKind::Data && budget > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>({s.length, buf.size(), budget}));
      r.read(off, buf.data(), n);
      budget -= n;
    }
    off += s.length;
  }
  if (size > 0) r.read(size - 1, buf.data(), 1);  // the tail is the usual edge case
}
