/* test_tune.c — the pieces of DeepTune that need no network: the transpose
 * of the preprocessing (inner-product identity <A x, y> = <x, A^T y> for
 * every geometry, color and gray), the consensus step on hand-made
 * gradients (minmod zeros, magnitudes and signs; the other sign rules; the
 * agreement count), and the stability statistic. */
#include "harness.h"
#include "image.h"
#include "preproc.h"
#include "tuner.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x853c49e6748fea9bull;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1.0p-53;
}

static void adjoint(dt_geom g, int w, int h, int c, int resize_to, int bgr)
{
    dt_preproc p;
    memset(&p, 0, sizeof p);
    p.size = 64;
    p.resize_to = resize_to;
    p.bgr = bgr;
    p.scale = 1 / 255.0f;
    for (int k = 0; k < 3; k++) { p.mean[k] = 0.4f + 0.1f * k; p.std[k] = 0.2f + 0.05f * k; }
    int iw, ih;
    preproc_input_size(&p, g, w, h, &iw, &ih);
    size_t n = (size_t)w * h * c, ni = (size_t)3 * iw * ih;
    float *x = malloc(n * sizeof(float)), *zero = calloc(n, sizeof(float)), *y = malloc(ni * sizeof(float));
    float *ax = malloc(ni * sizeof(float)), *a0 = malloc(ni * sizeof(float)), *aty = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(255 * urand());
    for (size_t i = 0; i < ni; i++) y[i] = (float)(urand() - 0.5);
    CHECK(preproc_image(&p, g, x, w, h, c, ax, 1, 0) == 0 && preproc_image(&p, g, zero, w, h, c, a0, 1, 0) == 0, "preproc");
    CHECK(preproc_image_adjoint(&p, g, y, 1, 0, w, h, c, aty) == 0, "adjoint");
    double l = 0, r = 0, s = 0;
    for (size_t i = 0; i < ni; i++) { l += (double)(ax[i] - a0[i]) * y[i]; s += fabs((double)(ax[i] - a0[i]) * y[i]); }
    for (size_t i = 0; i < n; i++) r += (double)x[i] * aty[i];
    CHECK(fabs(l - r) < 1e-5 * s, "geometry %d %dx%dx%d: <Ax, y> = %.9g but <x, A^T y> = %.9g", (int)g, w, h, c, l, r);
    printf("  geometry %d, %dx%d, %d channel(s) -> %dx%d: <Ax,y> - <x,A^T y> = %.1e of %.1e\n", (int)g, w, h, c, iw, ih, fabs(l - r), s);
    free(x); free(zero); free(y); free(ax); free(a0); free(aty);
}

static void consensus(void)
{
    /* 3 models, 6 elements */
    float g[18] = {1, -2, 3, 0.5f, -1, 2,      /* model 0 */
                   2, -1, -3, 0.2f, -4, 1,     /* model 1 */
                   3, -5, 1, 0.9f, -2, 0};     /* model 2 */
    float out[6], agree[6] = {0};
    tune_consensus(g, 3, 6, RULE_MINMOD, out, agree);
    float want[6] = {1, -1, 0, 0.2f, -1, 0};   /* mixed signs and a zero: no step */
    for (int i = 0; i < 6; i++) CHECK(out[i] == want[i], "minmod element %d: %g, expected %g", i, out[i], want[i]);
    float wa[6] = {1, 1, 0, 1, 1, 0};
    for (int i = 0; i < 6; i++) CHECK(agree[i] == wa[i], "agreement element %d: %g", i, agree[i]);
    tune_consensus(g, 3, 6, RULE_MEAN, out, NULL);
    CHECK(out[2] == 1 && out[5] == 0, "mean sign: element 2 moves by the smallest magnitude with the mean's sign (%g, %g)", out[2], out[5]);
    tune_consensus(g, 3, 6, RULE_ARGMIN, out, NULL);
    CHECK(out[2] == 1 && out[0] == 1 && out[1] == -1, "argmin sign (%g %g %g)", out[0], out[1], out[2]);
    /* one model: the consensus is that model's gradient */
    tune_consensus(g, 1, 6, RULE_MINMOD, out, NULL);
    for (int i = 0; i < 6; i++) CHECK(out[i] == g[i], "one model: element %d", i);
    printf("  consensus: minmod zeros where signs differ or a gradient is 0, smallest magnitude otherwise; mean and argmin sign rules\n");
}

static void stability(void)
{
    float x[12] = {1, 2, 3, 4, 2, 4, 6, 8, 4, 3, 2, 1};
    double r = mean_pairwise_corr(x, 3, 4, 4);
    CHECK(fabs(r - (1 - 1 - 1) / 3.0) < 1e-12, "mean pairwise correlation %g, expected -1/3", r);
}

int main(void)
{
    adjoint(GEOM_WHOLE, 40, 30, 3, 0, 1);
    adjoint(GEOM_WHOLE, 112, 112, 3, 0, 0);
    adjoint(GEOM_WHOLE, 50, 50, 1, 0, 1);
    adjoint(GEOM_SHORTER_CROP, 90, 70, 3, 72, 0);
    adjoint(GEOM_RESIZE_CROP, 70, 70, 3, 80, 1);
    adjoint(GEOM_NATIVE, 64, 64, 3, 0, 0);
    consensus();
    stability();
    return th_summary("test_tune");
}
