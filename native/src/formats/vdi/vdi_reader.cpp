#include "formats/vdi/vdi_reader.hpp"

#include <algorithm>
#include <cstring>

#include "formats/run_merge.hpp"

namespace h2k {

namespace {
constexpr uint32_t kSignature = 0xBEDA107Fu;
constexpr uint32_t kFree = 0xFFFFFFFFu;
constexpr uint32_t kZero = 0xFFFFFFFEu;
constexpr uint64_t kMaxBlocks = 1ull << 26;  // 256 MiB of block map; 64 PiB at 1 MiB blocks
constexpr size_t kHeaderEnd = 456;           // through uuidParentModify (v1.1)
}  // namespace

bool probeVdi(const uint8_t* head, size_t len) { return len >= 72 && le32(head + 64) == kSignature; }

VdiReader::VdiReader(std::shared_ptr<const ByteView> view) : view_(std::move(view)) {
  const std::string& name = view_->name();
  requireInside(*view_, 0, kHeaderEnd, vdi::kBadHeader, "VDI header");
  uint8_t h[kHeaderEnd];
  view_->readExact(h, sizeof h, 0);
  auto bad = [&](const std::string& what, size_t at) {
    return Error(vdi::kBadHeader, "VDI header of " + name + ": " + what, name, static_cast<int64_t>(at),
                 "the file is not a usable VDI or it is corrupt");
  };
  if (le32(h + 64) != kSignature) throw bad("signature 0xBEDA107F missing", 64);
  uint32_t version = le32(h + 68);
  if (version >> 16 != 1) throw bad("unsupported version " + std::to_string(version >> 16) + "." +
                                    std::to_string(version & 0xFFFF), 68);
  uint32_t cbHeader = le32(h + 72);
  if (cbHeader < 384 || cbHeader > 4096) throw bad("header size " + std::to_string(cbHeader), 72);
  type_ = le32(h + 76);
  if (type_ == 3 || type_ == 4)
    throw Error(codes::kUnsupported, name + " is a VirtualBox " + std::string(type_ == 3 ? "undo" : "differencing") +
                    " image; VDI stores no parent file name", name, 76,
                "clone the disk in VirtualBox (VBoxManage clonemedium) to get a standalone image");
  if (type_ != 1 && type_ != 2) throw bad("unknown image type " + std::to_string(type_), 76);
  uint64_t offBlocks = le32(h + 340);
  offData_ = le32(h + 344);
  if (le32(h + 360) != 0 && le32(h + 360) != 512) throw bad("sector size " + std::to_string(le32(h + 360)), 360);
  diskSize_ = le64(h + 368);
  blockSize_ = le32(h + 376);
  blockExtra_ = le32(h + 380);
  uint32_t blocks = le32(h + 384);
  allocated_ = le32(h + 388);
  if (blockSize_ < 512 || blockSize_ > (256u << 20) || (blockSize_ & (blockSize_ - 1)) != 0)
    throw bad("block size " + std::to_string(blockSize_) + " is not a power of two in 512 B..256 MiB", 376);
  if (blockExtra_ > blockSize_) throw bad("block extra data " + std::to_string(blockExtra_), 380);
  if (diskSize_ == 0) throw bad("disk size 0", 368);
  if (blocks > kMaxBlocks || static_cast<uint64_t>(blocks) * blockSize_ < diskSize_)
    throw bad(std::to_string(blocks) + " blocks of " + std::to_string(blockSize_) + " bytes cannot hold " +
              std::to_string(diskSize_) + " bytes", 384);
  if (allocated_ > blocks) throw bad("more allocated blocks than blocks", 388);
  requireInside(*view_, offBlocks, uint64_t{blocks} * 4, vdi::kBadBlockMap, "VDI block map");
  // The header runs from 0 to 72 + cbHeader (the pre-header is 72 bytes). A data block
  // (with its extra bytes) placed over it or over the block map would read metadata as data.
  const uint64_t headerEnd = 72 + uint64_t{cbHeader};
  const uint64_t mapEnd = offBlocks + uint64_t{blocks} * 4;
  if (offBlocks < headerEnd)
    throw Error(vdi::kBlockOverlap, "VDI block map of " + name + " at offset " + std::to_string(offBlocks) +
                    " overlaps the header (which ends at " + std::to_string(headerEnd) + ")", name, 340,
                "the header is corrupt or forged; re-copy or re-export the disk");
  const uint64_t stride = uint64_t{blockSize_} + blockExtra_;
  std::vector<uint8_t> raw(uint64_t{blocks} * 4);
  view_->readExact(raw.data(), raw.size(), offBlocks);
  map_.resize((diskSize_ + blockSize_ - 1) / blockSize_);
  std::vector<bool> used(allocated_);
  for (size_t i = 0; i < map_.size(); ++i) {
    uint32_t e = le32(raw.data() + i * 4);
    map_[i] = e;
    if (e == kFree || e == kZero) continue;
    int64_t at = static_cast<int64_t>(offBlocks + i * 4);
    if (e >= allocated_)
      throw Error(vdi::kBadBlockMap, "VDI block index " + std::to_string(e) + " of block " + std::to_string(i) +
                      " is too large (" + std::to_string(allocated_) + " allocated) in " + name, name, at,
                  "the block map is corrupt");
    if (used[e])
      throw Error(vdi::kBadBlockMap, "VDI block index " + std::to_string(e) + " is also used by another block in " + name,
                  name, at, "the block map is corrupt");
    used[e] = true;
    uint64_t blockAt = offData_ + uint64_t{e} * stride;  // < 2^32 + 2^32 * 2^29: no overflow
    uint64_t start = blockAt + blockExtra_;
    uint64_t need = std::min<uint64_t>(blockSize_, diskSize_ - uint64_t{i} * blockSize_);
    requireInside(*view_, start, need, vdi::kBadBlockMap, "VDI block " + std::to_string(i));
    auto overlaps = [&](uint64_t from, uint64_t to) { return blockAt < to && from < start + need; };
    if (overlaps(0, headerEnd) || overlaps(offBlocks, mapEnd))
      throw Error(vdi::kBlockOverlap, "VDI block " + std::to_string(i) + " of " + name + " (data index " + std::to_string(e) +
                      ", bytes " + std::to_string(blockAt) + ".." + std::to_string(start + need) + ") overlaps the " +
                      (overlaps(0, headerEnd) ? "header" : "block map") + " (offData " + std::to_string(offData_) + ")",
                  name, at, "the header or block map is corrupt or forged; re-copy or re-export the disk");
  }
}

BlockKind VdiReader::kindOf(uint32_t e) const {
  return e == kFree ? BlockKind::Hole : e == kZero ? BlockKind::Zero : BlockKind::Data;
}

BlockStatus VdiReader::blockStatus(uint64_t offset, uint64_t maxLen) {
  requireStatusRange(view_->name(), diskSize_, offset, maxLen);
  uint64_t end = std::min(diskSize_, offset + std::min(maxLen, diskSize_ - offset));
  uint64_t b = offset / blockSize_;
  BlockKind kind = kindOf(map_[b]);
  uint64_t pos = (b + 1) * blockSize_;
  while (pos < end && kindOf(map_[pos / blockSize_]) == kind) pos += blockSize_;
  return {offset, std::min(pos, end) - offset, kind};
}

void VdiReader::read(uint64_t offset, uint8_t* buf, size_t len) {
  requireReadRange(view_->name(), diskSize_, offset, len);
  readPieces(offset, buf, len, [&](uint64_t offset, uint8_t* buf, uint64_t len) {
    uint64_t b = offset / blockSize_;
    uint64_t n = std::min<uint64_t>(len, blockSize_ - offset % blockSize_);
    uint32_t e = map_[b];
    if (e == kFree || e == kZero) {
      std::memset(buf, 0, n);
    } else {
      uint64_t at = offData_ + uint64_t{e} * (uint64_t{blockSize_} + blockExtra_) + blockExtra_ + offset % blockSize_;
      view_->readExact(buf, n, at);
    }
    return n;
  });
}

ImageInfo VdiReader::info() {
  ImageInfo info = singleFileInfo("vdi", type_ == 2 ? "fixed" : "dynamic", diskSize_, *view_);
  info.properties["blockSize"] = std::to_string(blockSize_);
  for (uint32_t e : map_)
    if (e != kFree && e != kZero) info.allocatedBytes += blockSize_;
  info.allocatedBytes = std::min(info.allocatedBytes, diskSize_);
  return info;
}

}  // namespace h2k
