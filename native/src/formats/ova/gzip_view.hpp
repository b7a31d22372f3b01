// A gzip-compressed archive member (ovf:compression="gzip") read without extracting it:
// the member is inflated as a stream. Opening makes one pass to learn the uncompressed
// size and to record restart points (every 32 MiB of output: the deflate bit position and
// the last 32 KiB of output, as zlib's zran example does). Sequential reads continue the
// live stream; a backward or far-forward read restarts from the nearest point, so random
// access costs at most 32 MiB of inflating and no scratch space.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/byte_view.hpp"

struct z_stream_s;

namespace h2k {

class GzipView : public ByteView {
 public:
  GzipView(std::shared_ptr<const ByteView> compressed, std::string name);
  ~GzipView() override;
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  std::string baseDir() const override { return compressed_->baseDir(); }

 private:
  struct Point {
    uint64_t out;    // uncompressed offset
    uint64_t in;     // compressed offset of the first full byte
    int bits;        // bits of the previous byte still to consume (0..7)
    std::vector<uint8_t> window;  // 32 KiB of history
  };
  void buildIndex();
  void restart(const Point& p) const;
  // Inflates up to `len` bytes into out (nullptr = discard); returns bytes produced.
  size_t pump(uint8_t* out, size_t len) const;

  std::shared_ptr<const ByteView> compressed_;
  std::string name_;
  uint64_t size_ = 0;
  std::vector<Point> points_;
  // Live stream state (reads mutate it; a view is used by one reader at a time).
  mutable std::unique_ptr<z_stream_s> zs_;
  mutable bool live_ = false;
  mutable uint64_t outPos_ = 0;
  mutable uint64_t inPos_ = 0;
  mutable std::vector<uint8_t> inBuf_;
};

}  // namespace h2k
