#include "formats/vmdk/sesparse_extent.hpp"

#include <algorithm>
#include <cstdio>

#include "common/error.hpp"
#include "formats/vmdk/sparse_header.hpp"
#include "formats/vmdk/vmdk_codes.hpp"

namespace h2k::vmdk {

namespace {
const char* const kDamaged = "the ESXi seSparse delta is damaged or truncated; copy it again from the datastore";
constexpr uint64_t kGdAllocatedTag = 0x1000000000000000ull;  // top 32 bits of an allocated GD entry
constexpr size_t kCachedTables = 64;                          // 64 x 32 KiB
constexpr uint64_t kGteUnallocated = 0x0, kGteUnmapped = 0x1, kGteZero = 0x2, kGteAllocated = 0x3;

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}

bool allZero(const uint8_t* p, size_t n) { return std::all_of(p, p + n, [](uint8_t b) { return b == 0; }); }

// The grain number an allocated GTE carries: bits 48-59 are its low 12 bits, bits 0-47 the rest.
uint64_t grainNumber(uint64_t gte) { return ((gte & 0x0FFF000000000000ull) >> 48) | ((gte & 0x0000FFFFFFFFFFFFull) << 12); }

// True when [sector, sector+count) sectors lie inside a file of fileSize bytes (no overflow).
bool sectorsInFile(uint64_t sector, uint64_t count, uint64_t fileSize) {
  const uint64_t fileSectors = fileSize >> 9;
  return sector <= fileSectors && count <= fileSectors - sector;
}
}  // namespace

