#include "formats/raw/raw_writer.hpp"

#include "common/error.hpp"

namespace h2k {

RawWriter::RawWriter(const File& file, uint64_t virtualSize) : file_(file), size_(virtualSize) {}

void RawWriter::writeData(uint64_t guestOffset, const uint8_t* data, size_t len) {
  if (guestOffset >= size_) return;
  // The engine pads the last cluster; only the guest-visible part goes to the file.
  uint64_t n = std::min<uint64_t>(len, size_ - guestOffset);
  file_.writeAll(data, static_cast<size_t>(n), guestOffset);
}

void RawWriter::writeCompressed(uint64_t guestOffset, const uint8_t*, size_t) {
  throw Error(codes::kInvalidArgument, "raw output cannot hold compressed clusters", file_.path(),
              static_cast<int64_t>(guestOffset), "use --compression none with raw output, or qcow2");
}

uint64_t RawWriter::finish() {
  file_.truncate(size_);  // trailing zeros become a hole, never written
  file_.sync();
  return size_;
}

}  // namespace h2k
