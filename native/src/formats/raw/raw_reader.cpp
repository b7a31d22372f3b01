#include "formats/raw/raw_reader.hpp"

#include <algorithm>

namespace h2k {

BlockStatus RawReader::blockStatus(uint64_t offset, uint64_t maxLen) {
  requireStatusRange(view_->name(), size_, offset, maxLen);
  uint64_t len = std::min(maxLen, size_ - offset);
  uint64_t run = len;
  bool data = view_->dataRun(offset, len, &run);
  return {offset, std::max<uint64_t>(1, std::min(run, len)), data ? BlockKind::Data : BlockKind::Hole};
}

void RawReader::read(uint64_t offset, uint8_t* buf, size_t len) {
  requireReadRange(view_->name(), size_, offset, len);
  view_->readExact(buf, len, offset);
}

ImageInfo RawReader::info() {
  ImageInfo info;
  info.format = "raw";
  info.virtualSize = size_;
  info.fileBytes = size_;
  info.compression = "none";
  info.files.push_back(view_->name());
  ExtentInfo e;
  e.access = "RW";
  e.type = "RAW";
  e.file = view_->name();
  e.sizeBytes = size_;
  info.extents.push_back(e);
  uint64_t allocated = 0;
  for (uint64_t off = 0; off < size_;) {
    BlockStatus s = blockStatus(off, size_ - off);
    if (s.kind == BlockKind::Data) allocated += s.length;
    off += s.length;
  }
  info.allocatedBytes = allocated;
  return info;
}

}  // namespace h2k
