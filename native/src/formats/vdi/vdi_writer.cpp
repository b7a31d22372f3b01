#include "formats/vdi/vdi_writer.hpp"

#include <cstring>
#include <random>

#include "common/error.hpp"

namespace h2k {

namespace {
constexpr uint64_t MiB = 1u << 20;
constexpr uint64_t kMaxBlocks = 0xFFFFFFF0u;  // block indices are u32; the top values are markers

void putLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void randomUuid(uint8_t* p) {
  std::random_device rd;
  for (int i = 0; i < 16; i += 4) putLe32(p + i, rd());
  p[6] = static_cast<uint8_t>((p[6] & 0x0F) | 0x40);  // version 4
  p[8] = static_cast<uint8_t>((p[8] & 0x3F) | 0x80);
}
}  // namespace

VdiWriter::VdiWriter(const File& file, uint64_t virtualSize, bool directIo) : file_(file), out_(file, directIo) {
  diskSize_ = (virtualSize + 511) / 512 * 512;
  uint64_t blocks = (diskSize_ + kBlockSize - 1) / kBlockSize;
  if (diskSize_ == 0 || blocks > kMaxBlocks)
    throw Error(codes::kTooLarge, "a VDI cannot hold " + std::to_string(virtualSize) + " bytes", file.path(), -1,
                "choose qcow2 or raw output");
  map_.assign(blocks, 0xFFFFFFFFu);
  offBlocks_ = MiB;  // VirtualBox aligns the map and the data to 1 MiB
  offData_ = (offBlocks_ + blocks * 4 + MiB - 1) / MiB * MiB;
}

void VdiWriter::writeData(uint64_t guestOffset, const uint8_t* data, size_t len) {
  if (guestOffset % kBlockSize != 0 || len % kBlockSize != 0 || guestOffset < nextGuest_ ||
      guestOffset / kBlockSize + len / kBlockSize > map_.size())
    throw Error(codes::kInvalidArgument, "VDI writer: out-of-order or unaligned write at " + std::to_string(guestOffset),
                file_.path(), static_cast<int64_t>(guestOffset), "internal error in the conversion engine");
  for (size_t done = 0; done < len; done += kBlockSize) {
    uint64_t block = (guestOffset + done) / kBlockSize;
    map_[block] = allocated_;
    out_.write(data + done, kBlockSize, offData_ + uint64_t{allocated_} * kBlockSize);
    ++allocated_;
  }
  nextGuest_ = guestOffset + len;
}

void VdiWriter::writeCompressed(uint64_t guestOffset, const uint8_t*, size_t) {
  throw Error(codes::kInvalidArgument, "VDI images cannot hold compressed blocks", file_.path(),
              static_cast<int64_t>(guestOffset), "convert to VDI without compression");
}

uint64_t VdiWriter::finish() {
  std::vector<uint8_t> map((offData_ - offBlocks_), 0);
  for (size_t i = 0; i < map_.size(); ++i) putLe32(map.data() + i * 4, map_[i]);
  out_.write(map.data(), map.size(), offBlocks_);
  uint64_t end = offData_ + uint64_t{allocated_} * kBlockSize;
  out_.flush();
  file_.truncate(end);
  file_.sync();
  uint8_t h[512] = {0};
  const char banner[] = "<<< h2k Virtual Disk Image >>>\n";
  std::memcpy(h, banner, sizeof banner - 1);
  putLe32(h + 64, 0xBEDA107F);
  putLe32(h + 68, 0x00010001);
  putLe32(h + 72, 384);  // header size (v1.1 without LCHS)
  putLe32(h + 76, 1);    // normal (dynamic)
  putLe32(h + 340, static_cast<uint32_t>(offBlocks_));
  putLe32(h + 344, static_cast<uint32_t>(offData_));
  putLe32(h + 360, 512);  // legacy geometry: sector size
  putLe64(h + 368, diskSize_);
  putLe32(h + 376, kBlockSize);
  putLe32(h + 380, 0);
  putLe32(h + 384, static_cast<uint32_t>(map_.size()));
  putLe32(h + 388, allocated_);
  randomUuid(h + 392);  // uuidCreate
  randomUuid(h + 408);  // uuidModify
  out_.write(h, sizeof h, 0);
  out_.flush();
  file_.sync();
  return end;
}

}  // namespace h2k
