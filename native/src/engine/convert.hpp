// The conversion pipeline: any ImageReader -> (compression thread pool) -> in-order writer.
// Output goes to <output>.partial, is fsynced, then renamed; on any error or cancellation the
// partial file is removed and the exception propagates.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace h2k {

struct ConvertRequest {
  std::string source;
  std::string output;
  std::string outputFormat = "qcow2";  // qcow2 | raw | vdi | vmdk (streamOptimized)
  std::string compression = "none";    // none | zlib | zstd (qcow2 only)
  uint32_t clusterSize = 65536;        // qcow2: power of two, 512..2 MiB
  int threads = 0;                     // compression threads; 0 = hardware concurrency
  bool force = false;                  // overwrite an existing output
  bool allowExternalPaths = false;     // see OpenOptions
  std::string sourceRoot;              // see OpenOptions: the source is opened beneath it
  std::string sourceFormat;            // "" = detect
  std::vector<std::string> hashAlgorithms;  // "md5", "xxh3", ...: convertImageWithHashes only
  // The output's cache mode, as qemu-img -t names it: "none" writes through O_DIRECT where the file
  // system allows it (io/direct_appender.hpp), "writeback" through the page cache. Both fsync.
  std::string cache = "none";
  bool verify = false;  // read the finished output back and compare its content (engine/convert_verified.hpp)
};

struct ConvertProgress {
  uint64_t bytesDone = 0;   // guest bytes processed (holes included)
  uint64_t bytesTotal = 0;  // virtual size
  uint64_t dataBytes = 0;   // guest bytes read as data so far
  bool verifying = false;   // the read-back check of the output (bytes count the output's guest range)
};

// One file of the source (the image file, or a VMDK descriptor / extent file) and its hashes.
struct SourceFileHashes {
  std::string path;
  std::map<std::string, std::string> hashes;  // algo -> hex
  uint64_t bytesReread = 0;                   // read a second time (see sourceBytesReread)
};

struct ConvertResult {
  std::string output;
  std::string sourceFormat;
  std::string sourceSubformat;
  std::string outputFormat;
  std::string compression;
  uint64_t virtualSize = 0;
  uint64_t dataBytes = 0;       // guest bytes read from the source as data
  uint64_t zeroBytes = 0;       // guest bytes found to be zero (holes, zero runs, zero clusters)
  uint64_t outputBytes = 0;     // size of the finished output file
  uint64_t clustersWritten = 0;
  uint64_t clustersCompressed = 0;
  double seconds = 0;
  std::map<std::string, std::string> sourceHashes;   // algo -> hex, hash of the source file bytes (the file named)
  std::vector<SourceFileHashes> sourceFiles;         // every file of the source, in open order (first = the file named)
  std::map<std::string, std::string> contentHashes;  // algo -> hex, hash of the guest-visible content
  // Bytes of the source files hashed from reads of the hasher's own; the rest of the files
  // were hashed from the conversion's reads (or were holes). 0 without --hash.
  uint64_t sourceBytesReread = 0;
  bool verified = false;       // the output was read back and its content matched the source's
  double verifySeconds = 0;
};

using ProgressFn = std::function<void(const ConvertProgress&)>;

class ContentObserver;
struct ConvertHooks;  // engine/content_observer.hpp

// `cancel` is polled between chunks; when it becomes true the call throws E_CANCELLED.
// `progress` is called at most about every 100 ms, and once more at the end.
ConvertResult convertImage(const ConvertRequest& request, const ProgressFn& progress,
                           const std::atomic<bool>* cancel);
// Same, with observers that see the guest-visible content in order (hashing seam).
ConvertResult convertImage(const ConvertRequest& request, const ProgressFn& progress,
                           const std::atomic<bool>* cancel, const ConvertHooks& hooks);

}  // namespace h2k
