// Format detection by content and the factory that opens any supported image.
#include <unistd.h>

#include <cstring>

#include "common/error.hpp"
#include "formats/format_mismatch.hpp"
#include "formats/image_reader.hpp"
#include "formats/ova/ova_open.hpp"
#include "formats/raw/raw_reader.hpp"
#include "formats/view_formats.hpp"
#include "formats/vmdk/vmdk_open.hpp"
#include "io/file.hpp"
#include "io/open_beneath.hpp"

namespace h2k {

namespace {

// A source named by something untrusted: `path` must be `root/<name>`, opened beneath root.
File openUnderRoot(const std::string& path, const std::string& root) {
  std::string prefix = root.back() == '/' ? root : root + "/";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.size() == prefix.size())
    throw Error(codes::kPathEscape, "refusing " + path + ": it is not inside " + root, path, -1,
                "the source must lie inside the directory that named it");
  return openBeneath(root, path.substr(prefix.size()), root);
}

}  // namespace

std::string detectFormat(const File& f) {
  const std::string& path = f.path();
  uint64_t size = f.size();
  uint8_t head[4096] = {0};
  size_t n = f.readSome(head, sizeof head, 0);
  if (n == 0 && size == 0)
    throw Error(codes::kUnknownFormat, "empty file: " + path, path, 0,
                "the file has zero length; the copy or export did not complete");
  std::string content = "raw";
  if (probeVmdk(head, n)) content = "vmdk";
  else if (std::string fmt = probeViewFormat(FileView(f.reopen()), head, n); !fmt.empty()) content = fmt;
  requireContentMatchesName(path, content);  // a .vmdk/.vhd/... that is not one is refused, not read as raw
  return content;
}

std::string detectFormat(const std::string& path) {
  if (std::string archive, member; splitArchivePath(path, &archive, &member)) {
    detectOvaMemberFormat(archive, member);  // the member must exist and be readable
    return "ova";
  }
  return detectFormat(File::open(path));
}

std::string detectSourceFormat(const std::string& path, const OpenOptions& options) {
  if (!options.format.empty()) return options.format;
  if (!options.sourceRoot.empty()) return detectFormat(openUnderRoot(path, options.sourceRoot));
  return detectFormat(path);
}

std::unique_ptr<ImageReader> openImage(File file, const OpenOptions& options) {
  std::string format = options.format.empty() ? detectFormat(file) : options.format;
  const std::string path = file.path();
  if (format == "ova") return openOvaDisk(std::move(file), "", options);
  if (format == "vmdk") return openVmdk(std::move(file), options);
  if (format == "raw") return std::make_unique<RawReader>(std::move(file));
  auto tap = sourceTapFor(options, file);
  if (auto r = openViewImage(std::make_shared<FileView>(std::move(file), std::move(tap)), format, options)) return r;
  throw Error(codes::kUnknownFormat, "unsupported source format '" + format + "' for " + path, path, -1,
              "supported formats: vmdk, raw, qcow2, vhd, vhdx, vdi, ova");
}

std::unique_ptr<ImageReader> openImage(const std::string& path, const OpenOptions& options) {
  if (!options.sourceRoot.empty()) return openImage(openUnderRoot(path, options.sourceRoot), options);
  if (std::string archive, member; splitArchivePath(path, &archive, &member)) return openOvaDisk(archive, member, options);
  return openImage(File::open(path), options);
}

}  // namespace h2k
