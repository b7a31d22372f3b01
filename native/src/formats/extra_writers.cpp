#include "formats/extra_writers.hpp"

#include "formats/ova/stream_vmdk_writer.hpp"
#include "formats/vdi/vdi_writer.hpp"

namespace h2k {

bool isExtraOutputFormat(const std::string& format) { return format == "vdi" || format == "vmdk"; }

std::unique_ptr<ImageWriter> makeExtraWriter(const std::string& format, const File& file, uint64_t virtualSize,
                                             const std::string& finalPath) {
  if (format == "vdi") return std::make_unique<VdiWriter>(file, virtualSize);
  if (format == "vmdk") {
    auto slash = finalPath.find_last_of('/');
    return std::make_unique<StreamVmdkWriter>(file, virtualSize, slash == std::string::npos ? finalPath : finalPath.substr(slash + 1));
  }
  return nullptr;
}

}  // namespace h2k
