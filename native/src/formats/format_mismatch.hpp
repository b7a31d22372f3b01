// "No silent half-success": a file whose name says it is a VMDK/VHD/VHDX/VDI/qcow2/OVA but
// whose bytes are not that format is refused (E_FORMAT_MISMATCH), never read as raw. The
// extensions a format promises are its row's in format_registry.cpp.
#pragma once
#include <string>

namespace h2k {

namespace codes {
inline constexpr const char* kFormatMismatch = "E_FORMAT_MISMATCH";  // file name and content disagree
}

// Throws E_FORMAT_MISMATCH when `path`'s extension names a format its content (probed the way
// detectFormat does) is not. Cheap: no I/O unless the extension names a format. Callers
// that were told the format explicitly (-f) do not call this.
void requireContentMatchesName(const std::string& path, const std::string& content);

}  // namespace h2k
