// AVX2 build of XXH3, compiled with -mavx2 (CMakeLists.txt); only called when the CPU has AVX2.
#define H2K_XXH3_KERNEL_FN xxh3KernelAvx2
#define H2K_XXH3_ISA_NAME "avx2"
#include "hash/xxh3/xxh3_kernel_impl.inc"
