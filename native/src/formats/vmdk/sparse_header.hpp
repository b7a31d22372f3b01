// The 512-byte hosted sparse extent header (SparseExtentHeader, little-endian) and the
// rules that make it safe to use: version, flags, grain geometry, capacity, offsets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace h2k::vmdk {

inline constexpr uint32_t kSparseMagic = 0x564D444B;  // "KDMV"
inline constexpr uint32_t kCowdMagic = 0x44574F43;    // "COWD"
inline constexpr uint64_t kGdAtEnd = 0xFFFFFFFFFFFFFFFFull;
inline constexpr uint32_t kFlagNewlineValid = 1u << 0;
inline constexpr uint32_t kFlagRedundantGd = 1u << 1;
inline constexpr uint32_t kFlagZeroedGrain = 1u << 2;
inline constexpr uint32_t kFlagCompressed = 1u << 16;
inline constexpr uint32_t kFlagMarkers = 1u << 17;
inline constexpr uint64_t kMaxGrainSectors = 1ull << 21;            // qemu's cap
inline constexpr uint64_t kMaxCompressedGrainSectors = 1ull << 16;  // bounds the inflate buffers (32 MiB)
inline constexpr uint64_t kMaxGdEntries = 32ull << 20;              // qemu's cap: 32 Mi entries
inline constexpr uint64_t kMaxEmbeddedDescriptorSectors = 2048;     // 1 MiB

struct SparseHeader {
  uint32_t version = 0;
  uint32_t flags = 0;
  uint64_t capacity = 0;  // sectors
  uint64_t grainSize = 0;  // sectors
  uint64_t descriptorOffset = 0;
  uint64_t descriptorSize = 0;
  uint32_t numGTEsPerGT = 0;
  uint64_t rgdOffset = 0;
  uint64_t gdOffset = 0;
  uint64_t overHead = 0;
  uint8_t uncleanShutdown = 0;
  uint8_t newline[4] = {0, 0, 0, 0};
  uint16_t compressAlgorithm = 0;

  bool compressed() const { return compressAlgorithm == 1; }
  bool markers() const { return (flags & kFlagMarkers) != 0; }
  bool zeroedGrains() const { return (flags & kFlagZeroedGrain) != 0; }
  uint64_t grainBytes() const { return grainSize << 9; }
  uint64_t capacityBytes() const { return capacity << 9; }
  uint64_t gdEntries() const;  // valid only after validate()
};

uint32_t readLe32(const uint8_t* p);
uint64_t readLe64(const uint8_t* p);

// Decodes 512 bytes. Throws E_VMDK_BAD_MAGIC (E_UNSUPPORTED for COWD) when the magic is wrong.
SparseHeader decodeSparseHeader(const uint8_t* sector, const std::string& source, uint64_t offset);

// Enforces the header rules against the extent file size. Throws E_UNSUPPORTED,
// E_VMDK_BAD_HEADER, E_VMDK_BAD_GRAIN_SIZE, E_VMDK_BAD_CAPACITY or E_TRUNCATED.
// `checkGd` is false for a stream header whose GD is at the end (the footer has it).
void validateSparseHeader(const SparseHeader& h, const std::string& source, uint64_t fileSize, uint64_t offset,
                          bool checkGd);

}  // namespace h2k::vmdk
