// VDI (VirtualBox, little-endian): header with the 0xBEDA107F signature at 64, a block
// map of u32 entries (FREE, ZERO or a block index), fixed-size blocks at offData.
#pragma once
#include <memory>
#include <vector>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k {

namespace vdi {
inline constexpr const char* kBadHeader = "E_VDI_BAD_HEADER";      // signature/version/geometry unusable
inline constexpr const char* kBadBlockMap = "E_VDI_BAD_BLOCK_MAP";  // entry too large, duplicated, outside the file
inline constexpr const char* kBlockOverlap = "E_VDI_BLOCK_OVERLAP";  // a data block overlaps the header or block map
}  // namespace vdi

bool probeVdi(const uint8_t* head, size_t len);

class VdiReader : public ImageReader {
 public:
  explicit VdiReader(std::shared_ptr<const ByteView> view);
  uint64_t virtualSize() const override { return diskSize_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  BlockKind kindOf(uint32_t entry) const;
  std::shared_ptr<const ByteView> view_;
  uint32_t type_ = 0;
  uint64_t diskSize_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t blockExtra_ = 0;
  uint64_t offData_ = 0;
  uint32_t allocated_ = 0;
  std::vector<uint32_t> map_;
};

}  // namespace h2k
