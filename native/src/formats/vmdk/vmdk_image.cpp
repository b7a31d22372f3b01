#include "formats/vmdk/vmdk_image.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/error.hpp"
#include "formats/vmdk/cowd_extent.hpp"
#include "formats/vmdk/sesparse_extent.hpp"

namespace h2k::vmdk {

VmdkImage::VmdkImage(Descriptor descriptor, std::vector<std::string> files, std::vector<PlacedExtent> extents,
                     std::vector<std::string> warnings)
    : descriptor_(std::move(descriptor)), files_(std::move(files)), extents_(std::move(extents)), warnings_(std::move(warnings)) {
  size_t sparseCount = 0;
  for (auto& e : extents_) {
    e.start = size_;
    size_ += e.extent->sizeBytes();
    if (dynamic_cast<SparseSlot*>(e.extent.get())) ++sparseCount;
  }
  // One GT-cache budget for the whole image, so 4096 split extents do not multiply it.
  if (sparseCount > 1) {
    size_t each = std::max(GtCache::kMinCapacity, GtCache::kImageBudget / sparseCount);
    for (auto& e : extents_)
      if (auto* slot = dynamic_cast<SparseSlot*>(e.extent.get())) slot->setGtCacheCapacity(each);
  }
}

size_t VmdkImage::extentAt(uint64_t offset) const {
  auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                             [](uint64_t off, const PlacedExtent& e) { return off < e.start; });
  return static_cast<size_t>(it - extents_.begin()) - 1;
}

BlockStatus VmdkImage::blockStatus(uint64_t offset, uint64_t maxLen) {
  if (offset >= size_ || maxLen == 0)
    throw Error(codes::kInvalidArgument, "block status past the end of the VMDK", files_.front(), static_cast<int64_t>(offset));
  const uint64_t end = offset + std::min(maxLen, size_ - offset);
  size_t i = extentAt(offset);
  uint64_t pos = offset;
  BlockKind kind = BlockKind::Data;
  bool first = true;
  while (pos < end && i < extents_.size()) {
    PlacedExtent& e = extents_[i];
    uint64_t rel = pos - e.start;
    BlockStatus s = e.extent->blockStatus(rel, end - pos);
    if (first) {
      kind = s.kind;
      first = false;
    } else if (s.kind != kind) {
      break;
    }
    pos += s.length;
    if (pos - e.start < e.extent->sizeBytes()) break;  // the run stopped inside this extent
    ++i;
  }
  return {offset, pos - offset, kind};
}

void VmdkImage::read(uint64_t offset, uint8_t* buf, size_t len) {
  if (offset > size_ || len > size_ - offset)
    throw Error(codes::kInvalidArgument, "read past the end of the VMDK", files_.front(), static_cast<int64_t>(offset));
  uint64_t pos = offset;
  const uint64_t end = offset + len;
  size_t i = len ? extentAt(offset) : 0;
  while (pos < end) {
    PlacedExtent& e = extents_[i];
    uint64_t rel = pos - e.start;
    uint64_t n = std::min(end - pos, e.extent->sizeBytes() - rel);
    e.extent->read(rel, buf + (pos - offset), static_cast<size_t>(n));
    pos += n;
    ++i;
  }
}

