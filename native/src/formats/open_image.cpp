// Format detection by content and the factory that opens any supported image.
#include <cstring>

#include "common/error.hpp"
#include "formats/format_mismatch.hpp"
#include "formats/image_reader.hpp"
#include "formats/ova/ova_open.hpp"
#include "formats/raw/raw_reader.hpp"
#include "formats/view_formats.hpp"
#include "formats/vmdk/vmdk_open.hpp"
#include "io/file.hpp"

namespace h2k {

std::string detectFormat(const std::string& path) {
  if (std::string archive, member; splitArchivePath(path, &archive, &member)) {
    detectOvaMemberFormat(archive, member);  // the member must exist and be readable
    return "ova";
  }
  File f = File::open(path);
  uint64_t size = f.size();
  uint8_t head[4096] = {0};
  size_t n = f.readSome(head, sizeof head, 0);
  if (n == 0 && size == 0)
    throw Error(codes::kUnknownFormat, "empty file: " + path, path, 0,
                "the file has zero length; the copy or export did not complete");
  requireContentMatchesName(path);  // a .vmdk/.vhd/... that is not one is refused, not read as raw
  if (probeVmdk(head, n)) return "vmdk";
  FileView view(path);
  if (std::string f = probeViewFormat(view, head, n); !f.empty()) return f;
  return "raw";
}

std::unique_ptr<ImageReader> openImage(const std::string& path, const OpenOptions& options) {
  if (std::string archive, member; splitArchivePath(path, &archive, &member)) return openOvaDisk(archive, member, options);
  std::string format = options.format.empty() ? detectFormat(path) : options.format;
  if (format == "ova") return openOvaDisk(path, "", options);
  if (format == "vmdk") return openVmdk(path, options);
  if (format == "raw") return std::make_unique<RawReader>(path);
  if (auto r = openViewImage(std::make_shared<FileView>(path, sourceTapFor(options, path)), format, options)) return r;
  throw Error(codes::kUnknownFormat, "unsupported source format '" + format + "' for " + path, path, -1,
              "supported formats: vmdk, raw, qcow2, vhd, vhdx, vdi, ova");
}

}  // namespace h2k
