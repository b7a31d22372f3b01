// The one interface every input format implements. The engine, the hashers and
// `h2k info` see only this; format details stay inside formats/<fmt>/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "io/file.hpp"
#include "io/read_tap.hpp"

namespace h2k {

enum class BlockKind { Data, Zero, Hole };  // Hole: unallocated (reads as zero in a base image)

struct BlockStatus {
  uint64_t offset = 0;  // guest byte offset where the run starts (== the offset asked for)
  uint64_t length = 0;  // > 0, never past virtualSize
  BlockKind kind = BlockKind::Data;
};

struct ExtentInfo {
  std::string access;   // RW / RDONLY / NOACCESS
  std::string type;     // SPARSE / FLAT / ZERO / VMFS / RAW / ...
  std::string file;     // absolute path, empty for ZERO
  uint64_t sizeBytes = 0;   // guest bytes covered
  uint64_t fileOffset = 0;  // FLAT/VMFS: byte offset inside the file
};

struct ImageInfo {
  std::string format;       // "vmdk", "raw", ...
  std::string subformat;    // createType for VMDK ("monolithicSparse", ...), empty if none
  uint64_t virtualSize = 0;
  uint64_t fileBytes = 0;        // sum of the sizes of all files that make up the image
  uint64_t allocatedBytes = 0;   // guest bytes backed by data (Data runs)
  std::string compression;       // "none", "deflate", ...
  std::vector<ExtentInfo> extents;
  std::vector<std::string> files;                 // every file the image consists of (descriptor first)
  std::map<std::string, std::string> properties;  // adapterType, hwVersion, cid, parentCid, geometry, ...
  std::vector<std::string> warnings;
};

class ImageReader {
 public:
  virtual ~ImageReader() = default;
  virtual uint64_t virtualSize() const = 0;
  // Status of the run starting at `offset` (< virtualSize), at most maxLen bytes long.
  virtual BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) = 0;
  // Guest-visible bytes [offset, offset+len); must lie within virtualSize.
  virtual void read(uint64_t offset, uint8_t* buf, size_t len) = 0;
  // Metadata for `h2k info`; allocatedBytes may require a block-status walk.
  virtual ImageInfo info() = 0;
  // Integrity checks deferred to the end of a full read (OpenOptions::deferDigestChecks):
  // throws when one fails. A reader that deferred nothing does nothing.
  virtual void finalCheck() {}
};

struct OpenOptions {
  // Extent/parent paths that are absolute or contain ".." are refused unless this is set.
  bool allowExternalPaths = false;
  // Force a format instead of probing by content ("" = detect).
  std::string format;
  // Parent/backing chains: canonical paths of the images already open above this one
  // (loop detection) and their count (depth cap). See formats/parent_chain.hpp.
  std::vector<std::string> openChain;
  // Asked for a tap on every file the image itself is made of (the file opened, VMDK extent
  // files; not parents or backing files): `convert --hash` hashes those files from the
  // conversion's own reads. See io/read_tap.hpp.
  FileTapFactory sourceFileTaps;
  // An OVA disk's .mf digest is normally checked by reading the member before anything else.
  // A caller that reads the whole disk anyway (convert) sets this: the digest is then computed
  // from its own reads and checked by finalCheck(), which it must call before trusting them.
  bool deferDigestChecks = false;
  // When set, the source path was named by something untrusted (an OVF href, a watch-folder
  // drop): it must lie beneath this directory and is opened through io/open_beneath.hpp.
  std::string sourceRoot;
};

// The callers' side of blockStatus / read (offset inside the disk, a non-empty status query, a
// read that ends inside): each reader checks it first, E_INVALID_ARGUMENT naming `name`.
inline void requireStatusRange(const std::string& name, uint64_t size, uint64_t offset, uint64_t maxLen) {
  if (offset >= size || maxLen == 0)
    throw Error(codes::kInvalidArgument, "block status past the end of " + name, name, static_cast<int64_t>(offset));
}
inline void requireReadRange(const std::string& name, uint64_t size, uint64_t offset, uint64_t len) {
  if (offset > size || len > size - offset)
    throw Error(codes::kInvalidArgument, "read past the end of " + name, name, static_cast<int64_t>(offset));
}

inline std::shared_ptr<ReadTap> sourceTapFor(const OpenOptions& options, const File& file) {
  return options.sourceFileTaps ? options.sourceFileTaps(file) : nullptr;
}

// Probes the content (magic bytes, descriptor text) and opens the right reader.
std::unique_ptr<ImageReader> openImage(const std::string& path, const OpenOptions& options = {});
// The same for a file already opened (a parent or backing file opened beneath its child's
// directory). OVA members are addressed by path only.
std::unique_ptr<ImageReader> openImage(File file, const OpenOptions& options);

// The format name detected from content: "vmdk", "raw", ... (raw when nothing matches).
std::string detectFormat(const std::string& path);
std::string detectFormat(const File& file);
// options.format, or the format detected from content of the source as openImage would open it
// (beneath options.sourceRoot when that is set).
std::string detectSourceFormat(const std::string& path, const OpenOptions& options);

}  // namespace h2k
