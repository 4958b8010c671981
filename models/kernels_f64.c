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
#include "kernels.inc"
