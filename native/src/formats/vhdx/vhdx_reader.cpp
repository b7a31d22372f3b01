#include "formats/vhdx/vhdx_reader.hpp"

#include <algorithm>
#include <cstring>

#include "common/path_guard.hpp"
#include "formats/parent_chain.hpp"
#include "formats/run_merge.hpp"
#include "formats/span_overlap.hpp"
#include "formats/vhdx/vhdx_log.hpp"

namespace h2k {

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * 1024;
constexpr uint64_t kMaxVirtualSize = 64ull << 40;  // the VHDX maximum (64 TiB)
constexpr uint64_t kRegionTableSize = 64 * KiB;
constexpr uint32_t kMaxEntries = 2047;

using Guid = std::array<uint8_t, 16>;

// "2DC27766-F623-4200-9D64-115E9BFD4A08" -> Microsoft byte order (data1..3 little-endian).
Guid guid(const char* s) {
  uint8_t b[16];
  int n = 0;
  for (const char* p = s; *p && n < 16; ++p) {
    if (*p == '-') continue;
    auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    b[n++] = static_cast<uint8_t>(hex(p[0]) << 4 | hex(p[1]));
    ++p;
  }
  Guid g{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]};
  return g;
}

std::string guidString(const uint8_t* g) {
  char out[40];
  std::snprintf(out, sizeof out, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32(g), le16(g + 4),
                le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
  return out;
}

bool sameGuid(const uint8_t* p, const Guid& g) { return std::memcmp(p, g.data(), 16) == 0; }

const Guid kBatRegion = guid("2DC27766-F623-4200-9D64-115E9BFD4A08");
const Guid kMetadataRegion = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E");
const Guid kFileParameters = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
const Guid kVirtualDiskSize = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
const Guid kPage83 = guid("BECA12AB-B2E6-4523-93EF-C309E000C746");
const Guid kLogicalSector = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
const Guid kPhysicalSector = guid("CDA348C7-445D-4471-9CC9-E9885251C556");
const Guid kParentLocator = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");
const Guid kParentLocatorType = guid("B04AEFB7-D19E-4A81-B789-25B8E9445913");

struct Crc32cTable {
  uint32_t t[256];
  constexpr Crc32cTable() : t{} {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};
constexpr Crc32cTable kCrcTable;

bool checksumOk(std::vector<uint8_t>& block, size_t at) {
  uint32_t stored = le32(block.data() + at);
  std::memset(block.data() + at, 0, 4);
  uint32_t computed = crc32c(block.data(), block.size());
  block[at] = stored & 0xFF;
  block[at + 1] = (stored >> 8) & 0xFF;
  block[at + 2] = (stored >> 16) & 0xFF;
  block[at + 3] = stored >> 24;
  return computed == stored;
}

std::string utf16leToUtf8(const uint8_t* p, size_t bytes) {
  std::string out;
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    uint32_t c = le16(p + i);
    if (c == 0) break;
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0x800) {
      out += static_cast<char>(0xC0 | c >> 6);
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | c >> 12);
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

}  // namespace

uint32_t crc32c(const uint8_t* data, size_t len, uint32_t crc) {
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) crc = kCrcTable.t[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

VhdxReader::VhdxReader(std::shared_ptr<const ByteView> view, const OpenOptions& options) : view_(std::move(view)) {
  uint8_t id[8];
  requireInside(*view_, 0, MiB, vhdx::kBadHeader, "VHDX header area");
  view_->readExact(id, 8, 0);
  if (std::memcmp(id, "vhdxfile", 8) != 0)
    throw Error(vhdx::kBadHeader, view_->name() + " has no VHDX file identifier", view_->name(), 0,
                "the file is not a VHDX");
  readHeaders();
  uint64_t batOffset = 0, batLength = 0, metaOffset = 0, metaLength = 0;
  readRegions(&batOffset, &batLength, &metaOffset, &metaLength);
  readMetadata(metaOffset, metaLength, options);
  readBat(batOffset, batLength);
  checkPlacement(batOffset, batLength, metaOffset, metaLength);
}

void VhdxReader::readHeaders() {
  const std::string& name = view_->name();
  std::vector<uint8_t> best;
  uint64_t bestSeq = 0;
  uint64_t bestAt = 0;
  for (uint64_t at : {64 * KiB, 128 * KiB}) {
    std::vector<uint8_t> h(4 * KiB);
    view_->readExact(h.data(), h.size(), at);
    if (std::memcmp(h.data(), "head", 4) != 0 || !checksumOk(h, 4)) continue;
    uint64_t seq = le64(h.data() + 8);
    if (best.empty() || seq > bestSeq) {
      best = std::move(h);
      bestSeq = seq;
      bestAt = at;
    }
  }
  if (best.empty())
    throw Error(vhdx::kBadHeader, "neither VHDX header of " + name + " is valid (signature or CRC-32C)", name,
                64 * KiB, "the file is corrupt; both header copies are damaged");
  int64_t at = static_cast<int64_t>(bestAt);
  if (le16(best.data() + 66) != 1)
    throw Error(vhdx::kBadHeader, "unsupported VHDX version " + std::to_string(le16(best.data() + 66)) + " in " + name,
                name, at + 66);
  dataWriteGuid_ = guidString(best.data() + 32);
  logLength_ = le32(best.data() + 68);
  logOffset_ = le64(best.data() + 72);
  static const uint8_t zero[16] = {0};
  if (std::memcmp(best.data() + 48, zero, 16) != 0) {
    // Not closed cleanly: replay the log into memory; everything after reads the replayed file.
    if (le16(best.data() + 64) != 0)
      throw Error(vhdx::kLogDirty, "VHDX " + name + " has a dirty log of unknown version " +
                      std::to_string(le16(best.data() + 64)), name, at + 64,
                  "open it once read-write in Hyper-V, or run `qemu-img check -r all` on a copy, then convert again");
    auto replayed = replayVhdxLog(view_, le64(best.data() + 72), le32(best.data() + 68), best.data() + 48);
    replayedSectors_ = replayed->replayedSectors();
    view_ = std::move(replayed);
  }
}

void VhdxReader::readRegions(uint64_t* batOffset, uint64_t* batLength, uint64_t* metaOffset, uint64_t* metaLength) {
  const std::string& name = view_->name();
  for (uint64_t at : {192 * KiB, 256 * KiB}) {
    std::vector<uint8_t> t(kRegionTableSize);
    view_->readExact(t.data(), t.size(), at);
    if (std::memcmp(t.data(), "regi", 4) != 0 || !checksumOk(t, 4)) continue;
    uint32_t count = le32(t.data() + 8);
    if (count > kMaxEntries) continue;
    *batLength = *metaLength = 0;
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* e = t.data() + 16 + i * 32;
      uint64_t off = le64(e + 16);
      uint32_t len = le32(e + 24);
      bool required = le32(e + 28) & 1;
      int64_t eat = static_cast<int64_t>(at + 16 + i * 32);
      bool bat = sameGuid(e, kBatRegion), meta = sameGuid(e, kMetadataRegion);
      if (!bat && !meta) {
        if (required)
          throw Error(vhdx::kBadRegion, "VHDX " + name + " requires unknown region " + guidString(e), name, eat,
                      "the image uses a feature this reader does not know");
        continue;
      }
      if (off < MiB || off % MiB != 0 || len == 0 || len % MiB != 0)
        throw Error(vhdx::kBadRegion, "VHDX region at " + std::to_string(off) + " (+" + std::to_string(len) +
                        ") is not 1 MiB aligned in " + name, name, eat, "the region table is corrupt");
      requireInside(*view_, off, len, vhdx::kBadRegion, "VHDX region");
      if (bat) *batOffset = off, *batLength = len;
      else *metaOffset = off, *metaLength = len;
    }
    if (*batLength == 0 || *metaLength == 0)
      throw Error(vhdx::kBadRegion, "VHDX " + name + " lacks the BAT or metadata region", name,
                  static_cast<int64_t>(at), "the region table is corrupt");
    return;
  }
  throw Error(vhdx::kBadRegion, "neither VHDX region table of " + name + " is valid (signature or CRC-32C)", name,
              192 * KiB, "the file is corrupt");
}

void VhdxReader::readMetadata(uint64_t offset, uint64_t length, const OpenOptions& options) {
  const std::string& name = view_->name();
  std::vector<uint8_t> t(64 * KiB);
  view_->readExact(t.data(), t.size(), offset);
  auto bad = [&](const std::string& what, uint64_t at) {
    return Error(vhdx::kBadMetadata, "VHDX metadata of " + name + ": " + what, name, static_cast<int64_t>(at),
                 "the metadata region is corrupt");
  };
  if (std::memcmp(t.data(), "metadata", 8) != 0) throw bad("signature 'metadata' missing", offset);
  uint16_t count = le16(t.data() + 10);
  if (count > kMaxEntries) throw bad("too many entries", offset + 10);
  bool haveParams = false, haveSize = false;
  std::vector<uint8_t> locator;
  uint64_t locatorAt = 0;
  for (uint16_t i = 0; i < count; ++i) {
    const uint8_t* e = t.data() + 32 + i * 32;
    uint64_t eat = offset + 32 + i * 32;
    uint32_t itemOff = le32(e + 16), itemLen = le32(e + 20), flags = le32(e + 24);
    if (itemLen == 0) continue;
    if (itemOff < 64 * KiB || !rangeInside(itemOff, itemLen, length)) throw bad("item outside the region", eat);
    auto item = [&](size_t need) {
      if (itemLen < need) throw bad("item too short", eat);
      std::vector<uint8_t> v(itemLen);
      view_->readExact(v.data(), itemLen, offset + itemOff);
      return v;
    };
    if (sameGuid(e, kFileParameters)) {
      auto v = item(8);
      blockSize_ = le32(v.data());
      fixed_ = le32(v.data() + 4) & 1;
      hasParent_ = le32(v.data() + 4) & 2;
      haveParams = true;
    } else if (sameGuid(e, kVirtualDiskSize)) {
      virtualSize_ = le64(item(8).data());
      haveSize = true;
    } else if (sameGuid(e, kLogicalSector)) {
      logicalSector_ = le32(item(4).data());
    } else if (sameGuid(e, kPhysicalSector)) {
      physicalSector_ = le32(item(4).data());
    } else if (sameGuid(e, kParentLocator)) {
      if (itemLen > 64 * KiB) throw bad("parent locator larger than 64 KiB", eat);
      locator = item(20);
      locatorAt = offset + itemOff;
    } else if (sameGuid(e, kPage83)) {
      // informational
    } else if (flags & 4) {
      throw bad("unknown required item " + guidString(e), eat);
    }
  }
  if (!haveParams || !haveSize) throw bad("file parameters or virtual disk size missing", offset);
  if (blockSize_ < MiB || blockSize_ > 256 * MiB || (blockSize_ & (blockSize_ - 1)) != 0)
    throw bad("block size " + std::to_string(blockSize_) + " is not a power of two in 1..256 MiB", offset);
  if (logicalSector_ != 512 && logicalSector_ != 4096) throw bad("logical sector size " + std::to_string(logicalSector_), offset);
  if (virtualSize_ == 0 || virtualSize_ > kMaxVirtualSize || virtualSize_ % logicalSector_ != 0)
    throw bad("virtual disk size " + std::to_string(virtualSize_), offset);
  chunkRatio_ = (8 * MiB * logicalSector_) / blockSize_;
  if (hasParent_) {
    if (locator.empty()) throw bad("differencing disk without a parent locator", offset);
    openParent(locator, locatorAt, options);
  }
}

void VhdxReader::openParent(const std::vector<uint8_t>& loc, uint64_t at, const OpenOptions& options) {
  const std::string& name = view_->name();
  if (!sameGuid(loc.data(), kParentLocatorType))
    throw Error(vhdx::kBadParent, "unknown VHDX parent locator type in " + name, name, static_cast<int64_t>(at));
  uint16_t count = le16(loc.data() + 18);
  std::string linkage, relative, absolute;
  for (uint16_t i = 0; i < count; ++i) {
    size_t e = 20 + size_t{i} * 12;
    if (e + 12 > loc.size()) break;
    uint32_t ko = le32(loc.data() + e), vo = le32(loc.data() + e + 4);
    uint16_t kl = le16(loc.data() + e + 8), vl = le16(loc.data() + e + 10);
    if (!rangeInside(ko, kl, loc.size()) || !rangeInside(vo, vl, loc.size()))
      throw Error(vhdx::kBadParent, "VHDX parent locator entry outside the item in " + name, name,
                  static_cast<int64_t>(at + e));
    std::string key = utf16leToUtf8(loc.data() + ko, kl), value = utf16leToUtf8(loc.data() + vo, vl);
    if (key == "parent_linkage") linkage = value;
    else if (key == "relative_path") relative = value;
    else if (key == "absolute_win32_path") absolute = value;
  }
  auto posix = [](std::string s) {
    std::replace(s.begin(), s.end(), '\\', '/');
    while (s.compare(0, 2, "./") == 0) s.erase(0, 2);
    return s;
  };
  std::string candidate = posix(relative);
  std::string dir = view_->baseDir();
  if (candidate.empty() && !absolute.empty()) {
    std::string a = posix(absolute);
    candidate = a.substr(a.find_last_of('/') + 1);
  }
  if (candidate.empty())
    throw Error(vhdx::kBadParent, "differencing VHDX " + name + " names no parent path", name, static_cast<int64_t>(at),
                "the parent locator is incomplete");
  parent_ = openParentImage(name, dir, candidate, "", options);
  parentPath_ = candidate;
  auto strip = [](std::string s) {
    s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '{' || c == '}'; }), s.end());
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  if (auto* p = dynamic_cast<VhdxReader*>(parent_.get()); p && !linkage.empty() && strip(linkage) != p->dataWriteGuid())
    throw Error(vhdx::kBadParent, "parent " + candidate + " has DataWriteGuid " + p->dataWriteGuid() + " but " + name +
                    " expects " + strip(linkage), name, static_cast<int64_t>(at),
                "the parent was modified after the snapshot was taken; find the right parent");
}

