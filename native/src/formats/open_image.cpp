// Format detection by content (checked against the name's promise) and the one path that opens
// any supported image, both through the format table (format_registry.hpp).
#include <regex>

#include "common/error.hpp"
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

// VMware names the raw or delta extents of a descriptor <stem>-flat.vmdk, <stem>-f001.vmdk,
// <stem>-s001.vmdk, <stem>-delta.vmdk, <stem>-sesparse.vmdk, <stem>-rdm(p).vmdk. Returns the
// descriptor's file name, or "" when the name is not an extent's.
std::string descriptorOfExtent(const std::string& base) {
  static const std::regex extent(R"(^(.+)-(flat|delta|sesparse|rdm|rdmp|ctk|[fs][0-9]{3})\.vmdk$)", std::regex::icase);
  std::smatch m;
  return std::regex_match(base, m, extent) ? m[1].str() + ".vmdk" : "";
}

}  // namespace

std::string detectFormat(const File& f) {
  const std::string& path = f.path();
  if (f.size() == 0)
    throw Error(codes::kUnknownFormat, "empty file: " + path, path, 0,
                "the file has zero length; the copy or export did not complete");
  const Format* found = probeFormat(FileView(f.reopen()));
  const std::string content = found ? found->name : "raw";
  // "No silent half-success": a file whose extension promises a format but whose content is not
  // that format is refused, never read as raw (not checked when the format is given: -f).
  const Format* named = formatNamedBy(path);
  if (!named || content == named->name) return content;
  const std::string base = path.substr(path.find_last_of('/') + 1);
  const std::string what = content == "raw" ? named->signature : "its content is " + content;
  std::string hint = "to read it as " + content + " pass -f " + content + "; otherwise re-copy or re-export the disk";
  if (std::string descriptor = descriptorOfExtent(base); named->name == std::string("vmdk") && !descriptor.empty())
    hint = "this looks like an extent file of a VMDK; open the descriptor " + descriptor +
           " that names this extent (or pass -f raw to read this file alone)";
  throw Error(codes::kFormatMismatch, base + " is not a " + named->label + ": " + what, path, 0, hint);
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
  if (!format || !isReadable(*format))
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
