/* kernels_f32.c — the float kernels the engine runs (see kernels.inc). */
#include "kernels.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T float
#define S f32
#define SQRT sqrtf
#define POW powf
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
/* Hot loops are compiled for AVX-512, AVX2 and the baseline, picked at run
 * time (util.h), so one binary is fast everywhere. */
#define VEC DT_VEC
#include "kernels.inc"

int dt_conv_out(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

int dt_pool_out(int in, int k, int s, int p, int ceil_mode)
{
    if (!ceil_mode) return (in + 2 * p - k) / s + 1;
    int o = (in + 2 * p - k + s - 1) / s + 1;
    /* Caffe PoolingLayer::Reshape: the last window must start inside the
     * input or its left padding. */
    if (p > 0 && (o - 1) * s >= in + p) o--;
    return o;
}
