#include "formats/allocation_runs.hpp"

#include <algorithm>
#include <string>

#include "common/error.hpp"

namespace h2k {

std::vector<BlockStatus> allocationRuns(ImageReader& reader) {
  std::vector<BlockStatus> runs;
  const uint64_t size = reader.virtualSize();
  for (uint64_t off = 0; off < size;) {
    BlockStatus st = reader.blockStatus(off, size - off);
    if (st.length == 0)
      throw Error("E_INTERNAL", "block status returned an empty run at offset " + std::to_string(off));
    st.offset = off;
    st.length = std::min(st.length, size - off);
    if (!runs.empty() && runs.back().kind == st.kind)
      runs.back().length += st.length;
    else
      runs.push_back(st);
    off += st.length;
  }
  return runs;
}

}  // namespace h2k
