// Raw disk images (and .ami/.img/.bin): the file is the disk. Block status uses
// SEEK_DATA/SEEK_HOLE so sparse raw files are not read where they have holes.
#pragma once
#include "formats/image_reader.hpp"
#include "io/file.hpp"

namespace h2k {

class RawReader : public ImageReader {
 public:
  explicit RawReader(File file);
  uint64_t virtualSize() const override { return size_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  File file_;
  uint64_t size_;
};

}  // namespace h2k
