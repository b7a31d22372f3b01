// VHDX (Hyper-V gen 2, little-endian): file identifier, two CRC-32C headers (the valid one
// with the higher sequence wins), two region tables, the metadata region (block size,
// virtual size, sector size, parent locator) and the interleaved BAT of payload blocks and
// sector-bitmap blocks. A non-empty log is replayed in memory (vhdx_log.hpp), never ignored;
// an unusable one is refused (E_VHDX_BAD_LOG).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k {

namespace vhdx {
inline constexpr const char* kBadHeader = "E_VHDX_BAD_HEADER";      // file id / both headers invalid
inline constexpr const char* kBadRegion = "E_VHDX_BAD_REGION";      // region tables invalid, unknown required region
inline constexpr const char* kBadMetadata = "E_VHDX_BAD_METADATA";  // metadata table/items invalid
inline constexpr const char* kBadBat = "E_VHDX_BAD_BAT";            // BAT entry state/offset invalid
inline constexpr const char* kLogDirty = "E_VHDX_LOG_DIRTY";        // a dirty log this reader cannot replay (version)
inline constexpr const char* kBadParent = "E_VHDX_BAD_PARENT";      // parent locator unusable / linkage mismatch
inline constexpr const char* kRegionOverlap = "E_VHDX_REGION_OVERLAP";  // log/BAT/metadata regions overlap
inline constexpr const char* kBatOverlap = "E_VHDX_BAT_OVERLAP";        // a block overlaps header/log/BAT/metadata
inline constexpr const char* kBatShared = "E_VHDX_BAT_SHARED";          // two BAT entries share file bytes

// BAT entry states: the low 3 bits of an entry ([MS-VHDX] 2.5.1); the file offset is bits 20-63.
// Payload blocks use all of them; a sector-bitmap entry is only not-present (0) or present (6).
enum BatState : uint32_t {
  kNotPresent = 0,        // payload: no data (reads as the parent, or undefined = zero)
  kUndefined = 1,         // payload: contents undefined; read as a hole (zero under a parent)
  kZero = 2,              // payload: reads as zeros
  kUnmapped = 3,          // payload: unmapped (trimmed); read like undefined
  kReserved = 4,          // invalid in any entry
  kFullyPresent = 6,      // payload: all data in the file; sector bitmap: present
  kPartiallyPresent = 7,  // payload of a differencing disk: the sector bitmap says which sectors
};
inline uint32_t batState(uint64_t entry) { return static_cast<uint32_t>(entry & 7); }
inline uint64_t batOffset(uint64_t entry) { return (entry >> 20) << 20; }
}  // namespace vhdx

// CRC-32C (Castagnoli), as VHDX headers, region tables and log entries use.
uint32_t crc32c(const uint8_t* data, size_t len, uint32_t crc = 0);

class VhdxReader : public ImageReader {
 public:
  VhdxReader(std::shared_ptr<const ByteView> view, const OpenOptions& options);
  uint64_t virtualSize() const override { return virtualSize_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;
  // DataWriteGuid of the current header, which a child's parent_linkage must match.
  std::string dataWriteGuid() const { return dataWriteGuid_; }

 private:
  void readHeaders();
  void readRegions(uint64_t* batOffset, uint64_t* batLength, uint64_t* metaOffset, uint64_t* metaLength);
  void readMetadata(uint64_t offset, uint64_t length, const OpenOptions& options);
  void readBat(uint64_t offset, uint64_t length);
  // The header area, the log and the BAT and metadata regions must not overlap each other,
  // and no payload or sector-bitmap block may overlap them or another block (once, at open).
  void checkPlacement(uint64_t batOffset, uint64_t batLength, uint64_t metaOffset, uint64_t metaLength);
  void openParent(const std::vector<uint8_t>& locator, uint64_t at, const OpenOptions& options);
  // State of the payload run starting at `offset` within one block: sets *len and returns
  // 0 = parent, 1 = zero/hole, 2 = data at *host.
  int classify(uint64_t offset, uint64_t* len, uint64_t* host, BlockKind* kind);
  bool sectorPresent(uint64_t block, uint64_t sector);

  std::shared_ptr<const ByteView> view_;
  uint64_t virtualSize_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t logicalSector_ = 512;
  uint32_t physicalSector_ = 512;
  bool fixed_ = false;
  bool hasParent_ = false;
  uint64_t chunkRatio_ = 0;
  std::vector<uint64_t> bat_;
  std::string dataWriteGuid_;
  std::unique_ptr<ImageReader> parent_;
  std::string parentPath_;
  size_t replayedSectors_ = 0;
  uint64_t logOffset_ = 0, logLength_ = 0;  // from the current header
  uint64_t cachedBitmapChunk_ = UINT64_MAX;
  std::vector<uint8_t> bitmap_;
};

}  // namespace h2k
