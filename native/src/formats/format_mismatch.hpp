// "No silent half-success": a file whose name says it is a VMDK/VHD/VHDX/VDI/qcow2/OVA but
// whose bytes are not that format is refused (E_FORMAT_MISMATCH), never read as raw. The
// extension <-> format table lives here and nowhere else.
#pragma once
#include <string>

namespace h2k {

namespace codes {
inline constexpr const char* kFormatMismatch = "E_FORMAT_MISMATCH";  // file name and content disagree
}

// The format an image file name promises ("vmdk", "vhd", ...), or "" when the name promises
// nothing (.raw, .img, .ami, any other or no extension): then any content is accepted.
std::string formatNamedBy(const std::string& path);

// Throws E_FORMAT_MISMATCH when `path`'s extension names a format its content (probed the way
// detectFormat does) is not. Cheap: no I/O unless the extension names a format. Callers
// that were told the format explicitly (-f) do not call this.
void requireContentMatchesName(const std::string& path, const std::string& content);

}  // namespace h2k
