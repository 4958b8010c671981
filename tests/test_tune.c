/* test_tune.c — the pieces of DeepTune that need no network: the transpose
 * of the preprocessing (inner-product identity <A x, y> = <x, A^T y> for
 * every geometry, color and gray), the consensus step on hand-made
 * gradients (minmod zeros, magnitudes and signs; the other sign rules; the
 * agreement count), the stability statistic, and the Gaussian blur against
 * SciPy (fixtures of scripts/make-tune-fixtures.py). */
#include "array.h"
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
    /* many pixels against the definition written out again here, with ties
     * of magnitude and zeros */
    int M = 5;
    size_t n = 10007; /* blocks of 1024 and a partial one, so the threaded split is exercised */
    float *G = malloc(M * n * sizeof(float)), *o = malloc(n * sizeof(float)), *ag = calloc(n, sizeof(float));
    float *o3 = malloc(n * sizeof(float)), *ag3 = calloc(n, sizeof(float));
    for (size_t i = 0; i < M * n; i++) {
        double u = urand();
        G[i] = u < 0.1 ? 0.0f : u < 0.3 ? (urand() < 0.5 ? 0.5f : -0.5f) : (float)(urand() * 2 - 1);
    }
    int bad = 0;
    for (int rule = RULE_MINMOD; rule <= RULE_ARGMIN; rule++) {
        tune_consensus(G, M, n, (tune_rule)rule, o, rule == RULE_MINMOD ? ag : NULL);
        tune_consensus_par(G, M, n, (tune_rule)rule, o3, rule == RULE_MINMOD ? ag3 : NULL, 3);
        for (size_t i = 0; i < n; i++) {
            bad += o3[i] != o[i] || (rule == RULE_MINMOD && ag3[i] != ag[i]);
            float mn = INFINITY, sum = 0, sa = 0;
            int pos = 0, neg = 0;
            for (int m = 0; m < M; m++) {
                float v = G[(size_t)m * n + i];
                pos += v > 0, neg += v < 0, sum += v;
                if (fabsf(v) < mn) mn = fabsf(v), sa = v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
            }
            int agreed = pos == M || neg == M;
            float sg = rule == RULE_MINMOD ? (agreed ? (pos == M ? 1.0f : -1.0f) : 0.0f)
                       : rule == RULE_MEAN ? (sum > 0 ? 1.0f : sum < 0 ? -1.0f : 0.0f) : sa;
            bad += o[i] != sg * mn || (rule == RULE_MINMOD && ag[i] != (float)agreed);
        }
    }
    CHECK(bad == 0, "consensus over %zu pixels: %d elements differ from the per-pixel definition or the threaded split", n, bad);
    printf("  consensus over %zu pixels and %d models equals the per-pixel definition for all three rules, serial and on 3 threads\n", n, M);
    free(G); free(o); free(ag); free(o3); free(ag3);
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
    /* l_1 at mid-gray: the kink's subgradient 0, not a push to one side */
    {
        tune_opts o;
        tune_opts_default(&o);
        o.tv = 0;
        o.lp = 1;
        o.lp_p = 1;
        for (size_t i = 0; i < n; i++) x[i] = i % 2 ? 128 : 100;
        memset(d, 0, n * sizeof(float));
        tune_penalty(x, h, w, c, &o, NULL, NULL, d);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= i % 2 ? d[i] == 0 : d[i] == 1;
        CHECK(ok, "l_1: no step at mid-gray, +1 below it");
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

/* The Fourier parameterisation: fourier_step is n times the transpose of
 * fourier_grad (inner-product identity, with n = h w the DFT's
 * normalisation); the preconditioned step of a gradient is an ascent
 * direction; the step of a single Fourier mode is that mode, scaled by
 * 1/f^(2 alpha) ... checked through a cosine grating; and a consensus of
 * identical gradients in Fourier space is the gradient itself. */
static void fourier(void)
{
    int h = 12, w = 10, c = 3;
    size_t px = (size_t)h * w * c, n = (size_t)h * w;
    fourier_param *f = fourier_alloc(h, w, c, 1);
    CHECK(f != NULL, "fourier_alloc");
    if (!f) return;
    float *g = malloc(px * sizeof *g), *z = malloc(2 * px * sizeof *z), *z2 = malloc(2 * px * sizeof *z2), *d = malloc(px * sizeof *d);
    uint64_t s = 9;
    for (size_t i = 0; i < px; i++) g[i] = (float)(dt_unif(&s) - 0.5);
    for (size_t i = 0; i < 2 * px; i++) z2[i] = (float)(dt_unif(&s) - 0.5);
    fourier_grad(f, g, z);
    fourier_step(f, z2, d);
    double lhs = 0, rhs = 0, asc = 0;
    for (size_t i = 0; i < 2 * px; i++) lhs += (double)z[i] * z2[i];
    for (size_t i = 0; i < px; i++) rhs += (double)g[i] * d[i];
    /* z2 is not conjugate-symmetric, so Re F^-1 keeps only its symmetric part: compare with that */
    CHECK_CLOSE(lhs, (double)n * rhs, 1e-4 * fabs(lhs), 0, "fourier: <grad(g), z> = n <g, step(z)>");
    fourier_step(f, z, d);
    for (size_t i = 0; i < px; i++) asc += (double)g[i] * d[i];
    CHECK(asc > 0, "fourier: the preconditioned step is an ascent direction (%g)", asc);
    /* a grating of 3 cycles per image height: the step is the grating times 1/3^2 */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) g[((size_t)y * w + x) * c + ch] = (float)cos(6.283185307179586 * 3 * y / h);
    fourier_grad(f, g, z);
    fourier_step(f, z, d);
    double worst = 0;
    for (size_t i = 0; i < px; i++) worst = fmax(worst, fabs(d[i] - g[i] / 9.0));
    CHECK(worst < 1e-6, "fourier: a 3-cycle grating's step is the grating / 9 (worst %g)", worst);
    float *zz = malloc(3 * 2 * px * sizeof *zz), *out = malloc(2 * px * sizeof *out);
    for (int m = 0; m < 3; m++) memcpy(zz + (size_t)m * 2 * px, z, 2 * px * sizeof *z);
    tune_consensus(zz, 3, 2 * px, RULE_MINMOD, out, NULL);
    CHECK(memcmp(out, z, 2 * px * sizeof *z) == 0, "fourier: consensus of identical coefficient gradients");
    free(zz); free(out); free(g); free(z); free(z2); free(d);
    fourier_free(f);
}

