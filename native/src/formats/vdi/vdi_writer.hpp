// VDI writer (VirtualBox "normal" = dynamic image, format 1.1): 1 MiB blocks appended in
// guest order after a 1 MiB-aligned block map; blocks the engine never writes stay FREE
// (read as zero). The header goes in last, after everything else is on disk.
#pragma once
#include <cstdint>
#include <vector>

#include "formats/image_writer.hpp"
#include "io/direct_appender.hpp"
#include "io/file.hpp"

namespace h2k {

class VdiWriter : public ImageWriter {
 public:
  // directIo: blocks through O_DIRECT where the file system allows it (io/direct_appender.hpp).
  VdiWriter(const File& file, uint64_t virtualSize, bool directIo = true);
  uint32_t clusterSize() const override { return kBlockSize; }
  bool supportsCompression() const override { return false; }
  void writeData(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  void writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  uint64_t finish() override;

  static constexpr uint32_t kBlockSize = 1u << 20;

 private:
  const File& file_;
  DirectAppender out_;  // every write of the image goes through it
  uint64_t diskSize_;
  uint64_t offBlocks_;
  uint64_t offData_;
  std::vector<uint32_t> map_;
  uint32_t allocated_ = 0;
  uint64_t nextGuest_ = 0;
};

}  // namespace h2k
