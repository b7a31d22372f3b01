// Entry points of the VMDK driver used by the format factory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"
#include "io/file.hpp"

namespace h2k {

// True when the first bytes are a VMDK sparse header (KDMV), a COWD header, or a text
// descriptor (after blank lines and '#' comments it starts with version=1|2|3).
bool probeVmdk(const uint8_t* head, size_t len);

// Opens a VMDK given either its descriptor file or a monolithic/stream file.
// `file` is the .vmdk opened (a descriptor, a sparse extent or an ESX delta); extents it names are
// opened beneath its directory.
std::unique_ptr<ImageReader> openVmdk(File file, const OpenOptions& options);

// A single-file sparse or streamOptimized VMDK in a view (an OVA member); a delta is refused.
std::unique_ptr<ImageReader> openVmdkView(std::shared_ptr<const ByteView> view, const OpenOptions& options);

}  // namespace h2k
