// Where a disk image's bytes come from: a whole file, or a byte range of another view (a
// member inside an OVA tar, read in place). Every format reader parses through this
// interface only, so the same reader opens a loose file, an archive member, or a fuzzer's
// memory buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "io/file.hpp"

namespace h2k {

class ByteView {
 public:
  virtual ~ByteView() = default;
  // Name used in errors: the file path, or "archive.ova:member.vhd".
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Exactly len bytes at offset, or E_TRUNCATED naming the view and offset.
  virtual void readExact(void* buf, size_t len, uint64_t offset) const = 0;
  // Directory against which parent/backing file names are resolved ("" = none allowed).
  virtual std::string baseDir() const = 0;
  // Whether [offset, offset + *runLen) holds data (true) or is a hole of a sparse file (false);
  // *runLen <= maxLen. Views that cannot tell report data.
  virtual bool dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const {
    *runLen = maxLen;
    return true;
  }
};

class FileView : public ByteView {
 public:
  explicit FileView(const std::string& path, std::shared_ptr<ReadTap> tap = nullptr);
  // A null `tap` keeps the one `file` already has.
  explicit FileView(File file, std::shared_ptr<ReadTap> tap = nullptr);
  const std::string& name() const override { return file_.path(); }
  uint64_t size() const override { return size_; }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  std::string baseDir() const override;
  bool dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const override;  // SEEK_DATA / SEEK_HOLE

 private:
  File file_;
  uint64_t size_;
};

// [offset, offset+length) of a parent view; reads past `length` are E_TRUNCATED.
class SubFileView : public ByteView {
 public:
  // `tap` (optional) is shown every read, at offsets relative to the range.
  SubFileView(std::shared_ptr<const ByteView> parent, uint64_t offset, uint64_t length, std::string name,
              std::shared_ptr<ReadTap> tap = nullptr);
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return length_; }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  std::string baseDir() const override { return parent_->baseDir(); }

 private:
  std::shared_ptr<const ByteView> parent_;
  uint64_t offset_;
  uint64_t length_;
  std::string name_;
  std::shared_ptr<ReadTap> tap_;
};

class MemoryView : public ByteView {
 public:
  MemoryView(std::string name, const uint8_t* data, size_t len) : name_(std::move(name)), bytes_(data, data + len) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return bytes_.size(); }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  std::string baseDir() const override { return {}; }

 private:
  std::string name_;
  std::vector<uint8_t> bytes_;
};

// Big/little-endian loads from metadata buffers.
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline uint64_t be64(const uint8_t* p) { return static_cast<uint64_t>(be32(p)) << 32 | be32(p + 4); }
inline uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[1] << 8 | p[0]); }
inline uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[3]) << 24 | static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[0];
}
inline uint64_t le64(const uint8_t* p) { return static_cast<uint64_t>(le32(p + 4)) << 32 | le32(p); }

// True when [off, off+len) lies inside [0, limit) without overflow.
inline bool rangeInside(uint64_t off, uint64_t len, uint64_t limit) { return off <= limit && len <= limit - off; }

// Throws `code` unless [off, off+len) lies inside the view.
void requireInside(const ByteView& v, uint64_t off, uint64_t len, const char* code, const std::string& what);

}  // namespace h2k
