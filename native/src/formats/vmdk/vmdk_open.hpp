// Entry points of the VMDK driver used by the format factory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "formats/image_reader.hpp"

namespace h2k {

// True when the first bytes are a VMDK sparse header (KDMV), a COWD header, or a text
// descriptor (after blank lines and '#' comments it starts with version=1|2|3).
bool probeVmdk(const uint8_t* head, size_t len);

// Opens a VMDK given either its descriptor file or a monolithic/stream file.
std::unique_ptr<ImageReader> openVmdk(const std::string& path, const OpenOptions& options);

}  // namespace h2k
