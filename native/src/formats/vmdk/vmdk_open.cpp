// probeVmdk / openVmdk / openVmdkView: decide whether a file is a sparse extent or a text descriptor,
// resolve and open every extent (through the path guard), and build the image.
#include "formats/vmdk/vmdk_open.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "common/error.hpp"
#include "common/path_guard.hpp"
#include "formats/backing_overlay.hpp"
#include "formats/vmdk/cowd_extent.hpp"
#include "formats/vmdk/descriptor.hpp"
#include "formats/vmdk/sesparse_extent.hpp"
#include "formats/vmdk/sparse_header.hpp"
#include "formats/vmdk/vmdk_codes.hpp"
#include "formats/vmdk/vmdk_image.hpp"

namespace h2k {

using namespace vmdk;

bool probeVmdk(const uint8_t* head, size_t len) {
  if (len >= 4) {
    uint32_t magic = readLe32(head);
    if (magic == kSparseMagic || magic == kCowdMagic) return true;
  }
  return looksLikeDescriptor(reinterpret_cast<const char*>(head), len);
}

namespace {

// Delta disks (parentCID set) read through to their parent: formats/backing_overlay.hpp.
std::unique_ptr<ImageReader> withParent(std::unique_ptr<ImageReader> image, const Descriptor& d, const std::string& path,
                                        const OpenOptions& options) {
  return withVmdkParent(std::move(image), d.isDelta(), d.parentFileNameHint, d.parentCid, path, options);
}

std::shared_ptr<const ByteView> openExtentFile(const std::string& baseDir, const std::string& name, const std::string& descriptorPath,
                                           const OpenOptions& options) {
  const std::string resolved = referencedPath(baseDir, name);
  try {
    File file = openReferencedFile(baseDir, name, options.allowExternalPaths, descriptorPath);
    file.setReadTap(sourceTapFor(options, file));
    return std::make_unique<FileView>(std::move(file));
  } catch (const Error& e) {
    if (e.code() != codes::kNotFound) throw;
    throw Error(kMissingExtent, "extent file '" + name + "' named by " + descriptorPath + " does not exist (" + resolved + ")",
                descriptorPath, -1, "copy every file of the disk (the descriptor and all its extent files) into one directory");
  }
}

bool hasCowdMagic(const ByteView& source) {
  uint8_t head[4];
  if (source.size() < sizeof head) return false;
  source.readExact(head, sizeof head, 0);
  return readLe32(head) == kCowdMagic;
}

// One hosted sparse file (monolithicSparse, streamOptimized, or an extent opened alone) as a whole
// image: a loose file (`options` given: a delta reads through its parent) or an OVA member
// (nullptr: an archive holds whole disks, so a delta is refused).
std::unique_ptr<ImageReader> openSparse(std::shared_ptr<const ByteView> view, const std::string& path, const OpenOptions* options) {
  auto sparse = std::make_unique<SparseExtent>(view);
  std::vector<std::string> warnings;
  Descriptor d;
  std::string text = sparse->embeddedDescriptor();
  if (!text.empty()) {
    d = parseDescriptor(text.data(), text.size(), path, sparse->header().descriptorOffset << 9);
    if (!options && d.isDelta())
      throw Error(codes::kUnsupported, path + " is a VMDK delta disk; an OVA must hold whole disks", path, -1,
                  "re-export the VM with its snapshots consolidated");
    if (d.extents.size() != 1 || d.extents[0].type != "SPARSE")
      warnings.push_back("embedded descriptor of " + path + " lists other extents; only this file's own content is read");
    else if (d.extents[0].sectors != sparse->header().capacity)
      warnings.push_back("embedded descriptor says " + std::to_string(d.extents[0].sectors) + " sectors but the header capacity is " +
                         std::to_string(sparse->header().capacity) + "; using the header");
  } else {
    d.version = 1;
    d.createType = sparse->header().compressed() ? "streamOptimized" : "monolithicSparse";
    if (options) warnings.push_back(path + " has no embedded descriptor (a single extent of a split disk?); reading it alone");
  }
  for (auto& w : d.warnings) warnings.push_back(w);
  std::vector<PlacedExtent> extents(1);
  uint64_t size = sparse->capacityBytes();
  extents[0].info = {d.extents.empty() ? "RW" : d.extents[0].access, "SPARSE", view->name(), size, 0};
  extents[0].extent = std::make_unique<SparseSlot>(size, std::move(sparse));
  Descriptor meta = d;
  std::unique_ptr<ImageReader> image =
      std::make_unique<VmdkImage>(std::move(d), std::vector<std::string>{path}, std::move(extents), std::move(warnings));
  return options ? withParent(std::move(image), meta, path, *options) : std::move(image);
}

std::unique_ptr<ImageReader> openDescriptorFile(const File& file, const std::string& path, const OpenOptions& options) {
  uint64_t size = file.size();
  if (size > kMaxDescriptorBytes)
    throw Error(kBadDescriptor, path + " is neither a VMDK sparse extent nor a descriptor (text larger than 1 MiB)", path, 0,
                "open the descriptor .vmdk or the monolithic .vmdk file, not a data file");
  std::string text(size, '\0');
  file.readExact(text.data(), text.size(), 0);
  if (!looksLikeDescriptor(text.data(), text.size()))
    throw Error(kBadMagic, path + " is not a VMDK: no KDMV sparse header and no 'version=' descriptor line", path, 0,
                "the file is not a VMDK or is damaged; check that the copy completed");
  Descriptor d = parseDescriptor(text.data(), text.size(), path);
  std::vector<std::string> warnings = d.warnings;
  std::vector<std::string> files{path};
  std::vector<PlacedExtent> extents;
  const std::string baseDir = dirName(path);
  for (const auto& line : d.extents) {
    PlacedExtent placed;
    const uint64_t bytes = line.sectors << 9;  // the parser bounds the total below 2^64 bytes
    placed.info.access = line.access;
    placed.info.type = line.type;
    placed.info.sizeBytes = bytes;
    const std::string where = path + " line " + std::to_string(line.lineNumber);
    if (line.type == "ZERO") {
      placed.extent = std::make_unique<EmptyExtent>(bytes, BlockKind::Zero);
    } else if (line.type == "VMFSRDM" || line.type == "VMFSRAW") {
      throw Error(codes::kUnsupported, line.type + " extents (raw device mappings) are not supported: " + where, path, -1,
                  "the data lives on a LUN, not in a file; image the LUN and convert that");
    } else if (line.type != "SPARSE" && line.type != "FLAT" && line.type != "VMFS" && line.type != "VMFSSPARSE" &&
               line.type != "SESPARSE") {
      throw Error(kBadDescriptor, "unknown extent type '" + line.type + "' in " + where, path, -1,
                  "expected SPARSE, FLAT, VMFS, VMFSSPARSE, SESPARSE or ZERO");
    } else {
      checkReferencedName(line.fileName, options.allowExternalPaths, path);
      std::string resolved = referencedPath(baseDir, line.fileName);
      placed.info.file = resolved;
      if (line.access == "NOACCESS") {
        warnings.push_back("extent " + line.fileName + " is NOACCESS; it reads as zeros");
        placed.extent = std::make_unique<EmptyExtent>(bytes, BlockKind::Hole);
      } else {
        auto source = openExtentFile(baseDir, line.fileName, path, options);
        if (std::find(files.begin(), files.end(), resolved) == files.end()) files.push_back(resolved);
        // ESX snapshot deltas; like qemu, a SPARSE line may also name a COWD file.
        if (line.type == "VMFSSPARSE" || (line.type == "SPARSE" && hasCowdMagic(*source))) {
          auto cowd = std::make_unique<CowdExtent>(std::move(source), line.sectors);
          for (const auto& w : cowd->warnings()) warnings.push_back(w);
          placed.extent = std::move(cowd);
        } else if (line.type == "SESPARSE") {
          placed.extent = std::make_unique<SesparseExtent>(std::move(source), line.sectors);
        } else if (line.type == "SPARSE") {
          auto sparse = std::make_unique<SparseExtent>(std::move(source));
          if (sparse->header().capacity != line.sectors)
            warnings.push_back("extent " + line.fileName + ": descriptor says " + std::to_string(line.sectors) +
                               " sectors, sparse header says " + std::to_string(sparse->header().capacity) +
                               "; the descriptor's size is used");
          placed.extent = std::make_unique<SparseSlot>(bytes, std::move(sparse));
        } else {
          if (line.offsetSectors > (UINT64_MAX >> 9))
            throw Error(kBadDescriptor, "extent offset too large in " + where, path, -1, "the descriptor is damaged");
          placed.info.fileOffset = line.offsetSectors << 9;
          placed.extent = std::make_unique<FlatExtent>(bytes, std::move(source), placed.info.fileOffset);
        }
      }
    }
    extents.push_back(std::move(placed));
  }
  Descriptor meta = d;
  return withParent(std::make_unique<VmdkImage>(std::move(d), std::move(files), std::move(extents), std::move(warnings)),
                    meta, path, options);
}

}  // namespace

std::unique_ptr<ImageReader> openVmdk(File file, const OpenOptions& options) {
  // Absolute paths so info() names files unambiguously and extents resolve from any cwd.
  const std::string path = std::filesystem::absolute(file.path()).lexically_normal().string();
  file.setReadTap(sourceTapFor(options, file));
  uint8_t head[4] = {0, 0, 0, 0};
  size_t n = file.readSome(head, sizeof head, 0);
  if (n == 0)
    throw Error(codes::kTruncated, "empty file: " + path, path, 0, "the file has zero length; the copy or export did not complete");
  if (n == 4 && readLe32(head) == kCowdMagic)
    throw Error(codes::kUnsupported, path + " is an ESX vmfsSparse delta (COWD) opened without its descriptor", path, 0,
                "open the descriptor .vmdk that names this -delta.vmdk: it carries the disk's parent and CID");
  if (n == 4 && readLe32(head) == kSparseMagic) return openSparse(std::make_shared<FileView>(std::move(file)), path, &options);
  return openDescriptorFile(file, path, options);
}

std::unique_ptr<ImageReader> openVmdkView(std::shared_ptr<const ByteView> view, const OpenOptions&) {
  const std::string name = view->name();
  return openSparse(std::move(view), name, nullptr);
}

}  // namespace h2k
