#include "formats/ova/gzip_view.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace h2k {

namespace {
constexpr uint64_t kSpan = 32ull << 20;
constexpr size_t kWindow = 32768;
constexpr size_t kInChunk = 256 * 1024;
constexpr size_t kMaxPoints = 8192;  // 256 MiB of windows at most (a 256 GiB disk)
}  // namespace

GzipView::GzipView(std::shared_ptr<const ByteView> compressed, std::string name)
    : compressed_(std::move(compressed)), name_(std::move(name)), zs_(std::make_unique<z_stream_s>()) {
  inBuf_.resize(kInChunk);
  buildIndex();
}

GzipView::~GzipView() {
  if (live_) inflateEnd(zs_.get());
}

static Error inflateError(const std::string& name, uint64_t at, const char* msg) {
  return Error(codes::kDecompress, "gzip member " + name + " does not decode: " + (msg ? msg : "corrupt data"), name,
               static_cast<int64_t>(at), "the archive is damaged; re-download it");
}

void GzipView::buildIndex() {
  z_stream zs{};
  if (inflateInit2(&zs, 47) != Z_OK) throw Error(codes::kIo, "inflateInit failed", name_);
  std::vector<uint8_t> window(kWindow);
  uint64_t totalIn = 0, totalOut = 0, lastPoint = 0;
  bool first = true;
  int ret = Z_OK;
  uint64_t csize = compressed_->size();
  try {
    do {
      if (zs.avail_in == 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kInChunk, csize - totalIn));
        if (n == 0) throw inflateError(name_, totalIn, "unexpected end of compressed data");
        compressed_->readExact(inBuf_.data(), n, totalIn);
        zs.next_in = inBuf_.data();
        zs.avail_in = static_cast<uInt>(n);
      }
      do {
        if (zs.avail_out == 0) {
          zs.next_out = window.data();
          zs.avail_out = kWindow;
        }
        uInt inBefore = zs.avail_in, outBefore = zs.avail_out;
        ret = inflate(&zs, Z_BLOCK);
        totalIn += inBefore - zs.avail_in;
        totalOut += outBefore - zs.avail_out;
        if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR) throw inflateError(name_, totalIn, zs.msg);
        if (ret == Z_STREAM_END) break;
        bool blockBoundary = (zs.data_type & 128) && !(zs.data_type & 64);
        if (blockBoundary && (first || totalOut - lastPoint > kSpan) && points_.size() < kMaxPoints) {
          Point p{totalOut, totalIn, zs.data_type & 7, std::vector<uint8_t>(kWindow)};
          size_t have = kWindow - zs.avail_out;  // bytes of the ring written since it last wrapped
          std::memcpy(p.window.data(), window.data() + have, kWindow - have);
          std::memcpy(p.window.data() + (kWindow - have), window.data(), have);
          points_.push_back(std::move(p));
          lastPoint = totalOut;
          first = false;
        }
      } while (zs.avail_in != 0);
    } while (ret != Z_STREAM_END);
  } catch (...) {
    inflateEnd(&zs);
    throw;
  }
  inflateEnd(&zs);
  size_ = totalOut;
  if (points_.empty()) throw inflateError(name_, 0, "no deflate block found");
}

void GzipView::restart(const Point& p) const {
  if (live_) inflateEnd(zs_.get());
  live_ = false;
  *zs_ = z_stream{};
  if (inflateInit2(zs_.get(), -15) != Z_OK) throw Error(codes::kIo, "inflateInit failed", name_);
  live_ = true;
  inPos_ = p.in;
  if (p.bits) {
    uint8_t prev;
    compressed_->readExact(&prev, 1, p.in - 1);
    inflatePrime(zs_.get(), p.bits, prev >> (8 - p.bits));
  }
  inflateSetDictionary(zs_.get(), p.window.data(), kWindow);
  zs_->avail_in = 0;
  outPos_ = p.out;
}

size_t GzipView::pump(uint8_t* out, size_t len) const {
  std::vector<uint8_t> scratch;
  size_t done = 0;
  while (done < len) {
    if (zs_->avail_in == 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kInChunk, compressed_->size() - inPos_));
      if (n == 0) break;
      compressed_->readExact(inBuf_.data(), n, inPos_);
      inPos_ += n;
      zs_->next_in = inBuf_.data();
      zs_->avail_in = static_cast<uInt>(n);
    }
    size_t want = std::min<size_t>(len - done, 1 << 20);
    if (!out && scratch.size() < want) scratch.resize(want);
    zs_->next_out = out ? out + done : scratch.data();
    zs_->avail_out = static_cast<uInt>(want);
    int ret = inflate(zs_.get(), Z_NO_FLUSH);
    size_t got = want - zs_->avail_out;
    done += got;
    outPos_ += got;
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK && ret != Z_BUF_ERROR) throw inflateError(name_, inPos_, zs_->msg);
  }
  return done;
}

void GzipView::readExact(void* buf, size_t len, uint64_t offset) const {
  if (!rangeInside(offset, len, size_))
    throw Error(codes::kTruncated, "read past the end of gzip member " + name_ + " at offset " + std::to_string(offset),
                name_, static_cast<int64_t>(offset), "the image metadata points past its end");
  // Continue the live stream when it is at or a little before the target; else restart.
  if (!live_ || offset < outPos_ || offset - outPos_ > kSpan) {
    auto it = std::upper_bound(points_.begin(), points_.end(), offset,
                               [](uint64_t off, const Point& p) { return off < p.out; });
    const Point& p = *(it == points_.begin() ? it : it - 1);
    if (!live_ || offset < outPos_ || p.out > outPos_) restart(p);
  }
  if (offset > outPos_) pump(nullptr, offset - outPos_);
  if (outPos_ != offset) throw inflateError(name_, inPos_, "stream ended early");
  if (pump(static_cast<uint8_t*>(buf), len) != len) throw inflateError(name_, inPos_, "stream ended early");
}

}  // namespace h2k
