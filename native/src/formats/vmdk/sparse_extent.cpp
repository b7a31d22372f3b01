#include "formats/vmdk/sparse_extent.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "formats/vmdk/vmdk_codes.hpp"

namespace h2k::vmdk {

namespace {
constexpr uint32_t kMarkerEos = 0;
constexpr uint32_t kMarkerFooter = 3;
const char* const kReexport = "the VMDK is damaged or truncated; re-copy or re-export the disk";
}  // namespace

SparseExtent::SparseExtent(std::shared_ptr<const ByteView> source)
    : source_(std::move(source)), inflater_(nullptr, libdeflate_free_decompressor) {
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  uint8_t sector[512];
  if (fileSize < 512)
    throw Error(codes::kTruncated, "VMDK extent " + name + " is shorter than its 512-byte header", name,
                static_cast<int64_t>(fileSize), fileSize == 0 ? "the file is empty; the copy did not complete" : kReexport);
  source_->readExact(sector, sizeof sector, 0);
  header_ = decodeSparseHeader(sector, name, 0);
  if (header_.gdOffset == kGdAtEnd) {
    validateSparseHeader(header_, name, fileSize, 0, false);
    SparseHeader primary = header_;
    loadFooter();
    // The embedded descriptor belongs to the leading header.
    header_.descriptorOffset = primary.descriptorOffset;
    header_.descriptorSize = primary.descriptorSize;
  } else {
    validateSparseHeader(header_, name, fileSize, 0, true);
  }
  if (header_.uncleanShutdown)
    warnings_.push_back(name + " was not closed cleanly (uncleanShutdown set); its content may be inconsistent");

  std::string why;
  int64_t whyOffset = -1;
  if (!tryLoadGd(header_.gdOffset, &why, &whyOffset)) {
    std::string rgdWhy;
    int64_t rgdOffset = -1;
    bool haveRgd = (header_.flags & kFlagRedundantGd) && header_.rgdOffset != 0 && header_.rgdOffset != kGdAtEnd;
    if (!haveRgd || !tryLoadGd(header_.rgdOffset, &rgdWhy, &rgdOffset))
      throw Error(kBadGd, "unusable VMDK grain directory in " + name + ": " + why + (haveRgd ? "; the redundant copy too: " + rgdWhy : ""),
                  name, whyOffset, kReexport);
    warnings_.push_back("primary grain directory of " + name + " is unusable (" + why + "); using the redundant copy");
  }
}

SparseExtent::~SparseExtent() = default;

void SparseExtent::loadFooter() {
  const std::string& name = source_->name();
  const uint64_t size = source_->size();
  if (size < 512 + 1536)
    throw Error(kBadFooter, "streamOptimized VMDK " + name + " has its grain directory at the end but no footer", name,
                static_cast<int64_t>(size), kReexport);
  uint8_t tail[1536];
  const uint64_t at = size - 1536;
  source_->readExact(tail, sizeof tail, at);
  const uint8_t* marker = tail;
  const uint8_t* footer = tail + 512;
  const uint8_t* eos = tail + 1024;
  if (readLe32(marker + 8) != 0 || readLe32(marker + 12) != kMarkerFooter)
    throw Error(kBadFooter, "streamOptimized VMDK " + name + ": no footer marker 1536 bytes before the end", name,
                static_cast<int64_t>(at), kReexport);
  if (readLe64(eos) != 0 || readLe32(eos + 8) != 0 || readLe32(eos + 12) != kMarkerEos)
    throw Error(kBadFooter, "streamOptimized VMDK " + name + ": no end-of-stream marker in the last sector", name,
                static_cast<int64_t>(size - 512), kReexport);
  if (readLe32(footer) != kSparseMagic)
    throw Error(kBadFooter, "streamOptimized VMDK " + name + ": footer has no KDMV magic", name,
                static_cast<int64_t>(size - 1024), kReexport);
  header_ = decodeSparseHeader(footer, name, size - 1024);
  validateSparseHeader(header_, name, size, size - 1024, true);
  gdAtEnd_ = true;
}

bool SparseExtent::tryLoadGd(uint64_t gdSector, std::string* why, int64_t* whyOffset) {
  const uint64_t fileSize = source_->size();
  const uint64_t entries = header_.gdEntries();  // capped by validateSparseHeader
  const uint64_t bytes = entries * 4;
  if (gdSector == 0 || gdSector > (fileSize >> 9) || bytes > fileSize - (gdSector << 9)) {
    *why = "grain directory at sector " + std::to_string(gdSector) + " (" + std::to_string(entries) +
           " entries) lies outside the file";
    *whyOffset = gdSector <= (UINT64_MAX >> 9) ? static_cast<int64_t>(std::min<uint64_t>(gdSector << 9, INT64_MAX)) : -1;
    return false;
  }
  std::vector<uint32_t> gd(entries);
  std::vector<uint8_t> raw(bytes);
  source_->readExact(raw.data(), raw.size(), gdSector << 9);
  const uint64_t gtBytes = static_cast<uint64_t>(header_.numGTEsPerGT) * 4;
  for (uint64_t i = 0; i < entries; ++i) {
    uint32_t e = readLe32(raw.data() + i * 4);
    gd[i] = e;
    if (e == kGdHole || (e == kGdZero && header_.zeroedGrains())) continue;
    uint64_t gtAt = static_cast<uint64_t>(e) << 9;
    if (gtAt > fileSize || gtBytes > fileSize - gtAt) {
      *why = "entry " + std::to_string(i) + " points at a grain table at sector " + std::to_string(e) + ", past the end of the file";
      *whyOffset = static_cast<int64_t>((gdSector << 9) + i * 4);
      return false;
    }
  }
  gd_ = std::move(gd);
  return true;
}

uint64_t SparseExtent::visibleBytes(uint64_t grainIndex) const {
  uint64_t start = grainIndex * header_.grainBytes();
  return std::min(header_.grainBytes(), capacityBytes() - start);
}

const std::vector<uint32_t>& SparseExtent::grainTable(uint64_t gdIndex) {
  if (const auto* hit = gts_.find(gdIndex)) return *hit;
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  const uint64_t n = header_.numGTEsPerGT;
  const uint64_t gtAt = static_cast<uint64_t>(gd_[gdIndex]) << 9;
  std::vector<uint8_t> raw(n * 4);
  source_->readExact(raw.data(), raw.size(), gtAt);
  std::vector<uint32_t> table(n);
  const uint64_t grainsInExtent = capacityBytes() / header_.grainBytes() + (capacityBytes() % header_.grainBytes() ? 1 : 0);
  const uint64_t recordHeader = header_.markers() ? 12 : 4;
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t e = readLe32(raw.data() + i * 4);
    table[i] = e;
    uint64_t grainIndex = gdIndex * n + i;
    if (e == 0 || (e == 1 && header_.zeroedGrains()) || grainIndex >= grainsInExtent) continue;
    uint64_t at = static_cast<uint64_t>(e) << 9;
    uint64_t need = header_.compressed() ? recordHeader : visibleBytes(grainIndex);
    if (e < header_.overHead || e == 0 || at > fileSize || need > fileSize - at)
      throw Error(kBadGte,
                  "grain " + std::to_string(grainIndex) + " of " + name + " points at sector " + std::to_string(e) +
                      (e < header_.overHead ? ", inside the metadata area" : ", past the end of the file"),
                  name, static_cast<int64_t>(gtAt + i * 4), kReexport);
  }
  return *gts_.insert(gdIndex, std::move(table));
}

