// libFuzzer target: the VMDK descriptor text parser and the descriptor probe.
#include <cstddef>
#include <cstdint>

#include "common/error.hpp"
#include "formats/vmdk/descriptor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  (void)h2k::vmdk::looksLikeDescriptor(text, size);
  try {
    h2k::vmdk::Descriptor d = h2k::vmdk::parseDescriptor(text, size, "fuzz.vmdk");
    // Exercise what the opener does with a parsed descriptor.
    (void)d.isDelta();
    (void)d.totalSectors();
  } catch (const h2k::Error&) {
  }
  return 0;
}
