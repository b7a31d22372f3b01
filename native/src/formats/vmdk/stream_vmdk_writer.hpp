// streamOptimized VMDK writer (for moving disks back to VMware / into an OVA), in the true
// stream layout VMware and OVFTool write: header (gdOffset = GD_AT_END) | descriptor |
// { compressed grain records | GT marker | GT } ... | GD marker | GD | footer marker |
// footer (the header with the real gdOffset) | EOS. Grains are zlib-wrapped DEFLATE; the file
// is written strictly front to back except the header, which is rewritten last.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_writer.hpp"
#include "io/direct_appender.hpp"
#include "io/file.hpp"

struct libdeflate_compressor;

namespace h2k {

class StreamVmdkWriter : public ImageWriter {
 public:
  // `extentName` is the file name the descriptor's extent line names (the final name).
  // directIo: grains through O_DIRECT where the file system allows it (io/direct_appender.hpp).
  StreamVmdkWriter(const File& file, uint64_t virtualSize, std::string extentName, bool directIo = true);
  ~StreamVmdkWriter() override;
  uint32_t clusterSize() const override { return kGrainBytes; }
  bool supportsCompression() const override { return false; }  // it compresses every grain itself
  void writeData(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  void writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  uint64_t finish() override;

  static constexpr uint32_t kGrainBytes = 65536;

 private:
  std::vector<uint8_t> header(uint64_t gdSector) const;
  void writeMarker(uint64_t val, uint32_t type);
  void flushGt();

  const File& file_;
  DirectAppender out_;  // every write of the image goes through it
  uint64_t capacity_;  // sectors
  std::string descriptor_;
  uint64_t overhead_;  // sectors before the first grain
  uint64_t pos_;       // next free byte (sector aligned)
  std::vector<uint32_t> gd_;
  std::vector<uint32_t> gt_;
  uint64_t gtIndex_ = UINT64_MAX;
  uint64_t nextGuest_ = 0;
  std::vector<uint8_t> packed_;
  libdeflate_compressor* compressor_ = nullptr;
};

}  // namespace h2k
