// Whole-file and whole-disk hashing jobs: a read-ahead thread reads, the calling thread hashes.
//   hashFile:    the bytes of a file exactly as md5sum/xxhsum read them; holes of sparse files
//                (SEEK_DATA/SEEK_HOLE) are fed as zeros without being read; pipes are streamed;
//                "-" is standard input.
//   hashFiles:   several regular files as one stream (their concatenation).
//   hashContent: the guest-visible bytes of a disk image (any ImageReader), so one disk in any
//                container format hashes the same as its raw export; holes/zero runs not read.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"

namespace h2k {

struct HashJobOptions {
  size_t bufferSize = 1u << 20;  // 1 MiB stays in L2 between reader and hasher; clamped to 64 KiB .. 64 MiB
  size_t bufferCount = 4;        // clamped to 2 .. 16; memory = bufferSize * bufferCount
  bool readAheadThread = true;   // false: read on the hashing thread (data already in memory)
};

struct HashProgress {
  uint64_t bytesDone = 0;
  uint64_t bytesTotal = 0;  // 0 when unknown (a pipe)
};

struct HashJobResult {
  std::map<std::string, std::string> digests;  // algo -> hex
  uint64_t bytes = 0;      // bytes hashed
  uint64_t bytesRead = 0;  // bytes actually read (the rest were holes / zero runs)
  double seconds = 0;
};

using HashProgressFn = std::function<void(const HashProgress&)>;

HashJobResult hashFile(const std::string& path, const std::vector<std::string>& algorithms,
                       const HashJobOptions& options, const HashProgressFn& progress,
                       const std::atomic<bool>* cancel);

// The bytes of several regular files one after another, as `cat a b | md5sum` reads them: the
// key of a multi-file image (a VMDK descriptor, then its extents) in the dedup database.
HashJobResult hashFiles(const std::vector<std::string>& paths, const std::vector<std::string>& algorithms,
                        const HashJobOptions& options, const HashProgressFn& progress,
                        const std::atomic<bool>* cancel);

HashJobResult hashContent(const std::string& path, const std::vector<std::string>& algorithms,
                          const OpenOptions& openOptions, const HashJobOptions& options,
                          const HashProgressFn& progress, const std::atomic<bool>* cancel);

// The guest bytes [0, hashedLength) of an open image; any bytes after them must read as zeros
// (else E_VERIFY_FAILED). `convert --verify` reads its output back through this.
HashJobResult hashReaderContent(ImageReader& reader, uint64_t hashedLength, const std::vector<std::string>& algorithms,
                                const HashJobOptions& options, const HashProgressFn& progress,
                                const std::atomic<bool>* cancel);

}  // namespace h2k
