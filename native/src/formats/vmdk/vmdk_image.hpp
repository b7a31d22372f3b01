// A whole VMDK: the descriptor's metadata plus its extents laid end to end in guest
// space. blockStatus merges runs of the same kind across grains and extents.
// Not thread-safe (GT cache, decoded-grain cache): one thread reads, as the engine does.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "formats/vmdk/descriptor.hpp"
#include "formats/vmdk/extent.hpp"

namespace h2k::vmdk {

struct PlacedExtent {
  std::unique_ptr<Extent> extent;
  uint64_t start = 0;  // guest byte offset
  ExtentInfo info;
};

class VmdkImage : public ImageReader {
 public:
  VmdkImage(Descriptor descriptor, std::vector<std::string> files, std::vector<PlacedExtent> extents,
            std::vector<std::string> warnings);
  uint64_t virtualSize() const override { return size_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  size_t extentAt(uint64_t offset) const;
  void putDeltaHeader(std::map<std::string, std::string>& properties) const;

  Descriptor descriptor_;
  std::vector<std::string> files_;
  std::vector<PlacedExtent> extents_;
  std::vector<std::string> warnings_;
  uint64_t size_ = 0;
};

}  // namespace h2k::vmdk
