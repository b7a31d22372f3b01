// libFuzzer target: the hosted sparse / streamOptimized extent parser fed from memory.
// Opens the extent (header, GD_AT_END footer, GD, RGD fallback), then walks block status
// and reads a bounded amount of data (GT loads, GTE checks, grain records, inflate).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "formats/vmdk/descriptor.hpp"
#include "formats/vmdk/sparse_extent.hpp"
#include "io/byte_view.hpp"

using namespace h2k::vmdk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    SparseExtent extent(std::make_unique<h2k::MemoryView>("fuzz.vmdk", data, size));
    std::string text = extent.embeddedDescriptor();
    if (!text.empty()) {
      try {
        (void)parseDescriptor(text.data(), text.size(), "fuzz.vmdk");
      } catch (const h2k::Error&) {
      }
    }
    const uint64_t cap = extent.capacityBytes();
    std::vector<uint8_t> buf(256 * 1024);
    uint64_t off = 0;
    size_t readBudget = 4 << 20;  // bytes read per input, so huge sparse captures stay fast
    for (int steps = 0; off < cap && steps < 256; ++steps) {
      h2k::BlockStatus s = extent.blockStatus(off, cap - off);
      if (s.length == 0 || s.length > cap - off) __builtin_trap();  // contract violation
      if (s.kind == h2k::BlockKind::Data && readBudget > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>({s.length, buf.size(), readBudget}));
        extent.read(off, buf.data(), n);
        readBudget -= n;
        // A sub-grain read at an odd offset exercises the decoded-grain cache.
        if (n > 1000) extent.read(off + 513, buf.data(), n - 513);
      }
      off += s.length;
    }
  } catch (const h2k::Error&) {
  }
  return 0;
}
