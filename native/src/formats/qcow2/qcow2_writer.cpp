#include "formats/qcow2/qcow2_writer.hpp"

#include <algorithm>
#include <cstring>

#include "common/error.hpp"

namespace h2k {
namespace {

constexpr uint32_t kMagic = 0x514649FB;  // "QFI\xfb"
constexpr uint64_t kCopied = 1ULL << 63;
constexpr uint64_t kCompressed = 1ULL << 62;
constexpr uint64_t kMaxL1Bytes = 32ULL << 20;        // qemu: QCOW_MAX_L1_SIZE
constexpr uint64_t kMaxReftableBytes = 8ULL << 20;   // qemu: QCOW_MAX_REFTABLE_SIZE
constexpr uint32_t kHeaderLength = 112;              // v3 header incl. compression_type + padding
constexpr uint64_t kIncompatCompressionType = 1ULL << 3;

void putBE64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) { p[i] = static_cast<uint8_t>(v); v >>= 8; }
}
void putBE32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) { p[i] = static_cast<uint8_t>(v); v >>= 8; }
}

}  // namespace

Qcow2Writer::Qcow2Writer(const File& file, uint64_t virtualSize, uint32_t clusterSize, Compression compression,
                         bool directIo)
    // qemu addresses qcow2 in 512-byte sectors and would drop a partial last sector, so the
    // stored size is rounded up like `qemu-img convert` does; the extra bytes read as zero.
    : file_(file), out_(file, directIo), size_((virtualSize + 511) / 512 * 512), cs_(clusterSize), compression_(compression) {
  if (clusterSize < 512 || clusterSize > (2u << 20) || (clusterSize & (clusterSize - 1)) != 0)
    throw Error(codes::kInvalidArgument, "qcow2 cluster size must be a power of two from 512 to 2097152, got " +
                std::to_string(clusterSize), file.path(), -1, "use e.g. 65536 (the default)");
  clusterBits_ = 0;
  while ((1u << clusterBits_) < cs_) ++clusterBits_;
  l2Entries_ = cs_ / 8;
  uint64_t clusters = size_ / cs_ + (size_ % cs_ ? 1 : 0);
  l1Size_ = clusters / l2Entries_ + (clusters % l2Entries_ ? 1 : 0);
  if (l1Size_ * 8 > kMaxL1Bytes || l1Size_ > UINT32_MAX)
    throw Error(codes::kTooLarge, "virtual size " + std::to_string(size_) + " needs an L1 table over 32 MiB at " +
                std::to_string(cs_) + "-byte clusters", file.path(), -1, "choose a larger cluster size");
  uint32_t x = 62 - (clusterBits_ - 8);
  compressedOffsetLimit_ = std::min<uint64_t>(1ULL << x, 1ULL << 56);
  rbe_ = static_cast<uint64_t>(cs_) * 8 / 16;
  l1_.assign(l1Size_, 0);
  l2_.assign(l2Entries_, 0);
  refs_.assign(rbe_, 0);
  scratch_.assign(cs_, 0);
  reserveClusters(1);  // cluster 0: the header, written last
}

void Qcow2Writer::checkGuestRange(uint64_t guestOffset, uint64_t len) {
  uint64_t end = alignUp(size_);
  if (finished_ || guestOffset % cs_ != 0 || guestOffset < nextGuest_ || len == 0 || guestOffset > end ||
      len > end - guestOffset)
    throw Error(codes::kInvalidArgument, "qcow2 writer: out-of-order or unaligned write at guest offset " +
                std::to_string(guestOffset), file_.path(), static_cast<int64_t>(guestOffset),
                "internal error in the conversion engine");
}

uint64_t Qcow2Writer::reserveClusters(uint64_t count) {
  uint64_t start = alignUp(hostEnd_);
  hostEnd_ = start + count * cs_;
  for (uint64_t i = 0; i < count; ++i) addRef(start / cs_ + i);
  return start;
}

void Qcow2Writer::addRef(uint64_t hostCluster) {
  while (hostCluster >= (window_ + 1) * rbe_) completeRefWindow();
  uint16_t& r = refs_[hostCluster - window_ * rbe_];
  if (r == UINT16_MAX)
    throw Error(codes::kCorrupt, "qcow2 refcount overflow", file_.path(), static_cast<int64_t>(hostCluster * cs_));
  ++r;
}

