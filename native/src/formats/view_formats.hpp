// The formats whose readers parse through a ByteView (VHD, VHDX, VDI, qcow2) and the OVA
// archive: content probing and opening, used by open_image.cpp and by the OVA reader to
// open a disk member in place.
#pragma once
#include <memory>
#include <string>

#include "formats/image_reader.hpp"
#include "formats/ova/byte_view.hpp"

namespace h2k {

// "qcow2" | "vhdx" | "vdi" | "ova" | "vhd", or "" when none matches. `head` holds the
// first `n` bytes of the view (at least 512 when the view is that long).
std::string probeViewFormat(const ByteView& view, const uint8_t* head, size_t n);

// Opens `format` (one of the names above) over `view`; nullptr when the format is not one of them.
std::unique_ptr<ImageReader> openViewImage(std::shared_ptr<const ByteView> view, const std::string& format,
                                           const OpenOptions& options);

}  // namespace h2k
