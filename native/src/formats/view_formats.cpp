#include "formats/view_formats.hpp"

#include "formats/qcow2/qcow2_reader.hpp"
#include "formats/vdi/vdi_reader.hpp"
#include "formats/vhd/vhd_reader.hpp"
#include "formats/vhdx/vhdx_reader.hpp"

namespace h2k {

std::string probeViewFormat(const ByteView& view, const uint8_t* head, size_t n) {
  if (probeQcow2(head, n)) return "qcow2";
  if (n >= 8 && std::string(reinterpret_cast<const char*>(head), 8) == "vhdxfile") return "vhdx";
  if (probeVdi(head, n)) return "vdi";
  if (n >= 263 && std::string(reinterpret_cast<const char*>(head + 257), 5) == "ustar") return "ova";
  if (probeVhd(view)) return "vhd";
  return "";
}

std::unique_ptr<ImageReader> openViewImage(std::shared_ptr<const ByteView> view, const std::string& format,
                                           const OpenOptions& options) {
  if (format == "qcow2") return std::make_unique<Qcow2Reader>(std::move(view), options);
  if (format == "vhdx") return std::make_unique<VhdxReader>(std::move(view), options);
  if (format == "vdi") return std::make_unique<VdiReader>(std::move(view));
  if (format == "vhd" || format == "vpc") return std::make_unique<VhdReader>(std::move(view), options);
  return nullptr;
}

}  // namespace h2k
