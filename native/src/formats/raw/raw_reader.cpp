#include "formats/raw/raw_reader.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace h2k {

RawReader::RawReader(File file) : file_(std::move(file)), size_(file_.size()) {}

BlockStatus RawReader::blockStatus(uint64_t offset, uint64_t maxLen) {
  uint64_t end = std::min(size_, offset + maxLen);
  if (offset >= size_ || maxLen == 0)
    throw Error(codes::kInvalidArgument, "block status past the end of " + file_.path(), file_.path(),
                static_cast<int64_t>(offset));
  off_t data = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return {offset, end - offset, BlockKind::Hole};  // only a hole remains
    return {offset, end - offset, BlockKind::Data};  // SEEK_DATA unsupported: treat as data
  }
  if (static_cast<uint64_t>(data) > offset)
    return {offset, std::min<uint64_t>(static_cast<uint64_t>(data), end) - offset, BlockKind::Hole};
  off_t hole = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_HOLE);
  uint64_t dataEnd = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
  if (dataEnd <= offset) dataEnd = end;
  return {offset, dataEnd - offset, BlockKind::Data};
}

void RawReader::read(uint64_t offset, uint8_t* buf, size_t len) {
  if (offset > size_ || len > size_ - offset)
    throw Error(codes::kInvalidArgument, "read past the end of " + file_.path(), file_.path(),
                static_cast<int64_t>(offset));
  file_.readExact(buf, len, offset);
}

ImageInfo RawReader::info() {
  ImageInfo info;
  info.format = "raw";
  info.virtualSize = size_;
  info.fileBytes = size_;
  info.compression = "none";
  info.files.push_back(file_.path());
  ExtentInfo e;
  e.access = "RW";
  e.type = "RAW";
  e.file = file_.path();
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
