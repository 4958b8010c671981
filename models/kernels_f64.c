/* kernels_f64.c — the same kernels in double, for finite-difference tests. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>

#define T double
#define S f64
#define GEMM cblas_dgemm
#include "kernels.inc"
