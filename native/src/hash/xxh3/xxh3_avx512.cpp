// AVX-512 build of XXH3, compiled with -mavx512f (CMakeLists.txt); only called when the CPU and
// the OS support it. One 512-bit lane holds all eight accumulators.
#define H2K_XXH3_KERNEL_FN xxh3KernelAvx512
#define H2K_XXH3_ISA_NAME "avx512"
#include "hash/xxh3/xxh3_kernel_impl.inc"
