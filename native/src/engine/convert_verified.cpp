#include "engine/convert_verified.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <vector>

#include "common/error.hpp"
#include "formats/image_reader.hpp"
#include "engine/convert_hashes.hpp"
#include "hash/hash_job.hpp"
#include "hash/hasher.hpp"

namespace h2k {
namespace {

constexpr const char* kVerifyHash = "xxh3";

// XXH3 of the output's guest bytes [0, length), read back through h2k's own reader (hash_job's
// content walk); bytes past `length` (a format that rounds the size up, e.g. VMDK sectors) must
// read as zeros.
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
  HashProgressFn report;
  if (progress)
    report = [&progress](const HashProgress& h) {
      ConvertProgress p;
      p.bytesDone = h.bytesDone;
      p.bytesTotal = h.bytesTotal;
      p.verifying = true;
      progress(p);
    };
  // The output was just written: it is in the page cache, and reading it on the hashing thread
  // keeps each buffer in that core's cache (a read-ahead thread made this 25% slower here).
  HashJobOptions inMemory;
  inMemory.bufferSize = 4u << 20;
  inMemory.readAheadThread = false;
  return hashReaderContent(*reader, length, {kVerifyHash}, inMemory, report, cancel).digests.at(kVerifyHash);
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