void VhdxReader::readBat(uint64_t offset, uint64_t length) {
  const std::string& name = view_->name();
  uint64_t blocks = (virtualSize_ + blockSize_ - 1) / blockSize_;
  uint64_t chunks = (blocks + chunkRatio_ - 1) / chunkRatio_;
  uint64_t entries = hasParent_ ? chunks * (chunkRatio_ + 1) : blocks + (blocks - 1) / chunkRatio_;
  if (entries * 8 > length)
    throw Error(vhdx::kBadBat, "VHDX BAT region of " + name + " is too small for " + std::to_string(entries) + " entries",
                name, static_cast<int64_t>(offset), "the image is corrupt");
  std::vector<uint8_t> raw(entries * 8);
  view_->readExact(raw.data(), raw.size(), offset);
  bat_.resize(entries);
  for (uint64_t i = 0; i < entries; ++i) {
    uint64_t e = le64(raw.data() + i * 8);
    bat_[i] = e;
    uint32_t state = vhdx::batState(e);
    bool bitmapEntry = (i % (chunkRatio_ + 1)) == chunkRatio_;
    int64_t at = static_cast<int64_t>(offset + i * 8);
    if (state == vhdx::kReserved || (!bitmapEntry && state == vhdx::kPartiallyPresent && !hasParent_))
      throw Error(vhdx::kBadBat, "VHDX BAT entry " + std::to_string(i) + " of " + name + " has invalid state " +
                      std::to_string(state), name, at, "the BAT is corrupt");
    if (state == vhdx::kFullyPresent || state == vhdx::kPartiallyPresent) {
      uint64_t host = vhdx::batOffset(e);
      uint64_t need = bitmapEntry ? MiB : blockSize_;
      if (!bitmapEntry) {
        uint64_t b = i - i / (chunkRatio_ + 1);
        need = std::min<uint64_t>(blockSize_, virtualSize_ - b * blockSize_);
      }
      if (host < MiB || !rangeInside(host, need, view_->size()))
        throw Error(vhdx::kBadBat, "VHDX BAT entry " + std::to_string(i) + " of " + name + " points to offset " +
                        std::to_string(host) + " outside the file", name, at, "the image is truncated or corrupt");
    }
  }
}

