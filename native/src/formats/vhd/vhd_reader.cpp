#include "formats/vhd/vhd_reader.hpp"

#include <algorithm>
#include <cstring>

#include "common/hex.hpp"
#include "common/path_guard.hpp"
#include "formats/parent_chain.hpp"
#include "formats/run_merge.hpp"
#include "formats/span_overlap.hpp"

namespace h2k {

namespace {

constexpr uint64_t kFooterSize = 512;
constexpr uint64_t kDynHeaderSize = 1024;
constexpr uint64_t kMaxVirtualSize = 2040ull << 30;  // qemu VHD_MAX_SECTORS; VHD can't address more
constexpr uint64_t kMaxBatEntries = 1ull << 24;      // 64 MiB of BAT; 2 MiB blocks need ~1 Mi
constexpr uint32_t kUnallocated = 0xFFFFFFFFu;

uint32_t onesComplementSum(const uint8_t* p, size_t len, size_t checksumAt) {
  uint32_t sum = 0;
  for (size_t i = 0; i < len; ++i)
    if (i < checksumAt || i >= checksumAt + 4) sum += p[i];
  return ~sum;
}

bool isFooter(const uint8_t* f) { return std::memcmp(f, "conectix", 8) == 0; }

// UTF-16 (either byte order) to UTF-8; stops at the first NUL.
std::string utf16ToUtf8(const uint8_t* p, size_t bytes, bool bigEndian) {
  std::string out;
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    uint32_t c = bigEndian ? be16(p + i) : le16(p + i);
    if (c == 0) break;
    if (c >= 0xD800 && c <= 0xDBFF && i + 3 < bytes) {
      uint32_t lo = bigEndian ? be16(p + i + 2) : le16(p + i + 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | c >> 6);
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | c >> 12);
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | c >> 18);
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// ".\dir\parent.vhd" -> "dir/parent.vhd"
std::string windowsRelativeToPosix(std::string s) {
  std::replace(s.begin(), s.end(), '\\', '/');
  while (s.compare(0, 2, "./") == 0) s.erase(0, 2);
  return s;
}

std::string baseName(std::string s) {
  std::replace(s.begin(), s.end(), '\\', '/');
  auto pos = s.find_last_of('/');
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

// Offset of the trailing footer: the last 512 bytes, or the last 511 (Virtual PC before 2004
// wrote 511-byte footers; the byte it left out is reserved and zero). UINT64_MAX: none.
uint64_t trailingFooterOffset(const ByteView& view) {
  uint64_t size = view.size();
  uint8_t cookie[8];
  for (uint64_t len : {kFooterSize, kFooterSize - 1}) {
    if (size < len) continue;
    view.readExact(cookie, 8, size - len);
    if (isFooter(cookie)) return size - len;
  }
  return UINT64_MAX;
}

}  // namespace

bool probeVhd(const ByteView& view) {
  if (trailingFooterOffset(view) != UINT64_MAX) return true;
  uint8_t cookie[8];
  if (view.size() < sizeof cookie) return false;
  view.readExact(cookie, sizeof cookie, 0);
  return isFooter(cookie);  // a dynamic disk's copy, or a truncated VHD the reader refuses as such
}

VhdReader::VhdReader(std::shared_ptr<const ByteView> view, const OpenOptions& options) : view_(std::move(view)) {
  const std::string& name = view_->name();
  uint64_t size = view_->size();
  uint8_t footer[kFooterSize] = {0};
  trailingFooterAt_ = trailingFooterOffset(*view_);
  if (trailingFooterAt_ != UINT64_MAX) {
    view_->readExact(footer, size - trailingFooterAt_, trailingFooterAt_);
    if (size - trailingFooterAt_ < kFooterSize) warnings_.push_back("511-byte footer (Virtual PC before 2004)");
  } else {
    // The trailing footer is the authoritative copy; a dynamic disk also keeps one at 0.
    if (size < kFooterSize) {
      uint8_t cookie[8] = {0};
      if (size >= sizeof cookie) view_->readExact(cookie, sizeof cookie, 0);
      if (!isFooter(cookie))
        throw Error(vhd::kBadFooter, name + " is too small to be a VHD", name, 0, "the file is not a VHD or it is truncated");
      throw Error(vhd::kTruncated, name + " starts like a VHD but is only " + std::to_string(size) +
                      " bytes; a VHD footer alone is 512", name, static_cast<int64_t>(size),
                  "the file is truncated; re-copy or re-export the disk");
    }
    view_->readExact(footer, sizeof footer, 0);
    if (!isFooter(footer) || be32(footer + 60) == kFixed)
      throw Error(isFooter(footer) ? vhd::kTruncated : vhd::kBadFooter,
                  name + " has no trailing VHD footer ('conectix')", name,
                  static_cast<int64_t>(size - kFooterSize),
                  "the file is not a VHD or it was truncated; re-copy or re-export the disk");
    warnings_.push_back("trailing footer missing; used the copy at offset 0 (the file may be truncated)");
  }
  parseFooter(footer);
  if (type_ == kFixed) {
    uint64_t dataBytes = trailingFooterAt_;  // a fixed disk's data ends where its footer starts
    if (virtualSize_ > dataBytes)
      throw Error(codes::kTruncated, "fixed VHD " + name + " holds " + std::to_string(dataBytes) +
                      " data bytes but its footer says " + std::to_string(virtualSize_), name,
                  static_cast<int64_t>(size), "the file is truncated; re-copy it");
  } else {
    openDynamic(options);
  }
}

void VhdReader::parseFooter(const uint8_t* f) {
  const std::string& name = view_->name();
  // The footer read: the trailing one, or the copy at 0 when that is missing.
  int64_t at = trailingFooterAt_ != UINT64_MAX ? static_cast<int64_t>(trailingFooterAt_) : 0;
  uint32_t stored = be32(f + 64);
  if (onesComplementSum(f, kFooterSize, 64) != stored)
    throw Error(vhd::kBadChecksum, "VHD footer checksum mismatch in " + name, name, at + 64,
                "the footer is corrupt; re-copy the file");
  if (be32(f + 12) != 0x00010000)
    throw Error(vhd::kBadFooter, "unsupported VHD version 0x" + toHex(f + 12, 4) + " in " + name, name, at + 12);
  type_ = be32(f + 60);
  if (type_ != kFixed && type_ != kDynamic && type_ != kDifferencing)
    throw Error(vhd::kBadFooter, "unknown VHD disk type " + std::to_string(type_) + " in " + name, name, at + 60,
                "only fixed (2), dynamic (3) and differencing (4) disks exist");
  dataOffset_ = be64(f + 16);
  creator_.assign(reinterpret_cast<const char*>(f + 28), 4);
  std::memcpy(uuid_.data(), f + 68, 16);
  cyls_ = be16(f + 56);
  heads_ = f[58];
  spt_ = f[59];
  uint64_t currentSize = be64(f + 48);
  // Virtual PC and old qemu size disks by CHS; everyone else by current_size (qemu's rule).
  uint64_t chsSize = static_cast<uint64_t>(cyls_) * heads_ * spt_ * 512;
  bool maxGeometry = cyls_ == 65535 && heads_ == 16 && spt_ == 255;
  bool useChs = (creator_ == "vpc " || creator_ == "qemu") && !maxGeometry && chsSize != 0;
  virtualSize_ = useChs ? chsSize : currentSize;
  if (virtualSize_ == 0 || virtualSize_ % 512 != 0 || virtualSize_ > kMaxVirtualSize)
    throw Error(vhd::kBadFooter, "implausible VHD size " + std::to_string(virtualSize_) + " in " + name, name,
                at + 48, "VHD disks are a whole number of sectors and at most 2040 GiB");
}

void VhdReader::openDynamic(const OpenOptions& options) {
  const std::string& name = view_->name();
  requireInside(*view_, dataOffset_, kDynHeaderSize, vhd::kTruncated, "VHD dynamic header");
  uint8_t h[kDynHeaderSize];
  view_->readExact(h, sizeof h, dataOffset_);
  int64_t at = static_cast<int64_t>(dataOffset_);
  if (std::memcmp(h, "cxsparse", 8) != 0)
    throw Error(vhd::kBadHeader, "VHD dynamic header cookie 'cxsparse' missing in " + name, name, at,
                "the file is corrupt");
  if (onesComplementSum(h, kDynHeaderSize, 36) != be32(h + 36))
    throw Error(vhd::kBadChecksum, "VHD dynamic header checksum mismatch in " + name, name, at + 36,
                "the header is corrupt; re-copy the file");
  uint64_t batOffset = be64(h + 16);
  uint32_t maxEntries = be32(h + 28);
  blockSize_ = be32(h + 32);
  if (blockSize_ < 512 || blockSize_ > (256u << 20) || (blockSize_ & (blockSize_ - 1)) != 0)
    throw Error(vhd::kBadHeader, "VHD block size " + std::to_string(blockSize_) + " is not a power of two in 512 B..256 MiB",
                name, at + 32);
  uint64_t needed = (virtualSize_ + blockSize_ - 1) / blockSize_;
  if (maxEntries < needed || needed > kMaxBatEntries)
    throw Error(vhd::kBadHeader, "VHD BAT has " + std::to_string(maxEntries) + " entries; the disk needs " +
                    std::to_string(needed), name, at + 28, "the header is corrupt");
  bitmapBytes_ = ((blockSize_ / 512 / 8) + 511) / 512 * 512;
  requireInside(*view_, batOffset, needed * 4, vhd::kTruncated, "VHD block allocation table");
  std::vector<uint8_t> raw(needed * 4);
  view_->readExact(raw.data(), raw.size(), batOffset);
  bat_.resize(needed);
  uint64_t fileSize = view_->size();
  for (uint64_t i = 0; i < needed; ++i) {
    bat_[i] = be32(raw.data() + i * 4);
    if (bat_[i] == kUnallocated) continue;
    uint64_t start = static_cast<uint64_t>(bat_[i]) * 512;
    if (!rangeInside(start, uint64_t{bitmapBytes_} + blockSize_, fileSize))
      throw Error(vhd::kBadBat, "VHD block " + std::to_string(i) + " at offset " + std::to_string(start) +
                      " lies past the end of " + name, name, static_cast<int64_t>(batOffset + i * 4),
                  "the file is truncated or its BAT is corrupt");
  }
  checkBlockPlacement(h, batOffset);
  if (type_ == kDifferencing) openParent(h, options);
}

void VhdReader::checkBlockPlacement(const uint8_t* h, uint64_t batOffset) {
  const std::string& name = view_->name();
  // Metadata ranges get ids above every BAT index; a block's id is its BAT index.
  enum : uint64_t { kFooterCopy = 1ull << 40, kTrailingFooter, kDynHeader, kBatTable, kLocator0 };
  std::vector<Span> spans;
  spans.reserve(bat_.size() + 12);
  spans.push_back({0, kFooterSize, kFooterCopy});
  if (trailingFooterAt_ != UINT64_MAX) spans.push_back({trailingFooterAt_, view_->size(), kTrailingFooter});
  spans.push_back({dataOffset_, dataOffset_ + kDynHeaderSize, kDynHeader});
  spans.push_back({batOffset, batOffset + bat_.size() * 4, kBatTable});  // the entries in use, inside the file
  if (type_ == kDifferencing) {  // a dynamic disk's locator slots mean nothing
    for (int i = 0; i < 8; ++i) {
      const uint8_t* loc = h + 576 + i * 24;
      uint64_t len = be32(loc + 8), off = be64(loc + 16);
      if (be32(loc) != 0 && len != 0 && rangeInside(off, len, view_->size())) spans.push_back({off, off + len, kLocator0 + i});
    }
  }
  uint64_t blockBytes = uint64_t{bitmapBytes_} + blockSize_;
  for (uint64_t i = 0; i < bat_.size(); ++i)
    if (bat_[i] != kUnallocated) spans.push_back({uint64_t{bat_[i]} * 512, uint64_t{bat_[i]} * 512 + blockBytes, i});
  auto hit = findOverlap(spans);
  if (!hit) return;
  auto label = [&](uint64_t id) -> std::string {
    if (id < kFooterCopy) return "block " + std::to_string(id);
    if (id == kFooterCopy) return "the footer copy at offset 0";
    if (id == kTrailingFooter) return "the trailing footer";
    if (id == kDynHeader) return "the dynamic header";
    if (id == kBatTable) return "the BAT";
    return "parent locator " + std::to_string(id - kLocator0);
  };
  Span a = hit->first, b = hit->second;
  if (a.id >= kFooterCopy) std::swap(a, b);  // name a block first when there is one
  bool shared = a.id < kFooterCopy && b.id < kFooterCopy;
  throw Error(shared ? vhd::kBatShared : vhd::kBatOverlap,
              "VHD " + name + ": " + label(a.id) + " (bytes " + std::to_string(a.start) + ".." + std::to_string(a.end) +
                  ") overlaps " + label(b.id) + " (bytes " + std::to_string(b.start) + ".." + std::to_string(b.end) + ")",
              name, static_cast<int64_t>(a.id < kFooterCopy ? batOffset + a.id * 4 : a.start),
              shared ? "two BAT entries claim the same data; the BAT is corrupt or forged — re-copy or re-export the disk"
                     : "the BAT points a block into the image's own metadata; the file is corrupt or forged — re-copy or re-export the disk");
}

void VhdReader::openParent(const uint8_t* h, const OpenOptions& options) {
  const std::string& name = view_->name();
  std::array<uint8_t, 16> parentUuid;
  std::memcpy(parentUuid.data(), h + 40, 16);
  std::string parentName = utf16ToUtf8(h + 64, 512, true);
  // Candidate names: the relative locator first, then the parent's bare name next to the child.
  std::vector<std::string> candidates;
  for (int i = 0; i < 8; ++i) {
    const uint8_t* loc = h + 576 + i * 24;
    uint32_t code = be32(loc);
    uint32_t len = be32(loc + 8);
    uint64_t off = be64(loc + 16);
    bool relative = std::memcmp(loc, "W2ru", 4) == 0;
    bool absolute = std::memcmp(loc, "W2ku", 4) == 0;
    if (code == 0 || (!relative && !absolute) || len == 0 || len > 4096) continue;
    requireInside(*view_, off, len, vhd::kBadParent, "VHD parent locator");
    std::vector<uint8_t> data(len);
    view_->readExact(data.data(), len, off);
    std::string path = utf16ToUtf8(data.data(), len, false);
    if (relative) candidates.insert(candidates.begin(), windowsRelativeToPosix(path));
    else candidates.push_back(baseName(path));  // a Windows drive path means nothing here
  }
  if (!parentName.empty()) candidates.push_back(baseName(parentName));
  if (candidates.empty())
    throw Error(vhd::kBadParent, "differencing VHD " + name + " names no parent", name,
                static_cast<int64_t>(dataOffset_ + 64), "the header is corrupt");
  std::string dir = view_->baseDir();
  std::string chosen;
  for (const auto& c : candidates) {
    if (c.empty() || dir.empty()) continue;
    try {
      openReferencedFile(dir, c, options.allowExternalPaths, name);  // exists and may be opened
      chosen = c;
      break;
    } catch (const Error& e) {
      if (e.code() != codes::kNotFound) throw;
    }
  }
  if (chosen.empty())
    throw Error(vhd::kBadParent, "parent '" + candidates.front() + "' of differencing VHD " + name + " not found",
                name, static_cast<int64_t>(dataOffset_ + 64),
                "copy the parent VHD next to the child (the whole snapshot chain is needed)");
  parent_ = openParentImage(name, dir, chosen, "", options);
  parentPath_ = referencedPath(dir, chosen);
  if (auto* p = dynamic_cast<VhdReader*>(parent_.get()); p && p->uuid() != parentUuid)
    throw Error(vhd::kBadParent, "parent " + parentPath_ + " has UUID " + toHex(p->uuid().data(), 16) +
                    " but " + name + " expects " + toHex(parentUuid.data(), 16), name,
                static_cast<int64_t>(dataOffset_ + 40),
                "the parent was replaced or modified after the snapshot was taken; find the right parent");
}

const std::vector<uint8_t>& VhdReader::bitmap(uint32_t block) {
  if (cachedBitmapBlock_ != block) {
    cachedBitmap_.resize(bitmapBytes_);
    view_->readExact(cachedBitmap_.data(), bitmapBytes_, static_cast<uint64_t>(bat_[block]) * 512);
    cachedBitmapBlock_ = block;
  }
  return cachedBitmap_;
}

uint64_t VhdReader::bitmapRun(uint32_t block, uint64_t offset, uint64_t maxLen, bool* present) {
  if (type_ != kDifferencing) {  // like qemu: an allocated block of a dynamic disk is all data
    *present = true;
    return maxLen;
  }
  const auto& bm = bitmap(block);
  uint64_t inBlock = offset % blockSize_;
  uint64_t sector = inBlock / 512;
  auto bit = [&](uint64_t s) { return (bm[s / 8] >> (7 - s % 8)) & 1; };  // MSB first
  *present = bit(sector) != 0;
  uint64_t end = inBlock + maxLen;
  uint64_t s = sector + 1;
  while (s * 512 < end && (bit(s) != 0) == *present) ++s;
  return std::min(maxLen, s * 512 - inBlock);
}

BlockStatus VhdReader::blockStatus(uint64_t offset, uint64_t maxLen) {
  requireStatusRange(view_->name(), virtualSize_, offset, maxLen);
  maxLen = std::min(maxLen, virtualSize_ - offset);
  if (type_ == kFixed) return {offset, maxLen, BlockKind::Data};
  const uint64_t end = offset + maxLen;
  return statusRun(offset, end, parent_.get(), [&](uint64_t pos) {
    uint32_t block = static_cast<uint32_t>(pos / blockSize_);
    uint64_t len = std::min<uint64_t>(end - pos, blockSize_ - pos % blockSize_);
    bool present = false;
    if (bat_[block] != kUnallocated) len = bitmapRun(block, pos, len, &present);
    return StatusPiece{len, BlockKind::Data, !present};
  });
}

void VhdReader::read(uint64_t offset, uint8_t* buf, size_t len) {
  requireReadRange(view_->name(), virtualSize_, offset, len);
  if (type_ == kFixed) return view_->readExact(buf, len, offset);
  readPieces(offset, buf, len, [&](uint64_t offset, uint8_t* buf, uint64_t len) {
    uint32_t block = static_cast<uint32_t>(offset / blockSize_);
    uint64_t n = std::min<uint64_t>(len, blockSize_ - offset % blockSize_);
    bool present = false;
    if (bat_[block] != kUnallocated) n = bitmapRun(block, offset, n, &present);
    if (present) {
      uint64_t at = static_cast<uint64_t>(bat_[block]) * 512 + bitmapBytes_ + offset % blockSize_;
      view_->readExact(buf, n, at);
    } else {
      readInherited(parent_.get(), offset, buf, n);
    }
    return n;
  });
}

ImageInfo VhdReader::info() {
  ImageInfo info = singleFileInfo("vhd", type_ == kFixed ? "fixed" : type_ == kDynamic ? "dynamic" : "differencing", virtualSize_, *view_);
  if (parent_) {
    ImageInfo p = parent_->info();
    info.files.insert(info.files.end(), p.files.begin(), p.files.end());
    info.fileBytes += p.fileBytes;
    info.properties["parent"] = parentPath_;
  }
  info.properties["creator"] = creator_;
  info.properties["uuid"] = toHex(uuid_.data(), 16);
  info.properties["geometry"] = std::to_string(cyls_) + "/" + std::to_string(heads_) + "/" + std::to_string(spt_);
  if (blockSize_) info.properties["blockSize"] = std::to_string(blockSize_);
  for (uint64_t off = 0; off < virtualSize_;) {
    BlockStatus s = blockStatus(off, virtualSize_ - off);
    if (s.kind == BlockKind::Data) info.allocatedBytes += s.length;
    off += s.length;
  }
  info.warnings = warnings_;
  return info;
}

}  // namespace h2k
