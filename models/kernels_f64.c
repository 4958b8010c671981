/* kernels_f64.c — the same kernels in double, for finite-difference tests. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T double
#define S f64
#define SQRT sqrt
#define POW pow
#define GEMM cblas_dgemm
/* Hot loops are compiled for AVX-512, AVX2 and the baseline, picked at run
 * time (GCC function multi-versioning), so one binary is fast everywhere. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define VEC __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC
#endif
#include "kernels.inc"