// Called only when every host cluster of window_ is allocated (the allocation cursor or a
// deferred refblock lies beyond it), so its refcounts are final.
void Qcow2Writer::completeRefWindow() {
  uint64_t at = alignUp(hostEnd_);
  hostEnd_ = at + cs_;
  writeRefBlock(at);
  reftable_.push_back(at);
  if (reftable_.size() * 8 > kMaxReftableBytes)
    throw Error(codes::kTooLarge, "qcow2 refcount table would exceed 8 MiB", file_.path(), -1,
                "choose a larger cluster size");
  ++window_;
  std::fill(refs_.begin(), refs_.end(), 0);
  deferred_.push_back(at / cs_);
  // The refblock just written counts in the window it falls in (this one, or a later one
  // when a single large reservation spanned several windows).
  auto inWindow = [&](uint64_t c) { return c < (window_ + 1) * rbe_; };
  for (uint64_t c : deferred_)
    if (inWindow(c)) ++refs_[c - window_ * rbe_];
  deferred_.erase(std::remove_if(deferred_.begin(), deferred_.end(), inWindow), deferred_.end());
}

void Qcow2Writer::writeRefBlock(uint64_t at) {
  uint8_t* p = scratch_.data();
  for (uint64_t i = 0; i < rbe_; ++i) {
    p[2 * i] = static_cast<uint8_t>(refs_[i] >> 8);
    p[2 * i + 1] = static_cast<uint8_t>(refs_[i]);
  }
  out_.write(p, cs_, at);
}

void Qcow2Writer::setL2Entry(uint64_t guestCluster, uint64_t entry) {
  uint64_t l1i = guestCluster / l2Entries_;
  if (l1i != l2Index_) {
    flushL2();
    l2Index_ = l1i;
  }
  l2_[guestCluster % l2Entries_] = entry;
  l2Used_ = true;
}

// The guest cursor has left this L2's range (output is in guest order), so it is final.
void Qcow2Writer::flushL2() {
  if (l2Index_ != UINT64_MAX && l2Used_) {
    uint64_t at = reserveClusters(1);
    writeTable(at, l2_.data(), l2_.size(), 1);
    l1_[l2Index_] = at | kCopied;
  }
  std::fill(l2_.begin(), l2_.end(), 0);
  l2Used_ = false;
}

void Qcow2Writer::writeTable(uint64_t at, const uint64_t* entries, size_t count, uint64_t clusters) {
  // Serialise one cluster at a time so a large L1 never needs a second full-size buffer.
  size_t perCluster = cs_ / 8;
  for (uint64_t c = 0; c < clusters; ++c) {
    std::memset(scratch_.data(), 0, cs_);
    for (size_t i = 0; i < perCluster; ++i) {
      size_t idx = c * perCluster + i;
      if (idx >= count) break;
      putBE64(scratch_.data() + i * 8, entries[idx]);
    }
    out_.write(scratch_.data(), cs_, at + c * cs_);
  }
}

void Qcow2Writer::writeData(uint64_t guestOffset, const uint8_t* data, size_t len) {
  checkGuestRange(guestOffset, len);
  if (len % cs_ != 0)
    throw Error(codes::kInvalidArgument, "qcow2 writer: data length is not a whole number of clusters",
                file_.path(), static_cast<int64_t>(guestOffset), "internal error in the conversion engine");
  uint64_t count = len / cs_;
  uint64_t host = reserveClusters(count);
  out_.write(data, len, host);
  for (uint64_t i = 0; i < count; ++i) setL2Entry(guestOffset / cs_ + i, (host + i * cs_) | kCopied);
  nextGuest_ = guestOffset + len;
}

void Qcow2Writer::writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) {
  checkGuestRange(guestOffset, cs_);
  if (compression_ == Compression::None || len == 0 || len > cs_ - 1)
    throw Error(codes::kInvalidArgument, "qcow2 writer: invalid compressed cluster", file_.path(),
                static_cast<int64_t>(guestOffset), "internal error in the conversion engine");
  uint64_t p = hostEnd_;  // pack right after the previous compressed cluster
  uint64_t end = p + len;
  if (end >= compressedOffsetLimit_)
    throw Error(codes::kTooLarge, "compressed data offset beyond what a qcow2 L2 entry can hold at this cluster size",
                file_.path(), static_cast<int64_t>(p), "use a smaller cluster size or no compression");
  hostEnd_ = end;
  for (uint64_t c = p / cs_; c <= (end - 1) / cs_; ++c) addRef(c);
  out_.write(data, len, p);
  uint64_t nsec = ((end - 1) >> 9) - (p >> 9);
  uint32_t x = 62 - (clusterBits_ - 8);
  setL2Entry(guestOffset / cs_, kCompressed | (nsec << x) | p);
  nextGuest_ = guestOffset + cs_;
}