/* tune_blur against scipy.ndimage.gaussian_filter (mode 'reflect',
 * truncated at ceil(3 sigma)); tolerance: float rounding of at most 15
 * weighted terms of values of order 1, far below the 1e-2 that a wrong
 * weight or a shifted tap gives */
static void blur_fixture(int h, int w, int c, double sigma)
{
    char name[160], path[200];
    snprintf(name, sizeof name, "blur_%dx%dx%d_s%g", h, w, c, sigma);
    dt_array in = {0}, ref = {0};
    snprintf(path, sizeof path, "tests/fixtures/tune/%s_in.npy", name);
    int ok = npy_read(path, &in) == 0;
    snprintf(path, sizeof path, "tests/fixtures/tune/%s_out.npy", name);
    ok = ok && npy_read(path, &ref) == 0;
    CHECK(ok && dt_array_count(&in) == (size_t)h * w * c && dt_array_count(&ref) == (size_t)h * w * c, "%s: fixture", name);
    if (!ok) { dt_array_free(&in); dt_array_free(&ref); return; }
    size_t n = (size_t)h * w * c;
    float *x = malloc(n * sizeof(float)), *tmp = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)in.v[i];
    tune_blur(x, h, w, c, sigma, tmp);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(x[i] - ref.v[i]));
    CHECK(e < 2e-6, "%s: blur vs SciPy, worst error %.3g", name, e);
    printf("  %-28s vs SciPy: worst error %.2e\n", name, e);
    free(x);
    free(tmp);
    dt_array_free(&in);
    dt_array_free(&ref);
}

int main(void)
{
    blur_fixture(23, 17, 3, 1.0);
    blur_fixture(23, 17, 3, 0.5);
    blur_fixture(9, 30, 3, 2.3);
    blur_fixture(16, 12, 1, 0.8);
    blur_fixture(64, 48, 3, 1.0);
    adjoint(GEOM_WHOLE, 40, 30, 3, 0, 1);
    adjoint(GEOM_WHOLE, 112, 112, 3, 0, 0);
    adjoint(GEOM_WHOLE, 50, 50, 1, 0, 1);
    adjoint(GEOM_SHORTER_CROP, 90, 70, 3, 72, 0);
    adjoint(GEOM_RESIZE_CROP, 70, 70, 3, 80, 1);
    adjoint(GEOM_NATIVE, 64, 64, 3, 0, 0);
    adjoint(GEOM_WHOLE, 64, 64, 3, 0, 1); /* no crop, no resize, BGR */
    consensus();
    penalty();
    stability();
    fourier();
    return th_summary("test_tune");
}
