#include "io/byte_view.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/path_guard.hpp"

namespace h2k {

FileView::FileView(const std::string& path, std::shared_ptr<ReadTap> tap) : FileView(File::open(path), std::move(tap)) {}

FileView::FileView(File file, std::shared_ptr<ReadTap> tap) : file_(std::move(file)), size_(file_.size()) {
  if (tap) file_.setReadTap(std::move(tap));
}

void FileView::readExact(void* buf, size_t len, uint64_t offset) const { file_.readExact(buf, len, offset); }

std::string FileView::baseDir() const { return dirName(file_.path()); }

bool FileView::dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const {
  *runLen = maxLen;
  if (offset >= size_) return false;  // past EOF reads as zero (checked by callers)
  uint64_t end = offset + std::min(maxLen, size_ - offset);
  off_t data = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) return errno != ENXIO;  // ENXIO: only a hole follows; otherwise SEEK_DATA is unsupported
  if (static_cast<uint64_t>(data) > offset) {
    *runLen = std::min<uint64_t>(static_cast<uint64_t>(data) - offset, maxLen);
    return false;
  }
  off_t hole = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0 || static_cast<uint64_t>(hole) <= offset) return true;
  uint64_t dataEnd = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
  *runLen = dataEnd >= end ? maxLen : dataEnd - offset;  // past the region looked at, data for the rest
  return true;
}

SubFileView::SubFileView(std::shared_ptr<const ByteView> parent, uint64_t offset, uint64_t length, std::string name,
                         std::shared_ptr<ReadTap> tap)
    : parent_(std::move(parent)), offset_(offset), length_(length), name_(std::move(name)), tap_(std::move(tap)) {
  if (!rangeInside(offset_, length_, parent_->size()))
    throw Error(codes::kTruncated, name_ + " extends past the end of " + parent_->name(), parent_->name(),
                static_cast<int64_t>(offset_), "the archive is truncated; re-copy or re-export it");
}

static void throwShort(const std::string& name, size_t len, uint64_t offset, uint64_t size) {
  throw Error(codes::kTruncated,
              "data ends early: needed " + std::to_string(len) + " bytes at offset " + std::to_string(offset) +
                  " of " + name + " (" + std::to_string(size) + " bytes)",
              name, static_cast<int64_t>(offset),
              "the image is truncated or its metadata points past its end; re-copy or re-export it");
}

void SubFileView::readExact(void* buf, size_t len, uint64_t offset) const {
  if (!rangeInside(offset, len, length_)) throwShort(name_, len, offset, length_);
  parent_->readExact(buf, len, offset_ + offset);
  if (tap_) tap_->onRead(offset, static_cast<const uint8_t*>(buf), len);
}

void MemoryView::readExact(void* buf, size_t len, uint64_t offset) const {
  if (!rangeInside(offset, len, bytes_.size())) throwShort(name_, len, offset, bytes_.size());
  std::memcpy(buf, bytes_.data() + offset, len);
}

void requireInside(const ByteView& v, uint64_t off, uint64_t len, const char* code, const std::string& what) {
  if (!rangeInside(off, len, v.size()))
    throw Error(code,
                what + " at offset " + std::to_string(off) + " (+" + std::to_string(len) + " bytes) lies outside " +
                    v.name() + " (" + std::to_string(v.size()) + " bytes)",
                v.name(), static_cast<int64_t>(off), "the image is truncated or corrupt; re-copy or re-export it");
}

}  // namespace h2k
