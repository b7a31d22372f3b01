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
  const char* isa;  // "avx2" | "sse2"
  void* (*createState)();
  void (*freeState)(void* state);
  void (*reset)(void* state, bool wide);
  void (*update)(void* state, bool wide, const uint8_t* data, size_t len);
  // Canonical (big-endian, as xxhsum prints) digest: 8 bytes, or 16 when wide. Returns the count.
  size_t (*digest)(void* state, bool wide, uint8_t out[16]);
};

const Xxh3Kernel& xxh3KernelSse2();
const Xxh3Kernel& xxh3KernelAvx2();

// The fastest kernel this CPU runs. H2K_XXH3_ISA=sse2 forces the baseline (tests, debugging).
const Xxh3Kernel& bestXxh3Kernel();

}  // namespace h2k