SesparseExtent::SesparseExtent(std::shared_ptr<const ByteView> source, uint64_t descriptorSectors)
    // A capacity other than the descriptor's is refused below, so the line's size is the extent's.
    : GrainMapExtent(descriptorSectors << 9, std::move(source)) {
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  if (fileSize < 512)
    throw Error(codes::kTruncated, "seSparse extent " + name + " is shorter than its 512-byte header", name,
                static_cast<int64_t>(fileSize), kDamaged);
  uint8_t c[512];
  source_->readExact(c, sizeof c, 0);
  if (readLe64(c) != kSesparseMagic)
    throw Error(kBadMagic, "SESPARSE extent " + name + " has no seSparse magic (0xcafebabe)", name, 0,
                "the descriptor names a file that is not an ESXi seSparse delta; check the extent line");
  const std::string unsupported = "this seSparse variant is not supported; consolidate the snapshots in vSphere first";
  if (readLe64(c + 8) != kSesparseVersion)
    throw Error(codes::kUnsupported, "unsupported seSparse version " + hex(readLe64(c + 8)) + " in " + name, name, 8, unsupported);
  if (readLe64(c + 24) != kSesparseGrainSectors)
    throw Error(codes::kUnsupported, "unsupported seSparse grain size " + std::to_string(readLe64(c + 24)) + " in " + name, name,
                24, unsupported);
  if (readLe64(c + 32) != kSesparseGtSectors)
    throw Error(codes::kUnsupported, "unsupported seSparse grain table size " + std::to_string(readLe64(c + 32)) + " in " + name,
                name, 32, unsupported);
  if (readLe64(c + 40) != 0)
    throw Error(codes::kUnsupported, "unsupported seSparse flags " + hex(readLe64(c + 40)) + " in " + name, name, 40, unsupported);
  if (!allZero(c + 48, 32) || !allZero(c + 208, 304))
    throw Error(codes::kUnsupported, "seSparse header of " + name + " has non-zero reserved fields", name, 48, unsupported);
  SesparseHeader& h = header_;
  h.capacity = readLe64(c + 16);
  h.volatileOffset = readLe64(c + 80);
  h.volatileSize = readLe64(c + 88);
  h.journalOffset = readLe64(c + 112);
  h.journalSize = readLe64(c + 120);
  h.gdOffset = readLe64(c + 128);
  h.gdSize = readLe64(c + 136);
  h.gtOffset = readLe64(c + 144);
  h.gtSize = readLe64(c + 152);
  h.grainsOffset = readLe64(c + 192);
  h.grainsSize = readLe64(c + 200);
  if (h.capacity == 0 || h.capacity > kSesparseMaxCapacity || h.capacity != descriptorSectors)
    throw Error(kBadCapacity,
                "seSparse extent " + name + " holds " + std::to_string(h.capacity) + " sectors but the descriptor line says " +
                    std::to_string(descriptorSectors),
                name, 16, "the descriptor and the -sesparse.vmdk file do not belong together, or one is damaged");
  checkVolatileHeader();

  const uint64_t tableSpan = kSesparseGrainSectors * kSesparseGtEntries;  // 16 MiB of guest space per table
  const uint64_t needed = h.capacity / tableSpan + (h.capacity % tableSpan ? 1 : 0);
  const uint64_t gdEntries = h.gdSize > (kMaxGdEntries >> 6) ? kMaxGdEntries + 1 : h.gdSize * 64;  // 64 entries a sector
  if (gdEntries < needed)
    throw Error(kBadGd,
                "seSparse grain directory of " + name + " has " + std::to_string(h.gdSize) + " sectors; the capacity needs " +
                    std::to_string(needed) + " entries",
                name, 136, kDamaged);
  const uint64_t gdSectors = (needed + 63) / 64;
  if (h.gdOffset == 0 || !sectorsInFile(h.gdOffset, gdSectors, fileSize))
    throw Error(kBadGd, "seSparse grain directory of " + name + " (sector " + std::to_string(h.gdOffset) + ") lies outside the file",
                name, 128, kDamaged);
  if (h.gtOffset == 0 || h.gtOffset > (fileSize >> 9))
    throw Error(kBadGd, "seSparse grain tables of " + name + " start at sector " + std::to_string(h.gtOffset) +
                    ", outside the file", name, 144, kDamaged);
  if (h.grainsOffset == 0 || h.grainsOffset > (fileSize >> 9))
    throw Error(kBadGte, "seSparse grains of " + name + " start at sector " + std::to_string(h.grainsOffset) +
                    ", outside the file", name, 192, kDamaged);
  // Only the entries the capacity uses are read, and they lie inside the file: bounded allocation.
  std::vector<uint8_t> raw(needed * 8);
  const uint64_t gdAt = h.gdOffset << 9;
  source_->readExact(raw.data(), raw.size(), gdAt);
  gtSector_.resize(needed);
  for (uint64_t i = 0; i < needed; ++i) {
    const uint64_t e = readLe64(raw.data() + i * 8);
    if (e == 0) continue;
    const uint64_t table = e & 0xFFFFFFFFull;
    const auto at = static_cast<int64_t>(gdAt + i * 8);
    if ((e & 0xFFFFFFFF00000000ull) != kGdAllocatedTag)
      throw Error(kBadGd, "seSparse grain directory entry " + std::to_string(i) + " of " + name + " is " + hex(e) +
                      " (not an allocated-table entry)", name, at, kDamaged);
    const uint64_t sector = h.gtOffset + table * kSesparseGtSectors;  // table < 2^32: no overflow
    if ((table + 1) * kSesparseGtSectors > h.gtSize || !sectorsInFile(sector, kSesparseGtSectors, fileSize))
      throw Error(kBadGd, "seSparse grain directory entry " + std::to_string(i) + " of " + name + " names grain table " +
                      std::to_string(table) + ", outside the grain table area or the file", name, at, kDamaged);
    gtSector_[i] = sector;
  }
  setGeometry(kSesparseGrainSectors, kSesparseGtEntries);
  gts_.setCapacity(kCachedTables);
}

