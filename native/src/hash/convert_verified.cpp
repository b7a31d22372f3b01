#include "hash/convert_verified.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <vector>

#include "common/error.hpp"
#include "formats/image_reader.hpp"
#include "hash/convert_hashes.hpp"
#include "hash/hasher.hpp"

namespace h2k {
namespace {

constexpr size_t kVerifyBuffer = 4u << 20;
constexpr const char* kVerifyHash = "xxh3";

// XXH3 of the output's guest bytes [0, length); bytes past `length` (a format that rounds
// the size up, e.g. VMDK sectors) must read as zeros.
std::string outputContentHash(const ConvertRequest& request, uint64_t length, const ProgressFn& progress,
                              const std::atomic<bool>* cancel) {
  OpenOptions options;
  options.format = request.outputFormat;
  std::unique_ptr<ImageReader> reader = openImage(request.output, options);
  const uint64_t size = reader->virtualSize();
  if (size < length)
    throw Error(codes::kVerifyFailed,
                "output reads back " + std::to_string(size) + " bytes long, the source is " + std::to_string(length),
                request.output, -1, "this is an h2k bug; please report it with `h2k info` of the source");
  HashSet hash({kVerifyHash});
  std::vector<uint8_t> buf(kVerifyBuffer);
  uint64_t offset = 0;
  auto lastReport = std::chrono::steady_clock::now();
  while (offset < size) {
    if (cancel && cancel->load(std::memory_order_relaxed))
      throw Error(codes::kCancelled, "verification cancelled", request.output, -1, "run the conversion again");
    BlockStatus s = reader->blockStatus(offset, size - offset);
    if (s.length == 0 || s.length > size - offset)
      throw Error(codes::kVerifyFailed, "output block status returned an invalid run", request.output,
                  static_cast<int64_t>(offset), "this is an h2k bug; please report it");
    uint64_t runEnd = offset + s.length;
    while (offset < runEnd) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(runEnd - offset, kVerifyBuffer));
      const uint64_t inSource = offset < length ? std::min<uint64_t>(n, length - offset) : 0;
      if (s.kind == BlockKind::Data) {
        reader->read(offset, buf.data(), n);
        hash.update(buf.data(), static_cast<size_t>(inSource));
        if (std::any_of(buf.begin() + static_cast<ptrdiff_t>(inSource), buf.begin() + static_cast<ptrdiff_t>(n),
                        [](uint8_t b) { return b != 0; }))
          throw Error(codes::kVerifyFailed, "output has data past the source's end", request.output,
                      static_cast<int64_t>(length), "this is an h2k bug; please report it");
      } else {
        hash.updateZeros(inSource);
      }
      offset += n;
      auto now = std::chrono::steady_clock::now();
      if (progress && now - lastReport > std::chrono::milliseconds(100)) {
        lastReport = now;
        ConvertProgress p;
        p.bytesDone = offset;
        p.bytesTotal = size;
        p.verifying = true;
        progress(p);
      }
    }
  }
  return hash.digests()[kVerifyHash];
}

}  // namespace

ConvertResult convertImageChecked(const ConvertRequest& request, const ProgressFn& progress,
                                  const std::atomic<bool>* cancel) {
  if (!request.verify) return convertImageWithHashes(request, progress, cancel);
  const bool callerWantsXxh3 = std::any_of(request.hashAlgorithms.begin(), request.hashAlgorithms.end(), [](const std::string& n) {
    return parseHashAlgorithm(n) == HashAlgorithm::Xxh3;
  });
  std::vector<std::string> extra;
  if (!callerWantsXxh3) extra.push_back(kVerifyHash);
  ConvertResult result = convertImageWithHashes(request, progress, cancel, extra);
  std::string expected = result.contentHashes.at(kVerifyHash);
  // Failpoint for tests of the mismatch path (a real mismatch needs a writer or reader bug).
  if (const char* fp = std::getenv("H2K_FAILPOINT"); fp && std::string(fp) == "verify-mismatch") expected = "0";
  if (!callerWantsXxh3) result.contentHashes.erase(kVerifyHash);

  auto started = std::chrono::steady_clock::now();
  try {
    std::string actual = outputContentHash(request, result.virtualSize, progress, cancel);
    if (actual != expected)
      throw Error(codes::kVerifyFailed,
                  "the output does not read back as the source's content (xxh3 " + actual + ", source " + expected + ")",
                  request.output, -1, "the output was removed; check the output disk and memory, then report it as an h2k bug");
  } catch (...) {
    ::unlink(request.output.c_str());  // with --verify, only a checked output survives
    throw;
  }
  result.verified = true;
  result.verifySeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace h2k
