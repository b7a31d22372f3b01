// Where VMDK metadata and grains come from: a file in production, a memory buffer in the
// fuzzers. The parsers see only this interface, so they can be fed bytes directly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "io/file.hpp"

namespace h2k::vmdk {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Exactly len bytes at offset, or E_TRUNCATED naming the source and offset.
  virtual void readExact(void* buf, size_t len, uint64_t offset) const = 0;
  // Allocation state of [offset, offset+maxLen) of the underlying storage (holes of a
  // sparse file). Sources that cannot tell report Data.
  virtual BlockKind dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const {
    *runLen = maxLen;
    return BlockKind::Data;
  }
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(File file) : file_(std::move(file)), size_(file_.size()) {}
  const std::string& name() const override { return file_.path(); }
  uint64_t size() const override { return size_; }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  BlockKind dataRun(uint64_t offset, uint64_t maxLen, uint64_t* runLen) const override;

 private:
  File file_;
  uint64_t size_;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(std::string name, const uint8_t* data, size_t len) : name_(std::move(name)), bytes_(data, data + len) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return bytes_.size(); }
  void readExact(void* buf, size_t len, uint64_t offset) const override;

 private:
  std::string name_;
  std::vector<uint8_t> bytes_;
};

}  // namespace h2k::vmdk
