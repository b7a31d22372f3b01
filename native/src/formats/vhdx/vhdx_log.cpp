#include "formats/vhdx/vhdx_log.hpp"

#include <algorithm>
#include <cstring>

#include "formats/vhdx/vhdx_reader.hpp"

namespace h2k {

namespace {
constexpr uint64_t kSector = 4096;
constexpr uint64_t kMaxLog = 256ull << 20;  // replay memory stays bounded by this

struct Entry {
  uint64_t offset;  // within the log
  uint32_t length;
  uint32_t tail;
  uint64_t sequence;
  uint32_t descriptors;
  uint64_t flushedFileOffset;
};

class LogRing {
 public:
  LogRing(const ByteView& file, uint64_t offset, uint64_t length) : file_(file), offset_(offset), length_(length) {}
  // `len` bytes from log-relative `pos`, wrapping around the ring.
  std::vector<uint8_t> read(uint64_t pos, uint64_t len) const {
    std::vector<uint8_t> out(len);
    uint64_t done = 0;
    while (done < len) {
      uint64_t at = (pos + done) % length_;
      uint64_t n = std::min(len - done, length_ - at);
      file_.readExact(out.data() + done, n, offset_ + at);
      done += n;
    }
    return out;
  }
  uint64_t length() const { return length_; }

