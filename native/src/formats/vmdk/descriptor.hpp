// The VMDK text descriptor (standalone file or embedded in a sparse extent): header keys,
// extent lines and the ddb.* disk database. Pure text in, structure out; no file access.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace h2k::vmdk {

inline constexpr size_t kMaxDescriptorBytes = 1u << 20;  // 1 MiB, like qemu and VirtualBox
inline constexpr size_t kMaxExtents = 4096;              // 8 TiB of 2 GiB split files

struct ExtentLine {
  std::string access;    // RW / RDONLY / NOACCESS
  uint64_t sectors = 0;  // guest sectors covered
  std::string type;      // FLAT / SPARSE / ZERO / VMFS / VMFSSPARSE / VMFSRDM / VMFSRAW / SESPARSE
  std::string fileName;  // empty for ZERO
  uint64_t offsetSectors = 0;  // FLAT/VMFS: start sector inside the file
  size_t lineNumber = 0;
};

struct Descriptor {
  int version = 0;
  std::string encoding;
  std::string cid;
  std::string parentCid;
  std::string createType;
  std::string parentFileNameHint;
  std::vector<ExtentLine> extents;
  std::map<std::string, std::string> ddb;    // "ddb.adapterType" -> "ide", values unquoted
  std::map<std::string, std::string> other;  // any other key = value
  std::vector<std::string> warnings;

  uint64_t totalSectors() const;
  // True when the descriptor names a parent (a delta disk of a snapshot chain).
  bool isDelta() const;
};

// Parses descriptor text (stops at the first NUL). `source` names the file for errors and
// `baseOffset` is where the text starts inside it. Throws E_VMDK_BAD_DESCRIPTOR.
Descriptor parseDescriptor(const char* text, size_t len, const std::string& source, uint64_t baseOffset = 0);

// qemu's probe: after blank lines and '#' comments, the text starts with version=1|2|3.
bool looksLikeDescriptor(const char* text, size_t len);

}  // namespace h2k::vmdk
