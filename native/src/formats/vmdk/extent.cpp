#include "formats/vmdk/extent.hpp"

#include <algorithm>
#include <cstring>

#include "common/error.hpp"

namespace h2k::vmdk {

BlockStatus EmptyExtent::blockStatus(uint64_t offset, uint64_t maxLen) {
  return {offset, std::min(maxLen, sizeBytes() - offset), kind_};
}

void EmptyExtent::read(uint64_t, uint8_t* buf, size_t len) { std::memset(buf, 0, len); }

FlatExtent::FlatExtent(uint64_t sizeBytes, std::shared_ptr<const ByteView> source, uint64_t fileOffset)
    : Extent(sizeBytes), source_(std::move(source)), fileOffset_(fileOffset) {
  const uint64_t fileSize = source_->size();
  if (fileOffset_ > fileSize || sizeBytes > fileSize - fileOffset_)
    throw Error(codes::kTruncated,
                "flat extent " + source_->name() + " holds " +
                    std::to_string(fileSize > fileOffset_ ? fileSize - fileOffset_ : 0) + " bytes from offset " +
                    std::to_string(fileOffset_) + ", but the descriptor says " + std::to_string(sizeBytes),
                source_->name(), static_cast<int64_t>(fileSize),
                "the -flat file is truncated or the descriptor's extent size is wrong; re-copy the disk files");
}

BlockStatus FlatExtent::blockStatus(uint64_t offset, uint64_t maxLen) {
  uint64_t len = std::min(maxLen, sizeBytes() - offset);
  uint64_t run = len;
  BlockKind kind = source_->dataRun(fileOffset_ + offset, len, &run) ? BlockKind::Data : BlockKind::Hole;
  return {offset, std::max<uint64_t>(1, std::min(run, len)), kind};
}

void FlatExtent::read(uint64_t offset, uint8_t* buf, size_t len) { source_->readExact(buf, len, fileOffset_ + offset); }

BlockStatus SparseSlot::blockStatus(uint64_t offset, uint64_t maxLen) {
  const uint64_t cap = sparse_->capacityBytes();
  maxLen = std::min(maxLen, sizeBytes() - offset);
  if (offset >= cap) return {offset, maxLen, BlockKind::Hole};
  return sparse_->blockStatus(offset, std::min(maxLen, cap - offset));
}

void SparseSlot::read(uint64_t offset, uint8_t* buf, size_t len) {
  const uint64_t cap = sparse_->capacityBytes();
  size_t inside = offset >= cap ? 0 : static_cast<size_t>(std::min<uint64_t>(len, cap - offset));
  if (inside) sparse_->read(offset, buf, inside);
  if (inside < len) std::memset(buf + inside, 0, len - inside);
}

}  // namespace h2k::vmdk
