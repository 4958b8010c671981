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

/* The regularisers' gradients against central differences of their sums
 * (TV in u = x/255 units, l_p in v = (x - 128)/128 units), at interior,
 * edge and corner pixels, for beta = 2 and 1.5 and p = 6. */
static void penalty(void)
{
    int h = 7, w = 6, c = 3;
    size_t n = (size_t)h * w * c;
    float *x = malloc(n * sizeof(float)), *d = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(20 + 215 * urand());
    for (int beta = 0; beta < 2; beta++) {
        tune_opts o;
        tune_opts_default(&o);
        o.tv_beta = beta ? 1.5 : 2;
        double worst = 0;
        for (int part = 0; part < 2; part++) {
            o.tv = part == 0;
            o.lp = part == 1;
            memset(d, 0, n * sizeof(float));
            tune_penalty(x, h, w, c, &o, NULL, NULL, d);
            size_t probe[] = {0, 5 * 3 + 1, (size_t)(3 * w + 2) * 3 + 2, n - 1, (size_t)(6 * w) * 3};
            for (size_t q = 0; q < sizeof probe / sizeof *probe; q++) {
                size_t i = probe[q];
                double unit = part == 0 ? 255.0 : 128.0, e = 1e-3, tvp, tvm, lpp, lpm;
                float keep = x[i];
                x[i] = (float)(keep + e * unit);
                tune_penalty(x, h, w, c, &o, &tvp, &lpp, NULL);
                x[i] = (float)(keep - e * unit);
                tune_penalty(x, h, w, c, &o, &tvm, &lpm, NULL);
                double hstep = (double)(float)(keep + e * unit) - (double)(float)(keep - e * unit);
                x[i] = keep;
                double fd = part == 0 ? (tvp - tvm) / (hstep / unit) : (lpp - lpm) / (hstep / unit);
                worst = fmax(worst, fabs(-d[i] - fd) / fmax(fabs(fd), 1e-3));
            }
        }
        CHECK(worst < 1e-3, "beta %g: regulariser gradient differs from central differences by %.2g", o.tv_beta, worst);
        printf("  regularisers (TV beta %.1f, l_6): gradients vs central differences %.1e\n", o.tv_beta, worst);
    }
    free(x);
    free(d);
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
    penalty();
    stability();
    return th_summary("test_tune");
}
