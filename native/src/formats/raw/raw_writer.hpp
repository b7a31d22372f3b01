// Sparse raw output: data is written at its guest offset, zero clusters are never written
// (they stay holes) and the file is sized to the virtual size with ftruncate at the end.
#pragma once
#include "formats/image_writer.hpp"
#include "io/file.hpp"

namespace h2k {

class RawWriter : public ImageWriter {
 public:
  // `file` must stay open for the writer's lifetime; the engine owns rename and removal.
  RawWriter(const File& file, uint64_t virtualSize);
  uint32_t clusterSize() const override { return kGranule; }
  bool supportsCompression() const override { return false; }
  void writeData(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  void writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  uint64_t finish() override;

 private:
  // Zero detection granule: like qemu-img's default -S 4k, small enough to keep holes.
  static constexpr uint32_t kGranule = 4096;
  const File& file_;
  uint64_t size_;
};

}  // namespace h2k