void VhdxReader::checkPlacement(uint64_t batOffset, uint64_t batLength, uint64_t metaOffset, uint64_t metaLength) {
  const std::string& name = view_->name();
  // Region ids lie above every BAT index; a block's id is its BAT index.
  enum : uint64_t { kHeaderArea = 1ull << 62, kLog, kBatRegion, kMetaRegion };
  auto label = [&](uint64_t id) -> std::string {
    if (id == kHeaderArea) return "the header area (first 1 MiB)";
    if (id == kLog) return "the log";
    if (id == kBatRegion) return "the BAT region";
    if (id == kMetaRegion) return "the metadata region";
    return "BAT entry " + std::to_string(id);
  };
  auto describe = [&](const Span& s) {
    return label(s.id) + " (bytes " + std::to_string(s.start) + ".." + std::to_string(s.end) + ")";
  };
  std::vector<Span> regions{{0, MiB, kHeaderArea}, {batOffset, batOffset + batLength, kBatRegion},
                            {metaOffset, metaOffset + metaLength, kMetaRegion}};
  // A log past the end of the file was refused by the replay; an empty one claims nothing.
  if (logLength_ != 0 && rangeInside(logOffset_, logLength_, UINT64_MAX)) regions.push_back({logOffset_, logOffset_ + logLength_, kLog});
  std::vector<Span> spans = regions;
  if (auto hit = findOverlap(spans))
    throw Error(vhdx::kRegionOverlap, "VHDX " + name + ": " + describe(hit->first) + " overlaps " + describe(hit->second),
                name, static_cast<int64_t>(hit->second.start),
                "the header or region table is corrupt or forged; re-copy or re-export the disk");
  spans = regions;
  for (uint64_t i = 0; i < bat_.size(); ++i) {
    uint64_t e = bat_[i];
    if (vhdx::batState(e) != vhdx::kFullyPresent && vhdx::batState(e) != vhdx::kPartiallyPresent) continue;
    uint64_t host = vhdx::batOffset(e);
    uint64_t need = MiB;  // a sector-bitmap block
    if ((i % (chunkRatio_ + 1)) != chunkRatio_) {
      uint64_t b = i - i / (chunkRatio_ + 1);
      need = std::min<uint64_t>(blockSize_, virtualSize_ - b * blockSize_);
    }
    spans.push_back({host, host + need, i});  // inside the file: readBat checked it
  }
  auto hit = findOverlap(spans);
  if (!hit) return;
  Span a = hit->first, b = hit->second;
  if (a.id >= kHeaderArea) std::swap(a, b);  // name a block first
  bool shared = b.id < kHeaderArea;
  throw Error(shared ? vhdx::kBatShared : vhdx::kBatOverlap, "VHDX " + name + ": " + describe(a) + " overlaps " + describe(b),
              name, static_cast<int64_t>(batOffset + a.id * 8),
              shared ? "two BAT entries claim the same data; the BAT is corrupt or forged — re-copy or re-export the disk"
                     : "the BAT points a block into the image's own metadata; the file is corrupt or forged — re-copy or re-export the disk");
}

