// libFuzzer target: the vdi reader (header, tables, data paths) fed from memory. Parent
// and backing references cannot be followed from a memory view, so they fail cleanly.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/error.hpp"
#include "formats/vdi/vdi_reader.hpp"
#include "fuzz_image_walk.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto view = std::make_shared<h2k::MemoryView>("fuzz.vdi", data, size);
    h2k::OpenOptions opts;
    h2k::VdiReader reader(view);
    fuzzWalkImage(reader);
    (void)reader.info();
  } catch (const h2k::Error&) {
  }
  return 0;
}
