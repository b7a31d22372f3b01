// A differencing image over its parent, for formats whose own reader reports unallocated
// ranges as Hole (VMDK delta disks): Hole runs of the child read through to the parent,
// everything else (data, zeroed grains) comes from the child.
#pragma once
#include <memory>
#include <string>

#include "formats/image_reader.hpp"

namespace h2k {

class BackingOverlay : public ImageReader {
 public:
  BackingOverlay(std::unique_ptr<ImageReader> child, std::unique_ptr<ImageReader> parent, std::string parentPath);
  uint64_t virtualSize() const override { return child_->virtualSize(); }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  std::unique_ptr<ImageReader> child_;
  std::unique_ptr<ImageReader> parent_;
  std::string parentPath_;
};

// VMDK snapshot chains: when the descriptor is a delta (parentCID != ffffffff), opens
// `parentFileNameHint` through the path guard / depth cap / loop check, verifies that the
// parent's CID equals the child's parentCID (a stale chain is refused, as qemu does) and
// returns the child over its parent. Returns `child` unchanged for a base disk.
std::unique_ptr<ImageReader> withVmdkParent(std::unique_ptr<ImageReader> child, bool isDelta,
                                            const std::string& parentFileNameHint, const std::string& parentCid,
                                            const std::string& path, const OpenOptions& options);

}  // namespace h2k
