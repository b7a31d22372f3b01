#include "formats/vmdk/stream_vmdk_writer.hpp"

#include <libdeflate.h>

#include <cstdio>
#include <cstring>
#include <random>

#include "common/error.hpp"

namespace h2k {

namespace {
constexpr uint64_t kSector = 512;
constexpr uint64_t kGrainSectors = StreamVmdkWriter::kGrainBytes / kSector;  // 128
constexpr uint64_t kGtEntries = 512;
constexpr uint64_t kGtSectors = kGtEntries * 4 / kSector;  // 4
constexpr uint64_t kGdAtEnd = ~0ull;
constexpr uint64_t kDescriptorSectors = 20;
constexpr uint32_t kMarkerEos = 0, kMarkerGt = 1, kMarkerGd = 2, kMarkerFooter = 3;

void putLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t roundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

StreamVmdkWriter::StreamVmdkWriter(const File& file, uint64_t virtualSize, std::string extentName, bool directIo)
    : file_(file), out_(file, directIo) {
  capacity_ = (virtualSize + kSector - 1) / kSector;
  uint64_t gts = (capacity_ + kGrainSectors * kGtEntries - 1) / (kGrainSectors * kGtEntries);
  if (capacity_ == 0 || gts * kGtEntries * kGrainSectors >= (1ull << 41))  // GTEs are u32 sectors: < 2 TiB of file
    throw Error(codes::kTooLarge, "a streamOptimized VMDK cannot describe " + std::to_string(virtualSize) + " bytes",
                file.path(), -1, "choose qcow2 or raw output");
  gd_.assign(gts, 0);
  // ddb geometry as VMware writes it for SCSI disks: 255 heads, 63 sectors.
  uint64_t cylinders = std::min<uint64_t>(capacity_ / (255 * 63), 65535);
  char cid[9];
  std::snprintf(cid, sizeof cid, "%08x", static_cast<unsigned>(std::random_device{}() & 0xFFFFFFF0u));
  descriptor_ = "# Disk DescriptorFile\nversion=1\nCID=" + std::string(cid) +
                "\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n# Extent description\nRW " +
                std::to_string(capacity_) + " SPARSE \"" + extentName +
                "\"\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n"
                "ddb.geometry.cylinders = \"" + std::to_string(cylinders) +
                "\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\nddb.toolsVersion = \"2147483647\"\n";
  if (descriptor_.size() > kDescriptorSectors * kSector)
    throw Error(codes::kInvalidArgument, "VMDK descriptor too long (extent name?)", file.path());
  overhead_ = roundUp(1 + kDescriptorSectors, kGrainSectors);  // 128 sectors, as qemu and VMware lay out
  pos_ = overhead_ * kSector;
  std::vector<uint8_t> desc(kDescriptorSectors * kSector, 0);
  std::memcpy(desc.data(), descriptor_.data(), descriptor_.size());
  out_.write(desc.data(), desc.size(), kSector);
  packed_.resize(libdeflate_zlib_compress_bound(nullptr, kGrainBytes) + 12 + kSector);
  compressor_ = libdeflate_alloc_compressor(6);
  if (!compressor_) throw Error(codes::kIo, "out of memory creating the deflate compressor", file.path());
}

StreamVmdkWriter::~StreamVmdkWriter() {
  if (compressor_) libdeflate_free_compressor(compressor_);
}

std::vector<uint8_t> StreamVmdkWriter::header(uint64_t gdSector) const {
  std::vector<uint8_t> h(kSector, 0);
  std::memcpy(h.data(), "KDMV", 4);
  putLe32(h.data() + 4, 3);                     // version 3: stream era
  putLe32(h.data() + 8, 0x1 | 0x10000 | 0x20000);  // newline check, compressed, markers
  putLe64(h.data() + 12, capacity_);
  putLe64(h.data() + 20, kGrainSectors);
  putLe64(h.data() + 28, 1);                    // descriptor at sector 1
  putLe64(h.data() + 36, kDescriptorSectors);
  putLe32(h.data() + 44, kGtEntries);
  putLe64(h.data() + 48, 0);                    // no redundant GD
  putLe64(h.data() + 56, gdSector);
  putLe64(h.data() + 64, overhead_);
  h[72] = 0;
  h[73] = '\n';
  h[74] = ' ';
  h[75] = '\r';
  h[76] = '\n';
  h[77] = 1;  // compressAlgorithm: DEFLATE (u16 LE)
  h[78] = 0;
  return h;
}

void StreamVmdkWriter::writeMarker(uint64_t val, uint32_t type) {
  uint8_t m[kSector] = {0};
  putLe64(m, val);
  putLe32(m + 8, 0);
  putLe32(m + 12, type);
  out_.write(m, kSector, pos_);
  pos_ += kSector;
}

void StreamVmdkWriter::flushGt() {
  if (gtIndex_ == UINT64_MAX) return;
  writeMarker(kGtSectors, kMarkerGt);
  std::vector<uint8_t> raw(kGtSectors * kSector);
  for (uint64_t i = 0; i < kGtEntries; ++i) putLe32(raw.data() + i * 4, gt_[i]);
  gd_[gtIndex_] = static_cast<uint32_t>(pos_ / kSector);
  out_.write(raw.data(), raw.size(), pos_);
  pos_ += raw.size();
  gtIndex_ = UINT64_MAX;
}

void StreamVmdkWriter::writeData(uint64_t guestOffset, const uint8_t* data, size_t len) {
  if (guestOffset % kGrainBytes != 0 || len % kGrainBytes != 0 || guestOffset < nextGuest_ ||
      guestOffset / kSector + len / kSector > roundUp(capacity_, kGrainSectors))
    throw Error(codes::kInvalidArgument, "VMDK stream writer: out-of-order or unaligned write at " +
                    std::to_string(guestOffset), file_.path(), static_cast<int64_t>(guestOffset),
                "internal error in the conversion engine");
  for (size_t done = 0; done < len; done += kGrainBytes) {
    uint64_t grain = (guestOffset + done) / kGrainBytes;
    uint64_t gtIndex = grain / kGtEntries;
    if (gtIndex != gtIndex_) {
      flushGt();  // grains only move forward: the previous GT is final
      gtIndex_ = gtIndex;
      gt_.assign(kGtEntries, 0);
    }
    // Record: u64 LBA, u32 compressed size, zlib stream, zero padding to a sector.
    size_t clen = libdeflate_zlib_compress(compressor_, data + done, kGrainBytes, packed_.data() + 12,
                                           packed_.size() - 12 - kSector);
    if (clen == 0) throw Error(codes::kIo, "deflate failed on a grain", file_.path(), static_cast<int64_t>(guestOffset + done));
    putLe64(packed_.data(), grain * kGrainSectors);
    putLe32(packed_.data() + 8, static_cast<uint32_t>(clen));
    size_t record = roundUp(12 + clen, kSector);
    std::memset(packed_.data() + 12 + clen, 0, record - 12 - clen);
    if (pos_ / kSector > UINT32_MAX - record / kSector)
      throw Error(codes::kTooLarge, "the VMDK stream grew past 2 TiB", file_.path(), static_cast<int64_t>(pos_));
    gt_[grain % kGtEntries] = static_cast<uint32_t>(pos_ / kSector);
    out_.write(packed_.data(), record, pos_);
    pos_ += record;
  }
  nextGuest_ = guestOffset + len;
}

void StreamVmdkWriter::writeCompressed(uint64_t guestOffset, const uint8_t*, size_t) {
  throw Error(codes::kInvalidArgument, "the VMDK stream writer compresses grains itself", file_.path(),
              static_cast<int64_t>(guestOffset), "convert to VMDK without --compress");
}

uint64_t StreamVmdkWriter::finish() {
  flushGt();
  uint64_t gdSectors = roundUp(gd_.size() * 4, kSector) / kSector;
  writeMarker(gdSectors, kMarkerGd);
  uint64_t gdSector = pos_ / kSector;
  std::vector<uint8_t> gd(gdSectors * kSector, 0);
  for (size_t i = 0; i < gd_.size(); ++i) putLe32(gd.data() + i * 4, gd_[i]);
  out_.write(gd.data(), gd.size(), pos_);
  pos_ += gd.size();
  writeMarker(1, kMarkerFooter);
  auto footer = header(gdSector);
  out_.write(footer.data(), footer.size(), pos_);
  pos_ += kSector;
  writeMarker(0, kMarkerEos);
  out_.flush();
  file_.truncate(pos_);
  file_.sync();
  auto h = header(kGdAtEnd);
  out_.write(h.data(), h.size(), 0);
  out_.flush();
  file_.sync();
  return pos_;
}

}  // namespace h2k
