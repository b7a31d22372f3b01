// libFuzzer target: the OVA tar member listing (ustar, base-256 sizes, pax and GNU long
// names), the .mf manifest parser and the .ovf descriptor's DOCTYPE check, fed from memory.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "formats/ova/manifest.hpp"
#include "formats/ova/ovf_guard.hpp"
#include "formats/ova/tar_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  h2k::MemoryView view("fuzz.ova", data, size);
  try {
    auto members = h2k::listTarMembers(view);
    for (const auto& m : members)
      if (m.offset > size || m.size > size - m.offset) __builtin_trap();  // listed past the end
  } catch (const h2k::Error&) {
  }
  try {
    h2k::checkOvfDescriptor(view, h2k::TarMember{"fuzz.ovf", 0, size}, "fuzz.ova");
  } catch (const h2k::Error&) {
  }
  try {
    (void)h2k::parseManifest(std::string(reinterpret_cast<const char*>(data), size), "fuzz.mf");
  } catch (const h2k::Error&) {
  }
  return 0;
}
