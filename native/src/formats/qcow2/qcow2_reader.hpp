// qcow2 reader (v2 and v3, big-endian): L1 -> L2 -> clusters; deflate and zstd compressed
// clusters; v3 zero clusters; backing files opened through the parent-chain guard. Lets
// h2k recompress qcow2 images and verify its own outputs without qemu.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "formats/span_overlap.hpp"
#include "io/byte_view.hpp"

struct libdeflate_decompressor;
struct ZSTD_DCtx_s;

namespace h2k {

namespace qcow2 {
inline constexpr const char* kBadHeader = "E_QCOW2_BAD_HEADER";    // magic/version/cluster bits/sizes unusable
inline constexpr const char* kFeature = "E_QCOW2_FEATURE";         // unknown incompatible feature, encryption
inline constexpr const char* kBadTable = "E_QCOW2_BAD_TABLE";      // L1/L2 entry misaligned, reserved bits, outside the file
inline constexpr const char* kBadBacking = "E_QCOW2_BAD_BACKING";  // backing file name unusable
inline constexpr const char* kPastEof = "E_QCOW2_PAST_EOF";        // L1 / refcount / snapshot table runs past EOF
inline constexpr const char* kOverlap = "E_QCOW2_OVERLAP";         // header/L1/L2/refcount tables overlap each other
inline constexpr const char* kDataOverlap = "E_QCOW2_DATA_OVERLAP";  // an L2 entry points a data cluster into metadata
}  // namespace qcow2

bool probeQcow2(const uint8_t* head, size_t len);

class Qcow2Reader : public ImageReader {
 public:
  Qcow2Reader(std::shared_ptr<const ByteView> view, const OpenOptions& options);
  ~Qcow2Reader() override;
  uint64_t virtualSize() const override { return size_; }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override;
  void read(uint64_t offset, uint8_t* buf, size_t len) override;
  ImageInfo info() override;

 private:
  enum class Kind { Unallocated, Zero, Standard, Compressed };
  struct Mapping {
    Kind kind;
    uint64_t host;   // Standard: cluster offset; Compressed: byte offset
    uint64_t csize;  // Compressed: upper bound of the compressed bytes
  };
  void parseExtensions(const std::vector<uint8_t>& c0, uint64_t start, uint64_t end);
  // Collects every metadata cluster (header, L1, L2s, refcount table and blocks, snapshot
  // table), refuses overlaps between them, and keeps them for the data-cluster check that
  // runs on each L2 table as it is loaded.
  void checkMetadata(const uint8_t* h, uint32_t l1Size, uint64_t l1Offset);
  void checkDataClusters(uint64_t l1Index, const std::vector<uint64_t>& table, uint64_t tableAt) const;
  Mapping lookup(uint64_t guestCluster);
  const std::vector<uint64_t>& l2Table(uint64_t l1Index);
  const uint8_t* decompressed(const Mapping& m, uint64_t guestCluster);
  void readBacking(uint64_t offset, uint8_t* buf, uint64_t len);

  std::shared_ptr<const ByteView> view_;
  uint32_t version_ = 0;
  uint32_t clusterBits_ = 16;
  uint64_t clusterSize_ = 65536;
  uint64_t size_ = 0;
  uint32_t compressionType_ = 0;
  uint64_t l2Entries_ = 0;
  std::vector<uint64_t> l1_;
  SpanSet metadata_{{}};  // cluster ranges holding metadata; no data cluster may point into one
  std::map<uint64_t, std::vector<uint64_t>> l2Cache_;
  uint64_t cachedCluster_ = UINT64_MAX;
  std::vector<uint8_t> clusterBuf_;
  std::vector<uint8_t> compressedBuf_;
  libdeflate_decompressor* inflater_ = nullptr;
  ZSTD_DCtx_s* zstd_ = nullptr;
  std::string backingName_;
  std::string backingFormat_;
  std::unique_ptr<ImageReader> backing_;
  std::vector<std::string> warnings_;
};

}  // namespace h2k