bool VhdxReader::sectorPresent(uint64_t block, uint64_t sector) {
  uint64_t chunk = block / chunkRatio_;
  if (cachedBitmapChunk_ != chunk) {
    uint64_t e = bat_[chunk * (chunkRatio_ + 1) + chunkRatio_];
    bitmap_.assign(MiB, 0);
    if (vhdx::batState(e) == vhdx::kFullyPresent) view_->readExact(bitmap_.data(), MiB, vhdx::batOffset(e));
    cachedBitmapChunk_ = chunk;
  }
  uint64_t bit = (block % chunkRatio_) * (blockSize_ / logicalSector_) + sector;
  return (bitmap_[bit / 8] >> (bit % 8)) & 1;
}

int VhdxReader::classify(uint64_t offset, uint64_t* len, uint64_t* host, BlockKind* kind) {
  uint64_t block = offset / blockSize_;
  uint64_t within = offset % blockSize_;
  *len = std::min<uint64_t>(*len, blockSize_ - within);
  uint64_t e = bat_[block + block / chunkRatio_];
  switch (vhdx::batState(e)) {
    case vhdx::kFullyPresent:
      *host = vhdx::batOffset(e) + within;
      *kind = BlockKind::Data;
      return 2;
    case vhdx::kPartiallyPresent: {
      uint64_t s = within / logicalSector_;
      bool present = sectorPresent(block, s);
      uint64_t end = within + *len;
      uint64_t t = s + 1;
      while (t * logicalSector_ < end && sectorPresent(block, t) == present) ++t;
      *len = std::min(*len, t * logicalSector_ - within);
      if (present) {
        *host = vhdx::batOffset(e) + within;
        *kind = BlockKind::Data;
        return 2;
      }
      return 0;
    }
    case vhdx::kNotPresent:
      if (hasParent_) return 0;
      *kind = BlockKind::Hole;
      return 1;
    case vhdx::kZero:
      *kind = BlockKind::Zero;
      return 1;
    default:  // undefined / unmapped: no data to read
      *kind = hasParent_ ? BlockKind::Zero : BlockKind::Hole;
      return 1;
  }
}

