// Per-cluster compressors for qcow2 output: one call compresses one cluster into one
// self-contained unit (raw DEFLATE stream or one zstd frame). Not thread-safe: each
// compression thread owns its own instance.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace h2k {

enum class Compression { None, Zlib, Zstd };

// "none" | "zlib" | "zstd" -> enum; throws E_INVALID_ARGUMENT otherwise.
Compression parseCompression(const std::string& name);
const char* compressionName(Compression c);

class ClusterCompressor {
 public:
  virtual ~ClusterCompressor() = default;
  // Compresses `len` bytes into `out` (capacity `outCap`). Returns the compressed size, or
  // 0 when the result would not fit in outCap (the caller then stores the cluster plain).
  virtual size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t outCap) = 0;
};

// zlib: raw DEFLATE (RFC 1951, no zlib wrapper) as qcow2 compression_type 0 requires.
// zstd: one frame per call, no length prefix (compression_type 1).
std::unique_ptr<ClusterCompressor> makeCompressor(Compression c);

}  // namespace h2k
