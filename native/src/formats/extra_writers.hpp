// Output formats beyond qcow2/raw: "vdi" (VirtualBox dynamic) and "vmdk" (streamOptimized,
// for VMware / OVA). The engine asks here before its own qcow2/raw writers.
#pragma once
#include <memory>
#include <string>

#include "formats/image_writer.hpp"
#include "io/file.hpp"

namespace h2k {

bool isExtraOutputFormat(const std::string& format);

// `finalPath` is where the output ends up (the VMDK descriptor names its own file).
std::unique_ptr<ImageWriter> makeExtraWriter(const std::string& format, const File& file, uint64_t virtualSize,
                                             const std::string& finalPath);

}  // namespace h2k