ImageInfo VmdkImage::info() {
  ImageInfo info;
  info.format = "vmdk";
  info.subformat = descriptor_.createType;
  info.virtualSize = size_;
  info.files = files_;
  info.warnings = warnings_;
  std::set<std::string> seen;
  for (const auto& f : files_) {
    struct stat st;
    if (seen.insert(f).second && ::stat(f.c_str(), &st) == 0) info.fileBytes += static_cast<uint64_t>(st.st_size);
  }
  info.compression = "none";
  const SparseExtent* firstSparse = nullptr;
  for (const auto& e : extents_) {
    info.extents.push_back(e.info);
    if (auto* slot = dynamic_cast<const SparseSlot*>(e.extent.get())) {
      if (!firstSparse) firstSparse = &slot->sparse();
      if (slot->sparse().header().compressed()) info.compression = "deflate";
      for (const auto& w : slot->sparse().warnings()) info.warnings.push_back(w);
    }
  }
  for (uint64_t off = 0; off < size_;) {
    BlockStatus s = blockStatus(off, size_ - off);
    if (s.kind == BlockKind::Data) info.allocatedBytes += s.length;
    off += s.length;
  }

  auto& p = info.properties;
  auto ddb = [&](const char* key) -> std::string {
    auto it = descriptor_.ddb.find(key);
    return it == descriptor_.ddb.end() ? std::string() : it->second;
  };
  auto put = [&](const char* name, const std::string& value) {
    if (!value.empty()) p[name] = value;
  };
  put("version", descriptor_.version ? std::to_string(descriptor_.version) : "");
  put("cid", descriptor_.cid);
  put("parentCid", descriptor_.parentCid);
  put("encoding", descriptor_.encoding);
  put("adapterType", ddb("ddb.adapterType"));
  put("hwVersion", ddb("ddb.virtualHWVersion"));
  put("uuid", ddb("ddb.uuid").empty() ? ddb("ddb.uuid.image") : ddb("ddb.uuid"));
  put("longContentId", ddb("ddb.longContentID"));
  put("toolsVersion", ddb("ddb.toolsVersion"));
  put("thinProvisioned", ddb("ddb.thinProvisioned"));
  if (!ddb("ddb.geometry.cylinders").empty())
    p["geometry"] = ddb("ddb.geometry.cylinders") + "/" + ddb("ddb.geometry.heads") + "/" + ddb("ddb.geometry.sectors");
  if (!ddb("ddb.geometry.biosCylinders").empty())
    p["biosGeometry"] =
        ddb("ddb.geometry.biosCylinders") + "/" + ddb("ddb.geometry.biosHeads") + "/" + ddb("ddb.geometry.biosSectors");
  if (firstSparse) {
    const SparseHeader& h = firstSparse->header();
    char flags[16];
    std::snprintf(flags, sizeof flags, "0x%x", h.flags);
    p["sparseVersion"] = std::to_string(h.version);
    p["sparseFlags"] = flags;
    p["grainSize"] = std::to_string(h.grainSize);  // sectors
    p["grainTableEntries"] = std::to_string(h.numGTEsPerGT);
    p["uncleanShutdown"] = h.uncleanShutdown ? "true" : "false";
    p["zeroedGrains"] = h.zeroedGrains() ? "true" : "false";
    p["gdAtEnd"] = firstSparse->gdAtEnd() ? "true" : "false";
  }
  putDeltaHeader(p);
  p["extentCount"] = std::to_string(extents_.size());
  return info;
}

// ESXi snapshot deltas: the header of the first COWD (vmfsSparse) or SESparse extent, so
// `h2k info` shows what the delta is made of and whether it was closed cleanly.
void VmdkImage::putDeltaHeader(std::map<std::string, std::string>& p) const {
  char hex[24];
  for (const auto& e : extents_) {
    if (const auto* cowd = dynamic_cast<const CowdExtent*>(e.extent.get())) {
      const CowdHeader& h = cowd->header();
      std::snprintf(hex, sizeof hex, "0x%x", h.flags);
      p["deltaFormat"] = "vmfsSparse (COWD)";
      p["cowdVersion"] = std::to_string(h.version);
      p["cowdFlags"] = hex;
      p["grainSize"] = std::to_string(h.grainSize);  // sectors
      p["grainDirectoryEntries"] = std::to_string(h.gdEntries);
      p["nextFreeSector"] = std::to_string(h.nextFreeSector);
      p["uncleanShutdown"] = h.dirty ? "true" : "false";
      return;
    }
    if (const auto* se = dynamic_cast<const SesparseExtent*>(e.extent.get())) {
      const SesparseHeader& h = se->header();
      p["deltaFormat"] = "SESparse";
      p["grainSize"] = std::to_string(kSesparseGrainSectors);  // sectors
      p["grainDirectorySectors"] = std::to_string(h.gdSize);
      p["grainTableSectors"] = std::to_string(h.gtSize);
      p["grainSectors"] = std::to_string(h.grainsSize);
      p["journalSectors"] = std::to_string(h.journalSize);
      p["freeGrainTable"] = std::to_string(h.freeGtNumber);
      p["nextTransaction"] = std::to_string(h.nextTxnSeq);
      return;
    }
  }
}

}  // namespace h2k::vmdk