BlockStatus VhdxReader::blockStatus(uint64_t offset, uint64_t maxLen) {
  requireStatusRange(view_->name(), virtualSize_, offset, maxLen);
  uint64_t end = offset + std::min(maxLen, virtualSize_ - offset);
  return statusRun(offset, end, parent_.get(), [&](uint64_t pos) {
    uint64_t len = end - pos, host = 0;
    BlockKind kind = BlockKind::Hole;
    const bool inherited = classify(pos, &len, &host, &kind) == 0;
    return StatusPiece{len, kind, inherited};
  });
}

void VhdxReader::read(uint64_t offset, uint8_t* buf, size_t len) {
  requireReadRange(view_->name(), virtualSize_, offset, len);
  readPieces(offset, buf, len, [&](uint64_t offset, uint8_t* buf, uint64_t len) {
    uint64_t n = len, host = 0;
    BlockKind kind;
    int c = classify(offset, &n, &host, &kind);
    if (c == 2) {
      view_->readExact(buf, n, host);
    } else if (c == 0) {
      readInherited(parent_.get(), offset, buf, n);
    } else {
      std::memset(buf, 0, n);
    }
    return n;
  });
}

ImageInfo VhdxReader::info() {
  ImageInfo info = singleFileInfo("vhdx", hasParent_ ? "differencing" : fixed_ ? "fixed" : "dynamic", virtualSize_, *view_);
  info.properties["blockSize"] = std::to_string(blockSize_);
  info.properties["logicalSectorSize"] = std::to_string(logicalSector_);
  info.properties["physicalSectorSize"] = std::to_string(physicalSector_);
  info.properties["dataWriteGuid"] = dataWriteGuid_;
  if (replayedSectors_) {
    info.properties["logReplayed"] = std::to_string(replayedSectors_) + " sectors (in memory)";
    info.warnings.push_back("the disk was not closed cleanly; its log was replayed in memory (the file is unchanged)");
  }
  if (parent_) {
    ImageInfo p = parent_->info();
    info.files.insert(info.files.end(), p.files.begin(), p.files.end());
    info.fileBytes += p.fileBytes;
    info.properties["parent"] = parentPath_;
  }
  for (uint64_t off = 0; off < virtualSize_;) {
    BlockStatus s = blockStatus(off, virtualSize_ - off);
    if (s.kind == BlockKind::Data) info.allocatedBytes += s.length;
    off += s.length;
  }
  return info;
}

}  // namespace h2k
