/* kernels_f64.c — the same kernels in double, for finite-difference tests. */
#include "kernels.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T double
#define S f64
#define SQRT sqrt
#define POW pow
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
/* Hot loops are compiled for AVX-512, AVX2 and the baseline, picked at run
 * time (util.h), so one binary is fast everywhere. */
#define VEC DT_VEC
#include "kernels.inc"
