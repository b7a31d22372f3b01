// Raw disk images (and .ami/.img): the bytes are the disk — a file, or an archive member
// (.img/.raw inside an OVA). Block status asks the view for holes (SEEK_DATA/SEEK_HOLE on a
// file), so sparse raw files are not read where they have holes.
#pragma once
#include <memory>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k {

class RawReader : public ImageReader {
 public:
  explicit RawReader(std::shared_ptr<const ByteView> view) : view_(std::move(view)), size_(view_->size()) {}
  uint64_t virtualSize() const override { return size_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  std::shared_ptr<const ByteView> view_;
  uint64_t size_;
};

}  // namespace h2k