Grain SparseExtent::grain(uint64_t grainIndex) {
  const uint64_t n = header_.numGTEsPerGT;
  const uint64_t gdIndex = grainIndex / n;
  uint32_t g = gd_[gdIndex];
  if (g == kGdHole) return {BlockKind::Hole, 0};
  if (g == kGdZero && header_.zeroedGrains()) return {BlockKind::Zero, 0};
  uint32_t e = grainTable(gdIndex)[grainIndex % n];
  if (e == 0) return {BlockKind::Hole, 0};
  if (e == 1 && header_.zeroedGrains()) return {BlockKind::Zero, 0};
  return {BlockKind::Data, e};
}

BlockStatus SparseExtent::blockStatus(uint64_t offset, uint64_t maxLen) {
  const uint64_t perTable = header_.numGTEsPerGT;
  return grainRun(offset, maxLen, capacityBytes(), header_.grainBytes(), perTable, [&](uint64_t grainIndex, bool* wholeTable) {
    // An empty or zero GD entry answers for its whole table at once.
    const uint32_t g = gd_[grainIndex / perTable];
    *wholeTable = g == kGdHole || (g == kGdZero && header_.zeroedGrains());
    return grain(grainIndex).kind;
  });
}

const std::vector<uint8_t>& SparseExtent::inflateGrain(uint64_t grainIndex, uint64_t sector) {
  if (decodedGrain_ == grainIndex) return decoded_;
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  const uint64_t gb = header_.grainBytes();
  const uint64_t at = sector << 9;
  const uint64_t recordHeader = header_.markers() ? 12 : 4;
  uint8_t head[12];
  source_->readExact(head, recordHeader, at);
  uint32_t size;
  if (header_.markers()) {
    uint64_t lba = readLe64(head);
    size = readLe32(head + 8);
    if (lba != grainIndex * header_.grainSize)
      throw Error(kBadGrain,
                  "compressed grain record at sector " + std::to_string(sector) + " of " + name + " is for sector " +
                      std::to_string(lba) + ", but the grain table maps it to sector " +
                      std::to_string(grainIndex * header_.grainSize),
                  name, static_cast<int64_t>(at), kReexport);
  } else {
    size = readLe32(head);
  }
  if (size == 0 || size > 2 * gb)
    throw Error(kBadGrain, "compressed grain at sector " + std::to_string(sector) + " of " + name + " has invalid size " +
                    std::to_string(size), name, static_cast<int64_t>(at), kReexport);
  if (size > fileSize - at - recordHeader)
    throw Error(kBadGte, "compressed grain at sector " + std::to_string(sector) + " of " + name + " ends past the end of the file",
                name, static_cast<int64_t>(at), kReexport);
  if (!inflater_) {
    inflater_.reset(libdeflate_alloc_decompressor());
    if (!inflater_) throw std::bad_alloc();
    decoded_.resize(gb);
  }
  packed_.resize(size);
  source_->readExact(packed_.data(), size, at + recordHeader);
  decodedGrain_ = UINT64_MAX;
  size_t inUsed = 0, outUsed = 0;
  libdeflate_result r =
      libdeflate_zlib_decompress_ex(inflater_.get(), packed_.data(), size, decoded_.data(), gb, &inUsed, &outUsed);
  const uint64_t visible = visibleBytes(grainIndex);
  if (r != LIBDEFLATE_SUCCESS || outUsed < visible)
    throw Error(codes::kDecompress,
                "compressed grain " + std::to_string(grainIndex) + " at sector " + std::to_string(sector) + " of " + name +
                    (r != LIBDEFLATE_SUCCESS ? " is not a valid zlib/deflate stream"
                                             : " decodes to " + std::to_string(outUsed) + " bytes instead of " +
                                                   std::to_string(visible)),
                name, static_cast<int64_t>(at + recordHeader), kReexport);
  if (outUsed < gb) std::memset(decoded_.data() + outUsed, 0, gb - outUsed);
  decodedGrain_ = grainIndex;
  return decoded_;
}

void SparseExtent::read(uint64_t offset, uint8_t* buf, size_t len) {
  const uint64_t gb = header_.grainBytes();
  auto grainAt = [this](uint64_t grainIndex) { return grain(grainIndex); };
  readGrains(offset, buf, len, gb, grainAt, [&](uint8_t* out, uint64_t pos, uint64_t end, Grain g) -> uint64_t {
    if (!header_.compressed()) return readStoredRun(*source_, out, pos, end, header_.grainSize, g, grainAt);
    const uint64_t n = std::min(gb - pos % gb, end - pos);
    std::memcpy(out, inflateGrain(pos / gb, g.sector).data() + pos % gb, n);
    return n;
  });
}

std::string SparseExtent::embeddedDescriptor() const {
  if (header_.descriptorOffset == 0) return {};
  std::string text(header_.descriptorSize << 9, '\0');  // capped at 1 MiB and inside the file
  source_->readExact(text.data(), text.size(), header_.descriptorOffset << 9);
  text.resize(std::strlen(text.c_str()));
  return text;
}

}  // namespace h2k::vmdk
