// Streaming qcow2 v3 writer with memory bounded by a constant, not by the image size.
//
// Host layout (clusters are allocated strictly in increasing host order, never revisited):
//
//   cluster 0            header (reserved first, written LAST, after an fsync of the rest)
//   data ...             guest clusters appended in guest order; compressed clusters are
//                        packed byte-contiguously (a new plain allocation starts a fresh cluster)
//   L2[i]                written right after the data it maps, as soon as the guest cursor
//                        leaves L2 i's range (its entries can no longer change)
//   refblock[k]          written as soon as every host cluster of refcount window k
//                        (rbe = cluster_size*8/16 clusters) has been allocated
//   ... data / L2 / refblocks interleaved in that pattern ...
//   L1                   ceil(l1_size*8 / cs) clusters
//   reftable             sized by a fixed-point computation so it covers itself and the
//                        last refblocks
//   last refblock(s)
//
// In memory: the current L2 table (one cluster), the current refcount block (one
// cluster), the L1 array (<= 32 MiB, qemu's own limit) and one u64 per refcount window
// (8 B per 2 GiB of host file at 64 KiB clusters). Refcounts: 1 for every metadata and plain
// data cluster; a host cluster holding compressed data counts every compressed guest cluster
// whose byte range touches it. COPIED is set on L1 entries and plain L2 entries, never on
// compressed ones. The guest range the writer never hears about stays unallocated (zero).
#pragma once
#include <cstdint>
#include <vector>

#include "codec/cluster_codec.hpp"
#include "formats/image_writer.hpp"
#include "io/direct_appender.hpp"
#include "io/file.hpp"

namespace h2k {

class Qcow2Writer : public ImageWriter {
 public:
  // `file` must be empty and stay open for the writer's lifetime. clusterSize: power of two
  // in 512..2 MiB. Throws E_INVALID_ARGUMENT / E_TOO_LARGE before writing anything.
  // directIo: host clusters go out through O_DIRECT where the file system allows it
  // (io/direct_appender.hpp); false: through the page cache.
  Qcow2Writer(const File& file, uint64_t virtualSize, uint32_t clusterSize, Compression compression, bool directIo = true);

  uint32_t clusterSize() const override { return cs_; }
  bool supportsCompression() const override { return true; }
  void writeData(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  void writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) override;
  uint64_t finish() override;

 private:
  uint64_t alignUp(uint64_t v) const { return (v + cs_ - 1) / cs_ * cs_; }
  void checkGuestRange(uint64_t guestOffset, uint64_t len);
  uint64_t reserveClusters(uint64_t count);  // cluster-aligned, refcount 1 each
  void addRef(uint64_t hostCluster);
  void completeRefWindow();                  // writes the refblock of the current window
  void writeRefBlock(uint64_t at);
  void setL2Entry(uint64_t guestCluster, uint64_t entry);
  void flushL2();
  void writeTable(uint64_t at, const uint64_t* entries, size_t count, uint64_t clusters);
  void writeHeader(uint64_t l1Offset, uint64_t reftableOffset, uint64_t reftableClusters);

  const File& file_;
  DirectAppender out_;  // every write of the image goes through it
  uint64_t size_;
  uint32_t cs_;
  uint32_t clusterBits_;
  Compression compression_;
  uint64_t l2Entries_;
  uint64_t l1Size_;
  uint64_t compressedOffsetLimit_;  // compressed host byte offsets must stay below this

  std::vector<uint64_t> l1_;
  std::vector<uint64_t> l2_;        // the L2 table for l1 index l2Index_
  uint64_t l2Index_ = UINT64_MAX;   // none yet
  bool l2Used_ = false;

  uint64_t hostEnd_ = 0;            // end of allocated host bytes (byte granular)
  uint64_t nextGuest_ = 0;          // guest order check

  uint64_t rbe_;                    // refcount entries per block
  uint64_t window_ = 0;             // refcount window being counted
  std::vector<uint16_t> refs_;      // counts of window_
  std::vector<uint64_t> reftable_;  // host offsets of finished refblocks, by window
  std::vector<uint64_t> deferred_;  // refblock clusters that belong to a later window

  std::vector<uint8_t> scratch_;    // one cluster for big-endian serialisation
  bool finished_ = false;
};

}  // namespace h2k
