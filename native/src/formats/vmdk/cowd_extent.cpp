#include "formats/vmdk/cowd_extent.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "formats/vmdk/sparse_header.hpp"
#include "formats/vmdk/vmdk_codes.hpp"

namespace h2k::vmdk {

namespace {
const char* const kDamaged = "the ESX delta (-delta.vmdk) is damaged or truncated; copy it again from the datastore";
constexpr uint64_t kHeaderSectors = kCowdHeaderBytes >> 9;
constexpr size_t kCachedTables = 64;  // 64 x 16 KiB

// Reads the header of an extent whose file size is already known to hold it.
CowdHeader decodeCowdHeader(const uint8_t* h) {
  CowdHeader c;
  c.version = readLe32(h + 4);
  c.flags = readLe32(h + 8);
  c.capacity = readLe32(h + 12);
  c.grainSize = readLe32(h + 16);
  c.gdSector = readLe32(h + 20);
  c.gdEntries = readLe32(h + 24);
  c.nextFreeSector = readLe32(h + 28);
  c.dirty = h[1648];
  return c;
}
}  // namespace

CowdExtent::CowdExtent(std::shared_ptr<const ByteView> source, uint64_t descriptorSectors)
    // A capacity other than the descriptor's is refused below, so the line's size is the extent's.
    : GrainMapExtent(descriptorSectors << 9, std::move(source)) {
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  if (fileSize < kCowdHeaderBytes)
    throw Error(codes::kTruncated, "COWD extent " + name + " is shorter than its 2048-byte header", name,
                static_cast<int64_t>(fileSize), kDamaged);
  uint8_t raw[kCowdHeaderBytes];
  source_->readExact(raw, sizeof raw, 0);
  if (readLe32(raw) != kCowdMagic)
    throw Error(kBadMagic, "VMFSSPARSE extent " + name + " has no COWD magic", name, 0,
                "the descriptor names a file that is not an ESX vmfsSparse delta; check the extent line");
  header_ = decodeCowdHeader(raw);
  const CowdHeader& h = header_;
  if (h.version != 1)
    throw Error(codes::kUnsupported, "unsupported COWD version " + std::to_string(h.version) + " in " + name, name, 4,
                "only COWD version 1 (ESX vmfsSparse) is supported");
  if (h.grainSize == 0 || h.grainSize > kMaxGrainSectors || (h.grainSize & (h.grainSize - 1)) != 0)
    throw Error(kBadGrainSize, "invalid COWD grain size " + std::to_string(h.grainSize) + " sectors in " + name, name, 16,
                "the grain size must be a power of two between 1 and 2^21 sectors; " + std::string(kDamaged));
  if (h.capacity == 0 || h.capacity != descriptorSectors)
    throw Error(kBadCapacity,
                "COWD extent " + name + " holds " + std::to_string(h.capacity) + " sectors but the descriptor line says " +
                    std::to_string(descriptorSectors),
                name, 12, "the descriptor and the -delta.vmdk file do not belong together, or one is damaged");
  const uint64_t tableSpan = static_cast<uint64_t>(h.grainSize) * kCowdGtEntries;  // sectors per GT
  const uint64_t needed = h.capacity / tableSpan + (h.capacity % tableSpan ? 1 : 0);
  if (h.gdEntries < needed || h.gdEntries > kMaxGdEntries)
    throw Error(kBadGd,
                "COWD grain directory of " + name + " has " + std::to_string(h.gdEntries) + " entries; the capacity needs " +
                    std::to_string(needed),
                name, 24, kDamaged);
  const uint64_t fileSectors = fileSize >> 9;
  const uint64_t gdBytes = static_cast<uint64_t>(h.gdEntries) * 4;
  if (h.gdSector < kHeaderSectors || h.gdSector > fileSectors || gdBytes > fileSize - (uint64_t{h.gdSector} << 9))
    throw Error(kBadGd,
                "COWD grain directory of " + name + " (sector " + std::to_string(h.gdSector) + ", " +
                    std::to_string(h.gdEntries) + " entries) lies outside the file",
                name, 20, kDamaged);
  // Only the entries the capacity uses are read: the allocation is bounded by the capacity.
  std::vector<uint8_t> bytes(needed * 4);
  const uint64_t gdAt = uint64_t{h.gdSector} << 9;
  source_->readExact(bytes.data(), bytes.size(), gdAt);
  gd_.resize(needed);
  const uint64_t gtBytes = kCowdGtEntries * 4;
  for (uint64_t i = 0; i < needed; ++i) {
    const uint32_t e = readLe32(bytes.data() + i * 4);
    gd_[i] = e;
    if (e == 0) continue;
    const uint64_t at = uint64_t{e} << 9;
    if (e < kHeaderSectors || at > fileSize || gtBytes > fileSize - at)
      throw Error(kBadGd,
                  "COWD grain directory entry " + std::to_string(i) + " of " + name + " points at a grain table at sector " +
                      std::to_string(e) + (e < kHeaderSectors ? ", inside the header" : ", past the end of the file"),
                  name, static_cast<int64_t>(gdAt + i * 4), kDamaged);
  }
  setGeometry(h.grainSize, kCowdGtEntries);
  gts_.setCapacity(kCachedTables);
  if (h.dirty) warnings_.push_back(name + " is marked dirty (the snapshot was not closed cleanly); its content may be inconsistent");
}

const std::vector<uint32_t>& CowdExtent::grainTable(uint64_t gdIndex) {
  if (const auto* hit = gts_.find(gdIndex)) return *hit;
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  const uint64_t gtAt = uint64_t{gd_[gdIndex]} << 9;
  std::vector<uint8_t> raw(kCowdGtEntries * 4);
  source_->readExact(raw.data(), raw.size(), gtAt);
  std::vector<uint32_t> table(kCowdGtEntries);
  const uint64_t grains = grainCount();
  for (uint64_t i = 0; i < kCowdGtEntries; ++i) {
    const uint32_t e = readLe32(raw.data() + i * 4);
    const uint64_t grainIndex = gdIndex * kCowdGtEntries + i;
    if (grainIndex >= grains) break;  // entries past the capacity are never used
    table[i] = e;
    if (e == 0) continue;
    const uint64_t at = uint64_t{e} << 9;
    const uint64_t need = visibleBytes(grainIndex);
    if (e < kHeaderSectors || at > fileSize || need > fileSize - at)
      throw Error(kBadGte,
                  "grain " + std::to_string(grainIndex) + " of " + name + " points at sector " + std::to_string(e) +
                      (e < kHeaderSectors ? ", inside the header" : ", past the end of the file"),
                  name, static_cast<int64_t>(gtAt + i * 4), kDamaged);
  }
  return *gts_.insert(gdIndex, std::move(table));
}

Grain CowdExtent::grain(uint64_t grainIndex) {
  const uint64_t gdIndex = grainIndex / kCowdGtEntries;
  if (gd_[gdIndex] == 0) return {BlockKind::Hole, 0};
  const uint32_t e = grainTable(gdIndex)[grainIndex % kCowdGtEntries];
  if (e == 0) return {BlockKind::Hole, 0};
  return {BlockKind::Data, e};
}

}  // namespace h2k::vmdk
