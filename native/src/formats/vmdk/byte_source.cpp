#include "formats/vmdk/byte_source.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace h2k::vmdk {

void FileSource::readExact(void* buf, size_t len, uint64_t offset) const { file_.readExact(buf, len, offset); }

BlockKind FileSource::dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const {
  *runLen = maxLen;
  if (offset >= size_) return BlockKind::Hole;  // past EOF reads as zero (checked by callers)
  uint64_t end = offset + std::min(maxLen, size_ - offset);
  off_t data = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return BlockKind::Hole;
    return BlockKind::Data;  // SEEK_DATA unsupported: assume data
  }
  if (static_cast<uint64_t>(data) > offset) {
    *runLen = std::min<uint64_t>(static_cast<uint64_t>(data) - offset, maxLen);
    return BlockKind::Hole;
  }
  off_t hole = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0 || static_cast<uint64_t>(hole) <= offset) return BlockKind::Data;
  uint64_t dataEnd = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
  // Past the end of the file region we looked at, keep reporting data for the rest.
  *runLen = dataEnd >= end ? maxLen : dataEnd - offset;
  return BlockKind::Data;
}

void MemorySource::readExact(void* buf, size_t len, uint64_t offset) const {
  if (offset > bytes_.size() || len > bytes_.size() - offset)
    throw Error(codes::kTruncated,
                "data ends early: needed " + std::to_string(len) + " bytes at offset " + std::to_string(offset) +
                    " of " + name_,
                name_, static_cast<int64_t>(offset), "the image is truncated or its metadata points past its end");
  if (len) std::memcpy(buf, bytes_.data() + offset, len);
}

}  // namespace h2k::vmdk
