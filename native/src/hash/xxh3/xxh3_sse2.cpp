// Baseline x86-64 build of XXH3 (see xxh3_kernel.hpp).
#define H2K_XXH3_KERNEL_FN xxh3KernelSse2
#define H2K_XXH3_ISA_NAME "sse2"
#include "hash/xxh3/xxh3_kernel_impl.inc"
