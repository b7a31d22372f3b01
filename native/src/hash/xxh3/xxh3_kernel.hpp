// XXH3 compiled several times from libxxhash's own header (XXH_INLINE_ALL), once per
// instruction set, and picked at run time. Debian builds libxxhash for baseline x86-64
// (SSE2) at -O2, which hashes ~3x slower than the AVX2 build of the same code — enough to
// matter when a conversion hashes its content on the side.
#pragma once
#include <cstddef>
#include <cstdint>

namespace h2k {

// Function table over an opaque XXH3 state owned by the kernel that created it.
struct Xxh3Kernel {
  const char* isa;  // "avx512" | "avx2" | "sse2"
  void* (*createState)();
  void (*freeState)(void* state);
  void (*reset)(void* state, bool wide);
  void (*update)(void* state, bool wide, const uint8_t* data, size_t len);
  // Appends `len` zero bytes; long runs cost a few instructions per KiB (xxh3_zero_run.inc).
  void (*updateZeros)(void* state, bool wide, uint64_t len);
  // Canonical (big-endian, as xxhsum prints) digest: 8 bytes, or 16 when wide. Returns the count.
  size_t (*digest)(void* state, bool wide, uint8_t out[16]);
  // True when the zero-run fast path passed its self-check against plain hashing (it is used
  // only then); false would mean a libxxhash whose streaming state differs from 0.8.
  bool (*zeroRunFastPath)();
  // Block sums (xxh3_block_sums.inc): the additive part of XXH3 for `blocks` whole KiB at
  // `data`, 8 words per KiB, computable on any thread; updatePresummed then appends those
  // bytes to a stream for one add and one scramble per KiB (falling back to update when the
  // stream is not KiB-aligned, sums is null, or the self-check failed).
  void (*blockSums)(const uint8_t* data, size_t blocks, uint64_t* sums);
  void (*updatePresummed)(void* state, bool wide, const uint8_t* data, size_t len, const uint64_t* sums);
  bool (*blockSumsVerified)();
};

const Xxh3Kernel& xxh3KernelSse2();
const Xxh3Kernel& xxh3KernelAvx2();
const Xxh3Kernel& xxh3KernelAvx512();

// The fastest kernel this CPU runs. H2K_XXH3_ISA=sse2|avx2 caps the choice (tests, debugging).
const Xxh3Kernel& bestXxh3Kernel();

}  // namespace h2k
