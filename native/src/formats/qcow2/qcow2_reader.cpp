#include "formats/qcow2/qcow2_reader.hpp"

#include <libdeflate.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "formats/parent_chain.hpp"
#include "formats/run_merge.hpp"

namespace h2k {

namespace {
constexpr uint32_t kMagic = 0x514649FBu;
constexpr uint64_t kOffsetMask = 0x00FFFFFFFFFFFE00ull;
constexpr uint64_t kCompressedBit = 1ull << 62;
constexpr uint64_t kMaxL1Entries = 32ull * 1024 * 1024 / 8;  // qemu's 32 MiB L1 cap
constexpr size_t kMaxCachedL2 = 64;
constexpr uint64_t kIncompatDirty = 1, kIncompatCorrupt = 2, kIncompatDataFile = 4, kIncompatCompression = 8,
                   kIncompatExtL2 = 16;
constexpr uint32_t kExtBackingFormat = 0xE2792ACAu;
constexpr uint64_t kMaxRefcountTableBytes = 8ull << 20;  // qemu's QCOW_MAX_REFTABLE_SIZE
constexpr uint32_t kMaxSnapshots = 65536;                 // qemu's QCOW_MAX_SNAPSHOTS
constexpr uint64_t kSnapshotHeaderBytes = 40;             // fixed part of a snapshot table entry

std::string qemuFormatToOurs(const std::string& f) {
  if (f == "vpc") return "vhd";
  if (f == "qcow2" || f == "raw" || f == "vmdk" || f == "vhdx" || f == "vdi") return f;
  return "";  // unknown or absent: probe the content
}
}  // namespace

bool probeQcow2(const uint8_t* head, size_t len) { return len >= 4 && be32(head) == kMagic; }

Qcow2Reader::Qcow2Reader(std::shared_ptr<const ByteView> view, const OpenOptions& options) : view_(std::move(view)) {
  const std::string& name = view_->name();
  auto bad = [&](const char* code, const std::string& what, int64_t at, const std::string& hint = "the image is corrupt") {
    return Error(code, "qcow2 " + name + ": " + what, name, at, hint);
  };
  requireInside(*view_, 0, 72, qcow2::kBadHeader, "qcow2 header");
  uint8_t h[112] = {0};
  view_->readExact(h, std::min<uint64_t>(sizeof h, view_->size()), 0);
  if (be32(h) != kMagic) throw bad(qcow2::kBadHeader, "magic QFI\\xfb missing", 0);
  version_ = be32(h + 4);
  if (version_ != 2 && version_ != 3) throw bad(qcow2::kBadHeader, "unsupported version " + std::to_string(version_), 4);
  clusterBits_ = be32(h + 20);
  if (clusterBits_ < 9 || clusterBits_ > 21)
    throw bad(qcow2::kBadHeader, "cluster_bits " + std::to_string(clusterBits_) + " outside 9..21", 20);
  clusterSize_ = 1ull << clusterBits_;
  size_ = be64(h + 24);
  if (size_ > (1ull << 61)) throw bad(qcow2::kBadHeader, "virtual size " + std::to_string(size_) + " too large", 24);
  if (be32(h + 32) != 0)
    throw bad(qcow2::kFeature, "encrypted images are not supported", 32, "decrypt it with qemu-img convert first");
  uint64_t headerLength = 72;
  if (version_ == 3) {
    requireInside(*view_, 0, 104, qcow2::kBadHeader, "qcow2 v3 header");
    uint64_t incompat = be64(h + 72);
    headerLength = be32(h + 100);
    if (headerLength < 104 || headerLength % 8 != 0 || headerLength > clusterSize_)
      throw bad(qcow2::kBadHeader, "header_length " + std::to_string(headerLength), 100);
    if (be32(h + 96) > 6) throw bad(qcow2::kBadHeader, "refcount_order " + std::to_string(be32(h + 96)), 96);
    if (incompat & kIncompatDataFile)
      throw bad(qcow2::kFeature, "images with an external data file are not supported", 72,
                "convert it with qemu-img first");
    if (incompat & kIncompatExtL2)
      throw bad(qcow2::kFeature, "extended L2 entries (subclusters) are not supported", 72,
                "convert it with qemu-img convert -O qcow2 first");
    uint64_t unknown = incompat & ~(kIncompatDirty | kIncompatCorrupt | kIncompatCompression);
    if (unknown) throw bad(qcow2::kFeature, "unknown incompatible feature bits 0x" + std::to_string(unknown), 72,
                           "the image needs a newer reader");
    if (incompat & kIncompatCorrupt) warnings_.push_back("image is marked corrupt; read with care");
    if (incompat & kIncompatDirty) warnings_.push_back("image is marked dirty (refcounts may be stale; data is readable)");
    if (headerLength > 104) compressionType_ = h[104];
    if (compressionType_ > 1) throw bad(qcow2::kFeature, "unknown compression type " + std::to_string(compressionType_), 104);
    if ((compressionType_ != 0) != ((incompat & kIncompatCompression) != 0))
      throw bad(qcow2::kBadHeader, "compression type and incompatible bit 3 disagree", 104);
  }
  l2Entries_ = clusterSize_ / 8;
  uint32_t l1Size = be32(h + 36);
  uint64_t l1Offset = be64(h + 40);
  uint64_t clusters = (size_ + clusterSize_ - 1) / clusterSize_;
  uint64_t neededL1 = (clusters + l2Entries_ - 1) / l2Entries_;
  if (l1Size < neededL1 || l1Size > kMaxL1Entries)
    throw bad(qcow2::kBadHeader, "l1_size " + std::to_string(l1Size) + " (the disk needs " + std::to_string(neededL1) + ")", 36);
  if (neededL1 > 0) {
    if (l1Offset % clusterSize_ != 0) throw bad(qcow2::kBadTable, "L1 table offset not cluster-aligned", 40);
    requireInside(*view_, l1Offset, neededL1 * 8, qcow2::kBadTable, "qcow2 L1 table");
    std::vector<uint8_t> raw(neededL1 * 8);
    view_->readExact(raw.data(), raw.size(), l1Offset);
    l1_.resize(neededL1);
    for (uint64_t i = 0; i < neededL1; ++i) l1_[i] = be64(raw.data() + i * 8);
  }
  checkMetadata(h, l1Size, l1Offset);
  // Cluster 0 holds the header extensions and the backing file name.
  uint64_t c0len = std::min(clusterSize_, view_->size());
  std::vector<uint8_t> c0(c0len);
  view_->readExact(c0.data(), c0len, 0);
  uint64_t backingOffset = be64(h + 8);
  uint32_t backingSize = be32(h + 16);
  parseExtensions(c0, headerLength, backingOffset ? std::min<uint64_t>(backingOffset, c0len) : c0len);
  if (backingOffset != 0) {
    if (backingSize == 0 || backingSize > 1023 || !rangeInside(backingOffset, backingSize, c0len))
      throw bad(qcow2::kBadBacking, "backing file name (offset " + std::to_string(backingOffset) + ", " +
                std::to_string(backingSize) + " bytes) lies outside cluster 0", 8);
    backingName_.assign(reinterpret_cast<const char*>(c0.data() + backingOffset), backingSize);
    backing_ = openParentImage(name, view_->baseDir(), backingName_, qemuFormatToOurs(backingFormat_), options);
  }
  clusterBuf_.resize(clusterSize_);
  inflater_ = libdeflate_alloc_decompressor();
  zstd_ = ZSTD_createDCtx();
  if (!inflater_ || !zstd_) throw Error(codes::kIo, "out of memory creating decompressors", name);
}

Qcow2Reader::~Qcow2Reader() {
  if (inflater_) libdeflate_free_decompressor(inflater_);
  if (zstd_) ZSTD_freeDCtx(zstd_);
}

void Qcow2Reader::checkMetadata(const uint8_t* h, uint32_t l1Size, uint64_t l1Offset) {
  const std::string& name = view_->name();
  const uint64_t fileSize = view_->size();
  auto pastEof = [&](const std::string& what, uint64_t off, uint64_t len, int64_t field) {
    return Error(qcow2::kPastEof, "qcow2 " + name + ": " + what + " at offset " + std::to_string(off) + " (+" +
                     std::to_string(len) + " bytes) runs past the end of the file (" + std::to_string(fileSize) + " bytes)",
                 name, field, "the image is truncated or its header is corrupt or forged; re-copy or re-export it");
  };
  auto clusterEnd = [&](uint64_t end) { return (end + clusterSize_ - 1) / clusterSize_ * clusterSize_; };
  // Span ids: an L2 table's id is its L1 index; the rest are tags above any L1 index.
  enum : uint64_t { kHeaderCluster = 1ull << 62, kL1Table, kRefcountTable, kSnapshotTable, kRefcountBlock0 };
  std::vector<Span> spans{{0, clusterSize_, kHeaderCluster}};

  // The whole L1 table (all l1_size entries) must be in the file: its size drives qemu's
  // allocation, and a table past EOF is read by qemu as zeros.
  uint64_t l1Bytes = uint64_t{l1Size} * 8;
  if (l1Size > 0) {
    if (!rangeInside(l1Offset, l1Bytes, fileSize)) throw pastEof("L1 table of " + std::to_string(l1Size) + " entries", l1Offset, l1Bytes, 36);
    spans.push_back({l1Offset, clusterEnd(l1Offset + l1Bytes), kL1Table});
  }

  uint64_t rtOffset = be64(h + 48);
  uint64_t rtBytes = uint64_t{be32(h + 56)} * clusterSize_;
  if (rtBytes > 0) {
    if (rtOffset % clusterSize_ != 0)
      throw Error(qcow2::kBadTable, "qcow2 " + name + ": refcount table offset not cluster-aligned", name, 48, "the image is corrupt");
    if (!rangeInside(rtOffset, rtBytes, fileSize))
      throw pastEof("refcount table of " + std::to_string(be32(h + 56)) + " clusters", rtOffset, rtBytes, 56);
    if (rtBytes > kMaxRefcountTableBytes)
      throw Error(qcow2::kBadHeader, "qcow2 " + name + ": refcount table of " + std::to_string(rtBytes) +
                      " bytes is larger than 8 MiB", name, 56, "the header is corrupt or forged");
    spans.push_back({rtOffset, rtOffset + rtBytes, kRefcountTable});
    std::vector<uint8_t> rt(rtBytes);
    view_->readExact(rt.data(), rt.size(), rtOffset);
    for (uint64_t i = 0; i < rtBytes / 8; ++i) {
      uint64_t block = be64(rt.data() + i * 8) & ~511ull;
      // Only well-formed blocks join the set: h2k reads no refcounts, so a bad one is qemu-img check's business.
      if (block != 0 && block % clusterSize_ == 0 && rangeInside(block, clusterSize_, fileSize))
        spans.push_back({block, block + clusterSize_, kRefcountBlock0 + i});
    }
  }

  uint32_t nbSnapshots = be32(h + 60);
  uint64_t snapOffset = be64(h + 64);
  if (nbSnapshots > 0) {
    if (nbSnapshots > kMaxSnapshots || snapOffset % clusterSize_ != 0)
      throw Error(qcow2::kBadHeader, "qcow2 " + name + ": snapshot table (" + std::to_string(nbSnapshots) +
                      " entries at " + std::to_string(snapOffset) + ") is misaligned or too large", name, 60, "the header is corrupt");
    // Walk the variable-length entries to find where the table ends.
    uint64_t pos = snapOffset, end = snapOffset;  // qemu does not pad the last entry in the file
    for (uint32_t i = 0; i < nbSnapshots; ++i) {
      uint8_t e[kSnapshotHeaderBytes];
      if (!rangeInside(pos, sizeof e, fileSize)) throw pastEof("snapshot table entry " + std::to_string(i), pos, sizeof e, 64);
      view_->readExact(e, sizeof e, pos);
      uint64_t len = sizeof e + uint64_t{be32(e + 36)} + be16(e + 12) + be16(e + 14);
      end = pos + len;
      pos += (len + 7) & ~7ull;
    }
    if (end > fileSize) throw pastEof("snapshot table", snapOffset, end - snapOffset, 64);
    spans.push_back({snapOffset, clusterEnd(end), kSnapshotTable});
  }

  for (uint64_t i = 0; i < l1_.size(); ++i) {
    uint64_t off = l1_[i] & kOffsetMask;
    if (off != 0 && off % clusterSize_ == 0) spans.push_back({off, off + clusterSize_, i});  // misaligned: l2Table() refuses it
  }

  std::vector<Span> sorted = spans;
  if (auto hit = findOverlap(sorted)) {
    auto label = [&](uint64_t id) -> std::string {
      if (id == kHeaderCluster) return "the header cluster";
      if (id == kL1Table) return "the L1 table";
      if (id == kRefcountTable) return "the refcount table";
      if (id == kSnapshotTable) return "the snapshot table";
      if (id >= kRefcountBlock0) return "refcount block " + std::to_string(id - kRefcountBlock0);
      return "the L2 table of L1 entry " + std::to_string(id);
    };
    Span a = hit->first, b = hit->second;
    if (a.id >= kHeaderCluster) std::swap(a, b);  // an L2 table first when there is one
    int64_t at = a.id < kHeaderCluster ? static_cast<int64_t>(l1Offset + a.id * 8) : static_cast<int64_t>(b.start);
    throw Error(qcow2::kOverlap, "qcow2 " + name + ": " + label(a.id) + " (bytes " + std::to_string(a.start) + ".." +
                    std::to_string(a.end) + ") overlaps " + label(b.id) + " (bytes " + std::to_string(b.start) + ".." +
                    std::to_string(b.end) + ")", name, at,
                "the image's metadata is corrupt or forged; re-copy or re-export it (qemu-img check shows the damage)");
  }
  metadata_ = SpanSet(std::move(spans));
}

void Qcow2Reader::checkDataClusters(uint64_t l1Index, const std::vector<uint64_t>& table, uint64_t tableAt) const {
  uint32_t x = 62 - (clusterBits_ - 8);
  for (uint64_t i = 0; i < table.size(); ++i) {
    uint64_t e = table[i];
    uint64_t host = (e & kCompressedBit) ? (e & ((1ull << x) - 1)) : (e & kOffsetMask);
    if (host == 0) continue;
    if (const Span* m = metadata_.find(host, host + 1))
      throw Error(qcow2::kDataOverlap, "qcow2 " + view_->name() + ": guest cluster " +
                      std::to_string(l1Index * l2Entries_ + i) + " points at host offset " + std::to_string(host) +
                      ", inside metadata (bytes " + std::to_string(m->start) + ".." + std::to_string(m->end) + ")",
                  view_->name(), static_cast<int64_t>(tableAt + i * 8),
                  "the L2 table is corrupt or forged: it would read metadata as guest data; re-copy or re-export the image");
  }
}

void Qcow2Reader::parseExtensions(const std::vector<uint8_t>& c0, uint64_t pos, uint64_t end) {
  while (pos + 8 <= end) {
    uint32_t type = be32(c0.data() + pos);
    uint32_t len = be32(c0.data() + pos + 4);
    if (type == 0) return;
    uint64_t dataAt = pos + 8;
    if (len > end - dataAt)
      throw Error(qcow2::kBadHeader, "qcow2 header extension 0x" + std::to_string(type) + " overruns cluster 0 of " +
                      view_->name(), view_->name(), static_cast<int64_t>(pos), "the image is corrupt");
    if (type == kExtBackingFormat) backingFormat_.assign(reinterpret_cast<const char*>(c0.data() + dataAt), len);
    pos = dataAt + ((uint64_t{len} + 7) & ~7ull);
  }
}

const std::vector<uint64_t>& Qcow2Reader::l2Table(uint64_t l1Index) {
  auto it = l2Cache_.find(l1Index);
  if (it != l2Cache_.end()) return it->second;
  uint64_t e = l1_[l1Index];
  uint64_t off = e & kOffsetMask;
  int64_t at = static_cast<int64_t>(l1Index * 8);
  if (off % clusterSize_ != 0 || (e & 0x7F000000000001FFull) != 0)
    throw Error(qcow2::kBadTable, "L1 entry " + std::to_string(l1Index) + " of " + view_->name() +
                    " is misaligned or has reserved bits set", view_->name(), at, "the image is corrupt");
  requireInside(*view_, off, clusterSize_, qcow2::kBadTable, "qcow2 L2 table " + std::to_string(l1Index));
  std::vector<uint8_t> raw(clusterSize_);
  view_->readExact(raw.data(), raw.size(), off);
  std::vector<uint64_t> table(l2Entries_);
  for (uint64_t i = 0; i < l2Entries_; ++i) table[i] = be64(raw.data() + i * 8);
  checkDataClusters(l1Index, table, off);
  if (l2Cache_.size() >= kMaxCachedL2) l2Cache_.erase(l2Cache_.begin());
  return l2Cache_.emplace(l1Index, std::move(table)).first->second;
}

Qcow2Reader::Mapping Qcow2Reader::lookup(uint64_t guestCluster) {
  uint64_t l1Index = guestCluster / l2Entries_;
  if ((l1_[l1Index] & kOffsetMask) == 0) return {Kind::Unallocated, 0, 0};
  uint64_t e = l2Table(l1Index)[guestCluster % l2Entries_];
  if (e & kCompressedBit) {
    uint32_t x = 62 - (clusterBits_ - 8);
    uint64_t coff = e & ((1ull << x) - 1);
    uint64_t nsec = (e >> x) & ((1ull << (clusterBits_ - 8)) - 1);
    uint64_t csize = (nsec + 1) * 512 - (coff & 511);
    if (coff >= view_->size())
      throw Error(qcow2::kBadTable, "compressed cluster " + std::to_string(guestCluster) + " of " + view_->name() +
                      " points past the end of the file", view_->name(), static_cast<int64_t>(coff),
                  "the image is truncated or corrupt");
    return {Kind::Compressed, coff, std::min(csize, view_->size() - coff)};
  }
  uint64_t host = e & kOffsetMask;
  if (version_ == 3 && (e & 1)) return {Kind::Zero, 0, 0};
  if (host == 0) return {Kind::Unallocated, 0, 0};
  if (host % clusterSize_ != 0 || (e & 0x3F000000000001FEull) != 0)
    throw Error(qcow2::kBadTable, "L2 entry for guest cluster " + std::to_string(guestCluster) + " of " + view_->name() +
                    " is misaligned or has reserved bits set", view_->name(), static_cast<int64_t>(host),
                "the image is corrupt");
  uint64_t need = std::min(clusterSize_, size_ - guestCluster * clusterSize_);
  requireInside(*view_, host, need, qcow2::kBadTable, "qcow2 data cluster " + std::to_string(guestCluster));
  return {Kind::Standard, host, 0};
}

const uint8_t* Qcow2Reader::decompressed(const Mapping& m, uint64_t guestCluster) {
  if (cachedCluster_ == guestCluster) return clusterBuf_.data();
  cachedCluster_ = UINT64_MAX;
  compressedBuf_.resize(m.csize);
  view_->readExact(compressedBuf_.data(), m.csize, m.host);
  auto fail = [&](const std::string& why) {
    return Error(codes::kDecompress, "compressed cluster " + std::to_string(guestCluster) + " of " + view_->name() +
                     " does not decode: " + why, view_->name(), static_cast<int64_t>(m.host),
                 "the image is corrupt; re-copy it");
  };
  if (compressionType_ == 0) {
    size_t consumed = 0;
    auto r = libdeflate_deflate_decompress_ex(inflater_, compressedBuf_.data(), m.csize, clusterBuf_.data(),
                                              clusterSize_, &consumed, nullptr);
    if (r != LIBDEFLATE_SUCCESS) throw fail("invalid deflate data or wrong length");
  } else {
    size_t frame = ZSTD_findFrameCompressedSize(compressedBuf_.data(), m.csize);
    if (ZSTD_isError(frame)) throw fail(ZSTD_getErrorName(frame));
    size_t r = ZSTD_decompressDCtx(zstd_, clusterBuf_.data(), clusterSize_, compressedBuf_.data(), frame);
    if (ZSTD_isError(r)) throw fail(ZSTD_getErrorName(r));
    if (r != clusterSize_) throw fail("decoded " + std::to_string(r) + " bytes, expected a full cluster");
  }
  cachedCluster_ = guestCluster;
  return clusterBuf_.data();
}

void Qcow2Reader::readBacking(uint64_t offset, uint8_t* buf, uint64_t len) {
  readInherited(backing_.get(), offset, buf, len);
}

BlockStatus Qcow2Reader::blockStatus(uint64_t offset, uint64_t maxLen) {
  requireStatusRange(view_->name(), size_, offset, maxLen);
  uint64_t end = offset + std::min(maxLen, size_ - offset);
  return statusRun(offset, end, backing_.get(), [&](uint64_t pos) {
    uint64_t cluster = pos / clusterSize_;
    uint64_t len = std::min(end, (cluster + 1) * clusterSize_) - pos;
    uint64_t l1Index = cluster / l2Entries_;
    if (!backing_ && (l1_[l1Index] & kOffsetMask) == 0)  // a whole unallocated L2 range at once
      return StatusPiece{std::min(end, (l1Index + 1) * l2Entries_ * clusterSize_) - pos, BlockKind::Hole};
    Mapping m = lookup(cluster);
    if (m.kind == Kind::Standard || m.kind == Kind::Compressed) return StatusPiece{len, BlockKind::Data};
    if (m.kind == Kind::Zero) return StatusPiece{len, BlockKind::Zero};
    return StatusPiece{len, BlockKind::Hole, true};
  });
}

void Qcow2Reader::read(uint64_t offset, uint8_t* buf, size_t len) {
  requireReadRange(view_->name(), size_, offset, len);
  readPieces(offset, buf, len, [&](uint64_t offset, uint8_t* buf, uint64_t len) {
    uint64_t cluster = offset / clusterSize_;
    uint64_t within = offset % clusterSize_;
    uint64_t n = std::min<uint64_t>(len, clusterSize_ - within);
    Mapping m = lookup(cluster);
    switch (m.kind) {
      case Kind::Standard: view_->readExact(buf, n, m.host + within); break;
      case Kind::Compressed: std::memcpy(buf, decompressed(m, cluster) + within, n); break;
      case Kind::Zero: std::memset(buf, 0, n); break;
      case Kind::Unallocated: readBacking(offset, buf, n); break;
    }
    return n;
  });
}

ImageInfo Qcow2Reader::info() {
  ImageInfo info = singleFileInfo("qcow2", version_ == 2 ? "v2" : "v3", size_, *view_);
  info.properties["clusterSize"] = std::to_string(clusterSize_);
  bool anyCompressed = false;
  uint64_t clusters = (size_ + clusterSize_ - 1) / clusterSize_;
  for (uint64_t c = 0; c < clusters; ++c) {
    if ((l1_[c / l2Entries_] & kOffsetMask) == 0) {  // a whole unallocated L2 range
      c = (c / l2Entries_ + 1) * l2Entries_ - 1;
      continue;
    }
    Mapping m = lookup(c);
    if (m.kind == Kind::Compressed) anyCompressed = true;
    if (m.kind == Kind::Standard || m.kind == Kind::Compressed)
      info.allocatedBytes += std::min(clusterSize_, size_ - c * clusterSize_);
  }
  info.compression = anyCompressed ? (compressionType_ == 0 ? "zlib" : "zstd") : "none";
  if (backing_) {
    ImageInfo b = backing_->info();
    info.files.insert(info.files.end(), b.files.begin(), b.files.end());
    info.fileBytes += b.fileBytes;
    info.properties["backingFile"] = backingName_;
    if (!backingFormat_.empty()) info.properties["backingFormat"] = backingFormat_;
  }
  info.warnings = warnings_;
  return info;
}

}  // namespace h2k
