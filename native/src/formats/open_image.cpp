// Format detection by content and the one path that opens any supported image (both through
// the format table, format_registry.hpp).
#include "common/error.hpp"
#include "formats/format_mismatch.hpp"
#include "formats/format_registry.hpp"
#include "formats/image_reader.hpp"
#include "formats/ova/ova_open.hpp"
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
  if (f.size() == 0)
    throw Error(codes::kUnknownFormat, "empty file: " + path, path, 0,
                "the file has zero length; the copy or export did not complete");
  const Format* found = probeFormat(FileView(f.reopen()));
  std::string content = found ? found->name : "raw";
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
  std::string name = options.format.empty() ? detectFormat(file) : options.format;
  const Format* format = findFormat(name);
  if (!format || !format->readable())
    throw Error(codes::kUnknownFormat, "unsupported source format '" + name + "' for " + file.path(), file.path(), -1,
                "supported formats: " + formatNames(isReadable));
  if (format->openFile) return format->openFile(std::move(file), options);
  auto tap = sourceTapFor(options, file);
  return format->openView(std::make_shared<FileView>(std::move(file), std::move(tap)), options);
}

std::unique_ptr<ImageReader> openImage(const std::string& path, const OpenOptions& options) {
  if (!options.sourceRoot.empty()) return openImage(openUnderRoot(path, options.sourceRoot), options);
  if (std::string archive, member; splitArchivePath(path, &archive, &member)) return openOvaDisk(archive, member, options);
  return openImage(File::open(path), options);
}

}  // namespace h2k
