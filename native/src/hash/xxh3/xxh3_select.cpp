#include <cstdlib>
#include <cstring>

#include "hash/xxh3/xxh3_kernel.hpp"

namespace h2k {
namespace {

const Xxh3Kernel& chooseKernel() {
  const char* cap = std::getenv("H2K_XXH3_ISA");
  if (cap && std::strcmp(cap, "sse2") == 0) return xxh3KernelSse2();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();  // libgcc also checks (XGETBV) that the OS saves the wide registers
  const bool capAvx2 = cap && std::strcmp(cap, "avx2") == 0;
  if (!capAvx2 && __builtin_cpu_supports("avx512f")) return xxh3KernelAvx512();
  if (__builtin_cpu_supports("avx2")) return xxh3KernelAvx2();
#endif
  return xxh3KernelSse2();
}

}  // namespace

const Xxh3Kernel& bestXxh3Kernel() {
  static const Xxh3Kernel& kernel = chooseKernel();  // thread-safe one-time choice
  return kernel;
}

}  // namespace h2k