 private:
  const ByteView& file_;
  uint64_t offset_, length_;
};

// A complete, checksummed entry starting at `pos`, or false.
bool readEntry(const LogRing& ring, uint64_t pos, const uint8_t* guid, Entry* e, std::vector<uint8_t>* bytes) {
  auto head = ring.read(pos, kSector);
  if (std::memcmp(head.data(), "loge", 4) != 0 || std::memcmp(head.data() + 32, guid, 16) != 0) return false;
  uint32_t length = le32(head.data() + 8);
  if (length == 0 || length % kSector != 0 || length > ring.length()) return false;
  uint32_t count = le32(head.data() + 24);
  if ((64 + uint64_t{count} * 32 + kSector - 1) / kSector > length / kSector) return false;
  *bytes = ring.read(pos, length);
  uint32_t stored = le32(bytes->data() + 4);
  std::memset(bytes->data() + 4, 0, 4);
  if (crc32c(bytes->data(), bytes->size()) != stored) return false;
  *e = {pos, length, le32(head.data() + 12), le64(head.data() + 16), count, le64(head.data() + 48)};
  return e->tail % kSector == 0 && e->tail < ring.length();
}

}  // namespace

void ReplayedView::readExact(void* buf, size_t len, uint64_t offset) const {
  if (!rangeInside(offset, len, size_))
    throw Error(codes::kTruncated, "read past the end of " + name() + " (after log replay)", name(),
                static_cast<int64_t>(offset), "the image is truncated or corrupt");
  auto* out = static_cast<uint8_t*>(buf);
  uint64_t baseSize = base_->size();
  // Start from the file (zeros past its end: the log may extend it), then lay the sectors over.
  if (offset < baseSize) base_->readExact(out, std::min<uint64_t>(len, baseSize - offset), offset);
  if (offset + len > baseSize) {
    uint64_t from = std::max(offset, baseSize);
    std::memset(out + (from - offset), 0, offset + len - from);
  }
  auto it = sectors_.upper_bound(offset);
  if (it != sectors_.begin()) --it;
  for (; it != sectors_.end() && it->first < offset + len; ++it) {
    uint64_t s = it->first, e = s + kSector;
    if (e <= offset) continue;
    uint64_t from = std::max(s, offset), to = std::min(e, offset + len);
    std::memcpy(out + (from - offset), it->second.data() + (from - s), to - from);
  }
}

std::shared_ptr<ReplayedView> replayVhdxLog(std::shared_ptr<const ByteView> file, uint64_t logOffset,
                                            uint64_t logLength, const uint8_t* guid) {
  const std::string& name = file->name();
  auto bad = [&](const std::string& why) {
    return Error(vhdx::kBadLog, "VHDX " + name + " must be replayed but its log is unusable: " + why, name,
                 static_cast<int64_t>(logOffset),
                 "open it read-write in Hyper-V (or run `qemu-img check -r all` on a copy), then convert again");
  };
  if (logOffset < (1u << 20) || logOffset % (1u << 20) || logLength == 0 || logLength % (1u << 20) || logLength > kMaxLog)
    throw bad("log offset/length " + std::to_string(logOffset) + "/" + std::to_string(logLength) + " invalid");
  requireInside(*file, logOffset, logLength, vhdx::kBadLog, "VHDX log");
  LogRing ring(*file, logOffset, logLength);
  // The head: the valid entry with the highest sequence number.
  Entry head{};
  bool found = false;
  std::vector<uint8_t> bytes;
  for (uint64_t pos = 0; pos < logLength; pos += kSector) {
    Entry e;
    if (readEntry(ring, pos, guid, &e, &bytes) && (!found || e.sequence > head.sequence)) {
      head = e;
      found = true;
    }
  }
  if (!found) throw bad("no valid log entry carries the header's LogGuid");
  // Walk from the head's tail to the head; sequence numbers must be consecutive.
  std::vector<std::pair<Entry, std::vector<uint8_t>>> chain;
  uint64_t pos = head.tail;
  for (uint64_t guard = 0; guard <= logLength / kSector; ++guard) {
    Entry e;
    if (!readEntry(ring, pos, guid, &e, &bytes)) throw bad("entry at log offset " + std::to_string(pos) + " is damaged");
    if (!chain.empty() && e.sequence != chain.back().first.sequence + 1) throw bad("sequence numbers are not consecutive");
    chain.emplace_back(e, bytes);
    if (e.offset == head.offset && e.sequence == head.sequence) break;
    pos = (pos + e.length) % logLength;
  }
  if (chain.back().first.sequence != head.sequence) throw bad("the active sequence does not reach its head");
  std::map<uint64_t, std::vector<uint8_t>> sectors;
  uint64_t fileSize = file->size();
  for (auto& [e, b] : chain) {
    uint64_t dataAt = (64 + uint64_t{e.descriptors} * 32 + kSector - 1) / kSector * kSector;
    for (uint32_t i = 0; i < e.descriptors; ++i) {
      const uint8_t* d = b.data() + 64 + i * 32;
      uint64_t target = le64(d + 16);
      if (le64(d + 24) != e.sequence) throw bad("descriptor sequence mismatch");
      if (std::memcmp(d, "desc", 4) == 0) {
        if (dataAt + kSector > b.size()) throw bad("data sector outside its entry");
        const uint8_t* s = b.data() + dataAt;
        if (std::memcmp(s, "data", 4) != 0 || (uint64_t{le32(s + 4)} << 32 | le32(s + 4092)) != e.sequence)
          throw bad("data sector stamp mismatch");
        if (target % kSector) throw bad("data descriptor target not 4 KiB aligned");
        std::vector<uint8_t> sector(kSector);
        std::memcpy(sector.data(), d + 8, 8);              // leading bytes
        std::memcpy(sector.data() + 8, s + 8, 4084);       // payload
        std::memcpy(sector.data() + 4092, d + 4, 4);       // trailing bytes
        sectors[target] = std::move(sector);
        dataAt += kSector;
      } else if (std::memcmp(d, "zero", 4) == 0) {
        uint64_t len = le64(d + 8);
        if (target % kSector || len % kSector || len > kMaxLog) throw bad("zero descriptor range invalid");
        for (uint64_t o = 0; o < len; o += kSector) sectors[target + o] = std::vector<uint8_t>(kSector, 0);
      } else {
        throw bad("unknown descriptor type");
      }
    }
    fileSize = std::max(fileSize, e.flushedFileOffset);
  }
  return std::make_shared<ReplayedView>(std::move(file), fileSize, std::move(sectors));
}

}  // namespace h2k