uint64_t Qcow2Writer::finish() {
  if (finished_) return hostEnd_;
  flushL2();
  uint64_t l1Clusters = (l1Size_ * 8 + cs_ - 1) / cs_;
  uint64_t l1Offset = l1Clusters ? reserveClusters(l1Clusters) : 0;

  // Reftable size: it must index every window up to the one holding the last refblock,
  // and its own clusters and those refblocks count too. Iterate to a fixed point, with one
  // window of slack (an unused trailing entry is 0, which is valid).
  uint64_t base = alignUp(hostEnd_) / cs_;
  uint64_t rtClusters = 1;
  for (;;) {
    uint64_t blocks = 1;
    for (;;) {
      uint64_t total = base + rtClusters + blocks;
      uint64_t windows = (total + rbe_ - 1) / rbe_ + 1;
      uint64_t need = windows - window_;
      if (need <= blocks) break;
      blocks = need;
    }
    uint64_t windows = (base + rtClusters + blocks + rbe_ - 1) / rbe_ + 1;
    uint64_t need = (windows * 8 + cs_ - 1) / cs_;
    if (need <= rtClusters) break;
    rtClusters = need;
  }
  if (rtClusters * cs_ > kMaxReftableBytes)
    throw Error(codes::kTooLarge, "qcow2 refcount table would exceed 8 MiB", file_.path(), -1,
                "choose a larger cluster size");
  uint64_t rtOffset = reserveClusters(rtClusters);

  // Remaining refblocks: complete windows until the last one can hold its own refblock.
  for (;;) {
    uint64_t next = alignUp(hostEnd_) / cs_;
    if (deferred_.empty() && next < (window_ + 1) * rbe_) {
      uint64_t at = alignUp(hostEnd_);
      hostEnd_ = at + cs_;
      ++refs_[at / cs_ - window_ * rbe_];
      writeRefBlock(at);
      reftable_.push_back(at);
      break;
    }
    completeRefWindow();
  }
  if (reftable_.size() > rtClusters * cs_ / 8)
    throw Error(codes::kCorrupt, "qcow2 writer: refcount table sizing failed", file_.path(), -1,
                "internal error in the qcow2 writer");
  writeTable(rtOffset, reftable_.data(), reftable_.size(), rtClusters);
  if (l1Clusters) writeTable(l1Offset, l1_.data(), l1_.size(), l1Clusters);

  // The header goes last, so until this point the file has no magic and can't pass for an
  // image. (No fsync in between: the engine writes to <output>.partial and renames only
  // after the final fsync, which already makes a half-written image unreachable.)
  writeHeader(l1Offset, rtOffset, rtClusters);
  out_.flush();
  file_.sync();
  finished_ = true;
  return hostEnd_;
}

void Qcow2Writer::writeHeader(uint64_t l1Offset, uint64_t reftableOffset, uint64_t reftableClusters) {
  uint8_t h[kHeaderLength] = {0};
  putBE32(h + 0, kMagic);
  putBE32(h + 4, 3);                         // version
  putBE64(h + 8, 0);                         // backing_file_offset
  putBE32(h + 16, 0);                        // backing_file_size
  putBE32(h + 20, clusterBits_);
  putBE64(h + 24, size_);
  putBE32(h + 32, 0);                        // crypt_method
  putBE32(h + 36, static_cast<uint32_t>(l1Size_));
  putBE64(h + 40, l1Offset);
  putBE64(h + 48, reftableOffset);
  putBE32(h + 56, static_cast<uint32_t>(reftableClusters));
  putBE32(h + 60, 0);                        // nb_snapshots
  putBE64(h + 64, 0);                        // snapshots_offset
  putBE64(h + 72, compression_ == Compression::Zstd ? kIncompatCompressionType : 0);
  putBE64(h + 80, 0);                        // compatible_features
  putBE64(h + 88, 0);                        // autoclear_features
  putBE32(h + 96, 4);                        // refcount_order: 16-bit refcounts
  putBE32(h + 100, kHeaderLength);
  h[104] = compression_ == Compression::Zstd ? 1 : 0;
  // Bytes 112.. of cluster 0 stay zero: an empty header-extension list.
  out_.write(h, sizeof h, 0);
}

}  // namespace h2k
