// Lists the members of a tar archive (ustar, GNU base-256 sizes, GNU long names, pax
// size=/path= records) without extracting anything: each member is a byte range of the
// archive that a SubFileView can open in place.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/byte_view.hpp"

namespace h2k {

namespace ova {
inline constexpr const char* kBadTar = "E_OVA_BAD_TAR";              // tar header unusable
inline constexpr const char* kNoMember = "E_OVA_NO_MEMBER";          // the named member is not in the archive
inline constexpr const char* kNoDisk = "E_OVA_NO_DISK";              // the archive holds no disk image
inline constexpr const char* kDigestMismatch = "E_OVA_DIGEST_MISMATCH";  // .mf digest differs
inline constexpr const char* kBadManifest = "E_OVA_BAD_MANIFEST";    // .mf line unusable / member not listed
}  // namespace ova

struct TarMember {
  std::string name;
  uint64_t offset = 0;  // of the data, in the archive
  uint64_t size = 0;
};

bool probeTar(const uint8_t* head, size_t len);

// Regular-file members in archive order. Throws E_OVA_BAD_TAR on a damaged header or a
// member that extends past the end of the archive.
std::vector<TarMember> listTarMembers(const ByteView& archive);

}  // namespace h2k