void SesparseExtent::checkVolatileHeader() {
  const std::string& name = source_->name();
  SesparseHeader& h = header_;
  if (h.volatileOffset == 0 || !sectorsInFile(h.volatileOffset, 1, source_->size()))
    throw Error(codes::kTruncated, "seSparse volatile header of " + name + " (sector " + std::to_string(h.volatileOffset) +
                    ") lies outside the file", name, 80, kDamaged);
  uint8_t v[512];
  const uint64_t at = h.volatileOffset << 9;
  source_->readExact(v, sizeof v, at);
  if (readLe64(v) != kSesparseVolatileMagic)
    throw Error(kBadHeader, "seSparse volatile header of " + name + " has no 0xcafecafe magic", name, static_cast<int64_t>(at),
                kDamaged);
  h.freeGtNumber = readLe64(v + 8);
  h.nextTxnSeq = readLe64(v + 16);
  if (readLe64(v + 24) != 0)
    throw Error(kJournalDirty, "seSparse delta " + name + " has an unreplayed journal (it was not closed cleanly)", name,
                static_cast<int64_t>(at + 24),
                "let ESXi replay it: power the VM on and off (or consolidate the snapshots) in vSphere, then copy the files again");
  if (!allZero(v + 32, 480))
    throw Error(codes::kUnsupported, "seSparse volatile header of " + name + " has non-zero padding", name,
                static_cast<int64_t>(at + 32), "this seSparse variant is not supported; consolidate the snapshots in vSphere first");
}

const std::vector<uint64_t>& SesparseExtent::grainTable(uint64_t gdIndex) {
  if (const auto* hit = gts_.find(gdIndex)) return *hit;
  const std::string& name = source_->name();
  const uint64_t fileSize = source_->size();
  const uint64_t gtAt = gtSector_[gdIndex] << 9;
  std::vector<uint8_t> raw(kSesparseGtEntries * 8);
  source_->readExact(raw.data(), raw.size(), gtAt);
  std::vector<uint64_t> table(kSesparseGtEntries);
  const uint64_t grains = grainCount();
  for (uint64_t i = 0; i < kSesparseGtEntries; ++i) {
    const uint64_t grainIndex = gdIndex * kSesparseGtEntries + i;
    if (grainIndex >= grains) break;  // entries past the capacity are never used
    const uint64_t e = readLe64(raw.data() + i * 8);
    table[i] = e;
    const auto at = static_cast<int64_t>(gtAt + i * 8);
    const uint64_t type = e >> 60;
    if (type == kGteUnmapped || type == kGteZero) continue;
    if (type == kGteUnallocated) {
      if (e != 0)
        throw Error(kBadGte, "seSparse grain " + std::to_string(grainIndex) + " of " + name + " has an invalid entry " + hex(e),
                    name, at, kDamaged);
      continue;
    }
    if (type != kGteAllocated)
      throw Error(kBadGte, "seSparse grain " + std::to_string(grainIndex) + " of " + name + " has an unknown entry type " + hex(e),
                  name, at, kDamaged);
    // number < 2^60 and grainsOffset is inside the file, so the sum cannot overflow.
    const uint64_t number = grainNumber(e);
    const uint64_t sector = header_.grainsOffset + number * kSesparseGrainSectors;
    if (!sectorsInFile(sector, visibleBytes(grainIndex) >> 9, fileSize))
      throw Error(kBadGte, "seSparse grain " + std::to_string(grainIndex) + " of " + name + " points at grain " +
                      std::to_string(number) + ", past the end of the file", name, at, kDamaged);
  }
  return *gts_.insert(gdIndex, std::move(table));
}

Grain SesparseExtent::grain(uint64_t grainIndex) {
  const uint64_t gdIndex = grainIndex / kSesparseGtEntries;
  if (gtSector_[gdIndex] == 0) return {BlockKind::Hole, 0};
  const uint64_t e = grainTable(gdIndex)[grainIndex % kSesparseGtEntries];
  switch (e >> 60) {
    case kGteAllocated:
      return {BlockKind::Data, header_.grainsOffset + grainNumber(e) * kSesparseGrainSectors};
    case kGteUnmapped:
    case kGteZero:
      return {BlockKind::Zero, 0};
    default:
      return {BlockKind::Hole, 0};
  }
}

}  // namespace h2k::vmdk
