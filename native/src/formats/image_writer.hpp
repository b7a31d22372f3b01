// The one interface every output format implements. The engine calls it from a single
// thread, strictly in ascending guest order; guest ranges it never mentions read as zero
// (the writers rely on "zero init": a new qcow2 without backing file, a sparse raw file).
#pragma once
#include <cstddef>
#include <cstdint>

namespace h2k {

class ImageWriter {
 public:
  virtual ~ImageWriter() = default;

  // Allocation granule in bytes: the engine splits data into clusters of this size, skips
  // all-zero ones and compresses each of the others on its own.
  virtual uint32_t clusterSize() const = 0;
  virtual bool supportsCompression() const = 0;

  // `len` bytes of plain data at cluster-aligned `guestOffset`; len is a whole number of
  // clusters (the caller zero-pads the last cluster of the disk).
  virtual void writeData(uint64_t guestOffset, const uint8_t* data, size_t len) = 0;

  // One cluster at cluster-aligned `guestOffset`, already compressed by the codec the
  // writer was created for; `len` <= clusterSize() - 1.
  virtual void writeCompressed(uint64_t guestOffset, const uint8_t* data, size_t len) = 0;

  // Writes the remaining metadata (header last) and fsyncs the file. Returns the final file size.
  virtual uint64_t finish() = 0;
};

}  // namespace h2k
