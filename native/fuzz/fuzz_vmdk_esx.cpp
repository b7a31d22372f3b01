// libFuzzer target: the ESX snapshot delta extents (COWD / vmfsSparse and SESparse) fed from
// memory. The descriptor's sector count is taken from the fuzzed header so the capacity
// check passes and the fuzzer reaches the GD, GT and grain checks; then block status is
// walked over the whole extent and a bounded amount of data is read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "formats/vmdk/cowd_extent.hpp"
#include "formats/vmdk/sesparse_extent.hpp"
#include "formats/vmdk/sparse_header.hpp"
#include "io/byte_view.hpp"

using namespace h2k::vmdk;

namespace {
void walk(Extent& e) {
  const uint64_t size = e.sizeBytes();
  std::vector<uint8_t> buf(256 * 1024);
  size_t budget = 4 << 20;
  uint64_t off = 0;
  for (int steps = 0; off < size && steps < 512; ++steps) {
    h2k::BlockStatus s = e.blockStatus(off, size - off);
    if (s.length == 0 || s.offset != off || s.length > size - off) __builtin_trap();  // contract violation
    if (s.kind == h2k::BlockKind::Data && budget > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>({s.length, buf.size(), budget}));
      e.read(off, buf.data(), n);
      budget -= n;
      if (n > 1000) e.read(off + 513, buf.data(), n - 513);  // unaligned start, coalesced grains
    }
    off += s.length;
  }
  if (size > 0) e.read(size - 1, buf.data(), 1);  // the partial last grain
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 24) return 0;
  try {
    auto source = std::make_unique<h2k::MemoryView>("fuzz-delta.vmdk", data, size);
    if (readLe32(data) == kCowdMagic) {
      CowdExtent extent(std::move(source), readLe32(data + 12));
      walk(extent);
    } else {
      // Capped like a parsed descriptor line (sectors << 9 must not overflow).
      const uint64_t sectors = std::min<uint64_t>(readLe64(data + 16), UINT64_MAX >> 9);
      SesparseExtent extent(std::move(source), sectors);
      walk(extent);
    }
  } catch (const h2k::Error&) {
  }
  return 0;
}
