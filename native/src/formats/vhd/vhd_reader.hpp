// VHD (Virtual PC / Hyper-V gen 1, big-endian): fixed (data + 512-byte footer), dynamic
// (footer copy, dynamic header, BAT, blocks with sector bitmaps) and differencing (same,
// clear bitmap bits read the parent named by the W2ru/W2ku locators).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k {

namespace vhd {
inline constexpr const char* kBadFooter = "E_VHD_BAD_FOOTER";      // cookie/version/type/size unusable
inline constexpr const char* kBadChecksum = "E_VHD_BAD_CHECKSUM";  // footer/header checksum mismatch
inline constexpr const char* kBadHeader = "E_VHD_BAD_HEADER";      // dynamic header unusable
inline constexpr const char* kBadBat = "E_VHD_BAD_BAT";            // BAT entry/block outside the file
inline constexpr const char* kBadParent = "E_VHD_BAD_PARENT";      // parent missing/mismatched UUID
inline constexpr const char* kTruncated = "E_VHD_TRUNCATED";       // footer/dynamic header/BAT cut off by EOF
inline constexpr const char* kBatOverlap = "E_VHD_BAT_OVERLAP";    // a block overlaps footer/header/BAT/locator
inline constexpr const char* kBatShared = "E_VHD_BAT_SHARED";      // two BAT entries share file bytes
}  // namespace vhd

// True when `view` starts with a "conectix" footer (the copy of a dynamic disk, or what is left
// of a truncated VHD: the reader then says what is missing) or ends with one (512 bytes, or
// the 511 bytes Virtual PC before 2004 wrote).
bool probeVhd(const ByteView& view);

class VhdReader : public ImageReader {
 public:
  VhdReader(std::shared_ptr<const ByteView> view, const OpenOptions& options);
  uint64_t virtualSize() const override { return virtualSize_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;
  const std::array<uint8_t, 16>& uuid() const { return uuid_; }

 private:
  enum Type : uint32_t { kFixed = 2, kDynamic = 3, kDifferencing = 4 };
  void parseFooter(const uint8_t* f);
  void openDynamic(const OpenOptions& options);
  void openParent(const uint8_t* hdr, const OpenOptions& options);
  // Blocks must not overlap the footers, the dynamic header, the BAT, the parent locators or
  // each other (checked once at open).
  void checkBlockPlacement(const uint8_t* hdr, uint64_t batOffset);
  // Within one block: length of the run starting at `offset` whose sectors share one
  // bitmap state; *present says whether they are stored in this file.
  uint64_t bitmapRun(uint32_t block, uint64_t offset, uint64_t maxLen, bool* present);
  const std::vector<uint8_t>& bitmap(uint32_t block);

  std::shared_ptr<const ByteView> view_;
  uint32_t type_ = 0;
  uint64_t virtualSize_ = 0;
  uint64_t dataOffset_ = 0;
  uint64_t trailingFooterAt_ = UINT64_MAX;  // where the trailing footer starts; UINT64_MAX: missing
  std::string creator_;
  std::array<uint8_t, 16> uuid_{};
  uint16_t cyls_ = 0;
  uint8_t heads_ = 0, spt_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t bitmapBytes_ = 0;
  std::vector<uint32_t> bat_;
  std::unique_ptr<ImageReader> parent_;
  std::string parentPath_;
  uint32_t cachedBitmapBlock_ = UINT32_MAX;
  std::vector<uint8_t> cachedBitmap_;
  std::vector<std::string> warnings_;
};

}  // namespace h2k
