// The OVA's .ovf descriptor as `convert` sees it: it does not parse the OVF (the disk is found by
// content), but a hostile descriptor must fail it just as it fails `h2k ovf` (src/ovf/ovf-xml-guard.ts):
// any DOCTYPE or markup declaration is E_OVF_DOCTYPE, a descriptor over 16 MiB E_OVF_TOO_LARGE.
#pragma once
#include <string>

#include "formats/ova/tar_index.hpp"
#include "io/byte_view.hpp"

namespace h2k {

namespace ovf {
inline constexpr const char* kDoctype = "E_OVF_DOCTYPE";    // the descriptor declares a DOCTYPE / entities
inline constexpr const char* kTooLarge = "E_OVF_TOO_LARGE";  // the descriptor is over kMaxOvfBytes
inline constexpr uint64_t kMaxOvfBytes = 16ull << 20;
}  // namespace ovf

// Throws when the descriptor `member` of `archivePath` declares a DOCTYPE (with or without
// entities or an external DTD) or any other markup declaration, or is too large to be one.
void checkOvfDescriptor(const ByteView& archive, const TarMember& member, const std::string& archivePath);

}  // namespace h2k
