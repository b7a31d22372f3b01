#include "formats/vmdk/sparse_header.hpp"

#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "formats/vmdk/vmdk_codes.hpp"

namespace h2k::vmdk {

uint32_t readLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

uint64_t readLe64(const uint8_t* p) { return static_cast<uint64_t>(readLe32(p)) | static_cast<uint64_t>(readLe32(p + 4)) << 32; }

uint64_t SparseHeader::gdEntries() const {
  uint64_t span = grainSize * numGTEsPerGT;
  return capacity / span + (capacity % span ? 1 : 0);
}

SparseHeader decodeSparseHeader(const uint8_t* s, const std::string& source, uint64_t offset) {
  uint32_t magic = readLe32(s);
  if (magic == kCowdMagic)
    throw Error(codes::kUnsupported, "COWD (vmfsSparse) extents are not supported: " + source, source,
                static_cast<int64_t>(offset),
                "this is an ESX snapshot delta; consolidate the snapshots (or clone the disk) in vSphere first");
  if (magic != kSparseMagic)
    throw Error(kBadMagic, "not a VMDK sparse extent (no KDMV magic): " + source, source, static_cast<int64_t>(offset),
                "the file is not a hosted sparse VMDK extent; check the descriptor's extent type or the file itself");
  SparseHeader h;
  h.version = readLe32(s + 4);
  h.flags = readLe32(s + 8);
  h.capacity = readLe64(s + 12);
  h.grainSize = readLe64(s + 20);
  h.descriptorOffset = readLe64(s + 28);
  h.descriptorSize = readLe64(s + 36);
  h.numGTEsPerGT = readLe32(s + 44);
  h.rgdOffset = readLe64(s + 48);
  h.gdOffset = readLe64(s + 56);
  h.overHead = readLe64(s + 64);
  h.uncleanShutdown = s[72];
  std::memcpy(h.newline, s + 73, 4);
  h.compressAlgorithm = static_cast<uint16_t>(s[77] | s[78] << 8);
  return h;
}

void validateSparseHeader(const SparseHeader& h, const std::string& source, uint64_t fileSize, uint64_t offset,
                          bool checkGd) {
  const auto at = static_cast<int64_t>(offset);
  const std::string damaged = "the VMDK header is damaged; re-copy or re-export the disk";
  if (h.version < 1 || h.version > 3)
    throw Error(codes::kUnsupported, "unsupported VMDK sparse version " + std::to_string(h.version) + " in " + source,
                source, at + 4, "only hosted sparse versions 1-3 are supported");
  uint32_t unknownIncompatible = h.flags & 0xFFFF0000u & ~(kFlagCompressed | kFlagMarkers);
  if (unknownIncompatible)
    throw Error(codes::kUnsupported, "unknown incompatible VMDK flags 0x" + [&] {
      char b[16];
      std::snprintf(b, sizeof b, "%x", unknownIncompatible);
      return std::string(b);
    }() + " in " + source, source, at + 8, "the extent uses a feature this reader does not know");
  if ((h.flags & kFlagMarkers) && !(h.flags & kFlagCompressed))
    throw Error(kBadHeader, "VMDK flags say markers without compression in " + source, source, at + 8, damaged);
  if (h.compressAlgorithm > 1)
    throw Error(codes::kUnsupported, "unknown VMDK compression algorithm " + std::to_string(h.compressAlgorithm) + " in " + source,
                source, at + 77, "only DEFLATE-compressed grains are supported");
  if ((h.flags & kFlagCompressed) && h.compressAlgorithm != 1)
    throw Error(kBadHeader, "VMDK flags say compressed grains but compressAlgorithm is 0 in " + source, source, at + 77,
                damaged);
  if ((h.flags & kFlagNewlineValid) &&
      !(h.newline[0] == '\n' && h.newline[1] == ' ' && h.newline[2] == '\r' && h.newline[3] == '\n'))
    throw Error(kBadHeader, "VMDK newline-detection bytes are altered in " + source, source, at + 73,
                "the file went through a text-mode (ASCII) transfer and is corrupt; copy it again in binary mode");
  if (h.grainSize == 0 || h.grainSize > kMaxGrainSectors || (h.grainSize & (h.grainSize - 1)) != 0)
    throw Error(kBadGrainSize, "invalid VMDK grain size " + std::to_string(h.grainSize) + " sectors in " + source, source,
                at + 20, "the grain size must be a power of two between 1 and 2^21 sectors; the header is damaged");
  if (h.compressed() && h.grainSize > kMaxCompressedGrainSectors)
    throw Error(kBadGrainSize, "compressed VMDK grain of " + std::to_string(h.grainSize) + " sectors is too large in " + source,
                source, at + 20, "compressed grains above 32 MiB are not supported");
  if (h.numGTEsPerGT == 0 || h.numGTEsPerGT > 512)
    throw Error(kBadGrainSize, "invalid VMDK grain table size " + std::to_string(h.numGTEsPerGT) + " in " + source, source,
                at + 44, "numGTEsPerGT must be 1..512; the header is damaged");
  if (h.capacity == 0 || h.capacity > (UINT64_MAX >> 9))
    throw Error(kBadCapacity, "invalid VMDK capacity " + std::to_string(h.capacity) + " sectors in " + source, source, at + 12,
                "the capacity is zero or overflows a byte count; the header is damaged");
  if (h.gdEntries() > kMaxGdEntries)
    throw Error(kBadCapacity, "VMDK capacity " + std::to_string(h.capacity) + " sectors needs more than 32 Mi grain tables in " +
                    source, source, at + 12, "the capacity is implausibly large for the grain geometry; the header is damaged");
  const uint64_t fileSectors = fileSize >> 9;
  if (h.descriptorOffset != 0) {
    if (h.descriptorSize == 0 || h.descriptorSize > kMaxEmbeddedDescriptorSectors)
      throw Error(kBadHeader, "invalid embedded descriptor size " + std::to_string(h.descriptorSize) + " sectors in " + source,
                  source, at + 36, damaged);
    if (h.descriptorOffset > fileSectors || h.descriptorSize > fileSectors - h.descriptorOffset)
      throw Error(codes::kTruncated, "embedded VMDK descriptor lies past the end of " + source, source,
                  static_cast<int64_t>(std::min<uint64_t>(h.descriptorOffset, UINT64_MAX >> 10) << 9),
                  "the file is truncated; re-copy or re-export it");
  }
  if (h.overHead > fileSectors)
    throw Error(codes::kTruncated, "VMDK extent " + source + " is shorter than its metadata area (" +
                    std::to_string(h.overHead) + " sectors)", source, static_cast<int64_t>(fileSize),
                "the file is truncated; re-copy or re-export it");
  if (checkGd && h.gdOffset == kGdAtEnd)
    throw Error(kBadFooter, "VMDK footer in " + source + " has no grain directory offset", source, at + 56, damaged);
}

}  // namespace h2k::vmdk
