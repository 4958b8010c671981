/* test_kernels.c — every layer's backward against central finite differences
 * in double precision on small random shapes (ggml/kann style), and the
 * im2col+GEMM convolution against the naive loop reference, in float and
 * double, with lanes and lane chunking.
 *
 * Finite differences: h = 1e-5, error O(h^2 f''') ~ 1e-10 on these O(1)
 * functions, rounding ~ 1e-16/h ~ 1e-11; we require |fd - analytic| <=
 * 1e-6 (1 + |analytic|).  ReLU inputs are kept at least 0.05 from the kink
 * and max-pool inputs are distinct by more than 2h, so no difference step
 * crosses a non-differentiable point. */
#include "harness.h"
#include "kernels.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static double urand(void) /* xorshift64, uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-52 - 1.0;
}
static void fill(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = urand();
}

typedef void (*fwd_fn)(double *y, const double *x, void *ctx);
typedef void (*bwd_fn)(double *dx, const double *dy, void *ctx); /* dx += J^T dy for all K lanes */

/* Loss L(x) = sum_j r_j y_j(x) with forward of Kf lanes; backward of K
 * lanes of upstream r (K/Kf copies per forward lane: each gradient lane is
 * checked against the FD of its own forward lane). */
static void fd_check(const char *name, fwd_fn f, bwd_fn b, void *ctx, double *x, size_t nx, size_t ny, int fdlanes,
                     int K, size_t lane_in, size_t lane_out, size_t cin, size_t cout)
{
    /* layout (C, K, hw): forward of fdlanes lanes; rep = K / fdlanes upstream per lane */
    int rep = K / fdlanes;
    size_t ny_k = ny / fdlanes * K, nx_k = nx / fdlanes * K;
    double *r = malloc(ny_k * sizeof(double)), *dx = calloc(nx_k, sizeof(double));
    double *y = malloc(ny * sizeof(double));
    fill(r, ny_k);
    b(dx, r, ctx);
    double worst = 0;
    const double h = 1e-5;
    for (int k = 0; k < K; k++) {
        int kf = k / rep;
        for (size_t c = 0; c < cin; c++)
            for (size_t p = 0; p < lane_in; p++) {
                size_t xi = (c * fdlanes + kf) * lane_in + p;
                double x0 = x[xi], lp = 0, lm = 0;
                x[xi] = x0 + h;
                f(y, x, ctx);
                for (size_t co = 0; co < cout; co++)
                    for (size_t q = 0; q < lane_out; q++) lp += r[(co * K + k) * lane_out + q] * y[(co * fdlanes + kf) * lane_out + q];
                x[xi] = x0 - h;
                f(y, x, ctx);
                for (size_t co = 0; co < cout; co++)
                    for (size_t q = 0; q < lane_out; q++) lm += r[(co * K + k) * lane_out + q] * y[(co * fdlanes + kf) * lane_out + q];
                x[xi] = x0;
                double fd = (lp - lm) / (2 * h), an = dx[(c * K + k) * lane_in + p];
                double e = fabs(fd - an) / (1 + fabs(an));
                worst = e > worst ? e : worst;
            }
    }
    CHECK(worst <= 1e-6, "%s: finite differences vs backward: worst relative error %.3g", name, worst);
    printf("  %-34s FD worst rel. error %.2e\n", name, worst);
    free(r);
    free(dx);
    free(y);
}

static void serial_for(int nt, int n, void (*fn)(void *, int, int), void *ctx)
{
    for (int u = n - 1; u >= 0; u--) fn(ctx, u, u % nt); /* any order and any thread must do */
}

/* The assigning form (acc = 0) of a backward equals accumulating into
 * zeros, whatever the buffer held before. */
static void check_assign(const char *name, size_t n, void (*run)(double *dx, int acc, void *ctx), void *ctx)
{
    double *a = calloc(n, sizeof(double)), *b = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) b[i] = 1e30; /* garbage */
    run(a, 1, ctx);
    run(b, 0, ctx);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]));
    CHECK(e == 0, "%s: assign vs accumulate-into-zero differ by %.3g", name, e);
    free(a);
    free(b);
}

/* ---- conv ---- */
typedef struct { dt_conv_shape s; double *w, *b; int K; double *col; } conv_ctx;
static void conv_f(double *y, const double *x, void *c)
{
    conv_ctx *t = c;
    conv_forward_f64(y, x, t->w, t->b, &t->s, t->K, t->col);
}
static void conv_b(double *dx, const double *dy, void *c)
{
    conv_ctx *t = c;
    conv_backward_f64(dx, dy, t->w, &t->s, t->K, t->col, 1);
}

static const double *conv_dy;
static void conv_assign(double *dx, int acc, void *c)
{
    conv_ctx *t = c;
    conv_backward_f64(dx, conv_dy, t->w, &t->s, t->K, t->col, acc);
}
static void conv_assign_par(double *dx, int acc, void *c)
{
    conv_ctx *t = c;
    conv_backward_par_f64(dx, conv_dy, t->w, &t->s, t->K, t->col, 3, serial_for, acc);
}

/* The float engine's convolutions are bit-identical whatever the number of
 * threads (1, 2, 3, 5, really run on threads) and whether a lane runs alone
 * or with others: every element is computed by the same units (kernels.inc),
 * so the BLAS kernel's blocking (which rounds edge tiles differently on
 * OpenBLAS's Haswell, Zen and Prescott kernels) cannot change a result.  y1
 * is the serial forward of all K lanes. */
static void conv_float_determinism(const char *name, const dt_conv_shape *s, int K, const float *x, const float *w, const float *b,
                                   const float *y1, float *col)
{
    size_t hw = (size_t)s->h * s->w, ohw = (size_t)s->ho * s->wo, nx = (size_t)s->cin * K * hw, ny = (size_t)s->cout * K * ohw;
    float *y = malloc(ny * sizeof(float)), *dy = malloc(ny * sizeof(float)), *dx1 = malloc(nx * sizeof(float)),
          *dx = malloc(nx * sizeof(float));
    for (size_t i = 0; i < ny; i++) dy[i] = (float)sin(0.37 * (double)i + 0.1);
    conv_backward_f32(dx1, dy, w, s, K, col, 0);
    int bad = 0;
    const int nts[] = {2, 3, 5};
    for (int i = 0; i < 3; i++) {
        float *c = malloc((conv_scratch_f32(s, nts[i]) + 1) * sizeof(float));
        conv_forward_par_f32(y, x, w, b, s, K, c, nts[i], dt_parallel_units);
        bad += memcmp(y, y1, ny * sizeof(float)) != 0;
        conv_backward_par_f32(dx, dy, w, s, K, c, nts[i], dt_parallel_units, 0);
        bad += memcmp(dx, dx1, nx * sizeof(float)) != 0;
        free(c);
    }
    CHECK(bad == 0, "%s: float results on 2, 3, 5 threads not bit-identical to the serial ones (%d differ)", name, bad);
    /* the last lane alone */
    if (K > 1) {
        float *x1 = malloc((size_t)s->cin * hw * sizeof(float)), *dy1 = malloc((size_t)s->cout * ohw * sizeof(float));
        for (int c = 0; c < s->cin; c++) memcpy(x1 + c * hw, x + ((size_t)c * K + K - 1) * hw, hw * sizeof(float));
        for (int c = 0; c < s->cout; c++) memcpy(dy1 + c * ohw, dy + ((size_t)c * K + K - 1) * ohw, ohw * sizeof(float));
        conv_forward_f32(y, x1, w, b, s, 1, col);
        conv_backward_f32(dx, dy1, w, s, 1, col, 0);
        int lb = 0;
        for (int c = 0; c < s->cout; c++) lb += memcmp(y + c * ohw, y1 + ((size_t)c * K + K - 1) * ohw, ohw * sizeof(float)) != 0;
        for (int c = 0; c < s->cin; c++) lb += memcmp(dx + c * hw, dx1 + ((size_t)c * K + K - 1) * hw, hw * sizeof(float)) != 0;
        CHECK(lb == 0, "%s: a lane run alone differs from the same lane run with %d others (%d planes)", name, K - 1, lb);
        free(x1);
        free(dy1);
    }
    free(y); free(dy); free(dx1); free(dx);
}

static void test_conv(int cin, int h, int w, int cout, int k, int s, int p, int g, int K)
{
    conv_ctx t;
    t.s = (dt_conv_shape){cin, h, w, cout, dt_conv_out(h, k, s, p), dt_conv_out(w, k, s, p), k, k, s, s, p, p, g};
    t.K = K;
    size_t nx = (size_t)cin * K * h * w, ny = (size_t)cout * K * t.s.ho * t.s.wo, nw = (size_t)cout * (cin / g) * k * k;
    double *x = malloc(nx * sizeof(double)), *y1 = malloc(ny * sizeof(double)), *y2 = malloc(ny * sizeof(double));
    t.w = malloc(nw * sizeof(double));
    t.b = malloc(cout * sizeof(double));
    t.col = malloc((conv_scratch_f64(&t.s, 3) + 1) * sizeof(double));
    fill(x, nx);
    fill(t.w, nw);
    fill(t.b, cout);
    char name[128];
    snprintf(name, sizeof name, "conv %dx%dx%d k%d s%d p%d g%d K%d", cin, h, w, k, s, p, g, K);
    /* fast vs naive, forward and backward, in double: same arithmetic up
     * to summation order */
    conv_forward_f64(y1, x, t.w, t.b, &t.s, K, t.col);
    conv_forward_naive_f64(y2, x, t.w, t.b, &t.s, K);
    double e = 0;
    for (size_t i = 0; i < ny; i++) e = fmax(e, fabs(y1[i] - y2[i]));
    CHECK(e < 1e-12, "%s: fast vs naive forward %.3g", name, e);
    double *dy = malloc(ny * sizeof(double)), *dx1 = calloc(nx, sizeof(double)), *dx2 = calloc(nx, sizeof(double));
    fill(dy, ny);
    conv_backward_f64(dx1, dy, t.w, &t.s, K, t.col, 1);
    conv_backward_naive_f64(dx2, dy, t.w, &t.s, K);
    e = 0;
    for (size_t i = 0; i < nx; i++) e = fmax(e, fabs(dx1[i] - dx2[i]));
    CHECK(e < 1e-12, "%s: fast vs naive backward %.3g", name, e);
    /* float fast path vs naive: float rounding of sums of O(1) terms:
     * 1e-5 absolute per 100 terms (conv1-like kernels sum 363) */
    float *xf = malloc(nx * sizeof(float)), *wf = malloc(nw * sizeof(float)), *bf = malloc(cout * sizeof(float));
    float *yf1 = malloc(ny * sizeof(float)), *yf2 = malloc(ny * sizeof(float)), *colf = malloc((conv_scratch_f32(&t.s, 5) + 1) * sizeof(float));
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
    for (size_t i = 0; i < nw; i++) wf[i] = (float)t.w[i];
    for (int i = 0; i < cout; i++) bf[i] = (float)t.b[i];
    conv_forward_f32(yf1, xf, wf, bf, &t.s, K, colf);
    conv_forward_naive_f32(yf2, xf, wf, bf, &t.s, K);
    e = 0;
    for (size_t i = 0; i < ny; i++) e = fmax(e, fabs(yf1[i] - yf2[i]));
    double ftol = 1e-5 * fmax(1, (cin / g) * k * k / 100.0);
    CHECK(e < ftol, "%s: float fast vs naive forward %.3g (tolerance %.2g)", name, e, ftol);
    conv_float_determinism(name, &t.s, K, xf, wf, bf, yf1, colf);
    free(xf); free(wf); free(bf); free(yf1); free(yf2); free(colf);
    /* the thread-split versions (run here by a serial parallel-for over 3
     * parts) compute the same sums in the same order per element */
    double *y3 = malloc(ny * sizeof(double)), *dx3 = calloc(nx, sizeof(double));
    conv_forward_par_f64(y3, x, t.w, t.b, &t.s, K, t.col, 3, serial_for);
    conv_backward_par_f64(dx3, dy, t.w, &t.s, K, t.col, 3, serial_for, 1);
    e = 0;
    for (size_t i = 0; i < ny; i++) e = fmax(e, fabs(y3[i] - y1[i]));
    for (size_t i = 0; i < nx; i++) e = fmax(e, fabs(dx3[i] - dx1[i]));
    CHECK(e < 1e-12, "%s: split over threads vs serial %.3g", name, e);
    free(y3);
    free(dx3);
    /* assigning (the gradient's only writer) equals adding into zeros, in
     * every path: whole planes, blocks of rows, pointwise, thread split */
    conv_dy = dy;
    char aname[160];
    snprintf(aname, sizeof aname, "%s backward", name);
    check_assign(aname, nx, conv_assign, &t);
    snprintf(aname, sizeof aname, "%s split backward", name);
    check_assign(aname, nx, conv_assign_par, &t);
    /* central differences on every input: small shapes only (the large ones,
     * which take the chunked row path, are checked against the naive loops) */
    if (nx <= 4096) fd_check(name, conv_f, conv_b, &t, x, nx, ny, K, K, (size_t)h * w, (size_t)t.s.ho * t.s.wo, cin, cout);
    free(x); free(y1); free(y2); free(dy); free(dx1); free(dx2); free(t.w); free(t.b); free(t.col);
}

/* ---- relu ---- */
typedef struct { int c, Kf, K; size_t hw; double *y; } ew_ctx;
static void relu_f(double *y, const double *x, void *c)
{
    ew_ctx *t = c;
    relu_forward_f64(y, x, (size_t)t->c * t->Kf * t->hw);
}
static void relu_b(double *dx, const double *dy, void *c)
{
    ew_ctx *t = c;
    relu_backward_f64(dx, dy, t->y, t->c, t->Kf, t->K, t->hw, 1);
}

static double *relu_dy;
static void relu_assign(double *dx, int acc, void *c)
{
    ew_ctx *t = c;
    relu_backward_f64(dx, relu_dy, t->y, t->c, t->Kf, t->K, t->hw, acc);
}

static void test_relu(void)
{
    ew_ctx t = {4, 2, 6, 10, NULL};
    size_t n = (size_t)t.c * t.Kf * t.hw;
    double *x = malloc(n * sizeof(double));
    t.y = malloc(n * sizeof(double));
    fill(x, n);
    for (size_t i = 0; i < n; i++) x[i] += x[i] >= 0 ? 0.05 : -0.05; /* away from the kink */
    relu_forward_f64(t.y, x, n);
    fd_check("relu Kf=2 K=6", relu_f, relu_b, &t, x, n, n, t.Kf, t.K, t.hw, t.hw, t.c, t.c);
    relu_dy = malloc(n / t.Kf * t.K * sizeof(double));
    fill(relu_dy, n / t.Kf * t.K);
    check_assign("relu backward", n / t.Kf * t.K, relu_assign, &t);
    free(relu_dy);
    free(x);
    free(t.y);
}

/* ---- pooling ---- */
typedef struct { dt_pool_shape s; int Kf, K, max; int32_t *am; } pool_ctx;
static double *pool_dy;
static void pool_assign(double *dx, int acc, void *c)
{
    pool_ctx *t = c;
    maxpool_backward_f64(dx, pool_dy, t->am, &t->s, t->Kf, t->K, acc);
}
static void pool_f(double *y, const double *x, void *c)
{
    pool_ctx *t = c;
    if (t->max) maxpool_forward_f64(y, t->am, x, &t->s, t->Kf);
    else avgpool_forward_f64(y, x, &t->s, t->Kf);
}
static void pool_b(double *dx, const double *dy, void *c)
{
    pool_ctx *t = c;
    if (t->max) maxpool_backward_f64(dx, dy, t->am, &t->s, t->Kf, t->K, 1);
    else avgpool_backward_f64(dx, dy, &t->s, t->K);
}

static void test_pool(int max, int h, int w, int k, int s, int p, int ceil_mode, int Kf, int K)
{
    pool_ctx t;
    int c = 3;
    t.s = (dt_pool_shape){c, h, w, dt_pool_out(h, k, s, p, ceil_mode), dt_pool_out(w, k, s, p, ceil_mode), k, k, s, s, p, p};
    t.Kf = Kf;
    t.K = K;
    t.max = max;
    size_t nx = (size_t)c * Kf * h * w, ny = (size_t)c * Kf * t.s.ho * t.s.wo;
    double *x = malloc(nx * sizeof(double)), *y = malloc(ny * sizeof(double));
    t.am = malloc(ny * sizeof(int32_t));
    /* distinct values spaced 1e-3 apart (>> 2h): no tie, no argmax change */
    for (size_t i = 0; i < nx; i++) x[i] = (double)i * 1e-3;
    for (size_t i = nx - 1; i > 0; i--) {
        size_t j = (size_t)((urand() + 1) / 2 * (double)(i + 1)) % (i + 1);
        double v = x[i]; x[i] = x[j]; x[j] = v;
    }
    pool_f(y, x, &t);
    char name[96];
    snprintf(name, sizeof name, "%s %dx%d k%d s%d p%d%s Kf=%d K=%d", max ? "maxpool" : "avgpool", h, w, k, s, p,
             ceil_mode ? " ceil" : "", Kf, K);
    fd_check(name, pool_f, pool_b, &t, x, nx, ny, Kf, max ? K : Kf, (size_t)h * w, (size_t)t.s.ho * t.s.wo, c, c);
    if (max) {
        size_t nyk = ny / Kf * K;
        pool_dy = malloc(nyk * sizeof(double));
        fill(pool_dy, nyk);
        check_assign(name, nx / Kf * K, pool_assign, &t);
        free(pool_dy);
    }
    free(x); free(y); free(t.am);
}

/* ---- adaptive average pooling ---- */
typedef struct { int c, h, w, ho, wo, K; } aap_ctx;
static void aap_f(double *y, const double *x, void *c)
{
    aap_ctx *t = c;
    adaptavg_forward_f64(y, x, t->c, t->h, t->w, t->ho, t->wo, t->K);
}
static void aap_b(double *dx, const double *dy, void *c)
{
    aap_ctx *t = c;
    adaptavg_backward_f64(dx, dy, t->c, t->h, t->w, t->ho, t->wo, t->K);
}

/* ---- LRN ---- */
typedef struct { int c, Kf, K, n; size_t hw; double alpha, beta, k; double *x, *y, *scale; } lrn_ctx;
static void lrn_f(double *y, const double *x, void *c)
{
    lrn_ctx *t = c;
    double *sc = malloc(2 * (size_t)t->c * t->Kf * t->hw * sizeof(double));
    lrn_forward_f64(y, sc, x, t->c, t->Kf, t->hw, t->n, t->alpha, t->beta, t->k);
    free(sc);
}
static void lrn_b(double *dx, const double *dy, void *c)
{
    lrn_ctx *t = c;
    double *ring = malloc(lrn_backward_scratch(t->n, t->K, t->hw) * sizeof(double));
    lrn_backward_f64(dx, dy, t->x, t->scale, t->c, t->Kf, t->K, t->hw, t->n, t->alpha, t->beta, 1, 0, ring);
    free(ring);
}

static double *lrn_dy;
static void lrn_assign(double *dx, int acc, void *c)
{
    lrn_ctx *t = c;
    double *ring = malloc(lrn_backward_scratch(t->n, t->K, t->hw) * sizeof(double));
    lrn_backward_f64(dx, lrn_dy, t->x, t->scale, t->c, t->Kf, t->K, t->hw, t->n, t->alpha, t->beta, acc, 0, ring);
    free(ring);
}

static void test_lrn(int c, int n, double alpha, double k, int Kf, int K, size_t hw)
{
    lrn_ctx t = {c, Kf, K, n, hw, alpha, 0.75, k, NULL, NULL, NULL};
    size_t nx = (size_t)c * Kf * t.hw;
    t.x = malloc(nx * sizeof(double));
    t.y = malloc(nx * sizeof(double));
    t.scale = malloc(2 * nx * sizeof(double));
    fill(t.x, nx);
    for (size_t i = 0; i < nx; i++) t.x[i] *= 20; /* large enough that the normalisation matters */
    lrn_forward_f64(t.y, t.scale, t.x, c, Kf, t.hw, n, alpha, t.beta, k);
    size_t ng = (size_t)c * K * t.hw;
    lrn_dy = malloc(ng * sizeof(double));
    fill(lrn_dy, ng);
    check_assign("lrn backward", ng, lrn_assign, &t);
    /* the fused ReLU form equals the LRN backward then the ReLU backward,
     * for an input that is a ReLU's output (zeros included) */
    {
        double *xr = malloc(nx * sizeof(double)), *yr = malloc(nx * sizeof(double)), *ar = malloc(2 * nx * sizeof(double));
        double *g1 = calloc(ng, sizeof(double)), *g2 = calloc(ng, sizeof(double)), *g3 = calloc(ng, sizeof(double));
        for (size_t i = 0; i < nx; i++) xr[i] = t.x[i] > 0 ? t.x[i] : 0;
        lrn_forward_f64(yr, ar, xr, c, Kf, t.hw, n, alpha, t.beta, k);
        double *ring = malloc(lrn_backward_scratch(n, K, t.hw) * sizeof(double));
        lrn_backward_f64(g1, lrn_dy, xr, ar, c, Kf, K, t.hw, n, alpha, t.beta, 0, 0, ring);
        relu_backward_f64(g2, g1, xr, c, Kf, K, t.hw, 0);
        lrn_backward_f64(g3, lrn_dy, xr, ar, c, Kf, K, t.hw, n, alpha, t.beta, 0, 1, ring);
        free(ring);
        double e = 0;
        for (size_t i = 0; i < ng; i++) e = fmax(e, fabs(g2[i] - g3[i]));
        CHECK(e == 0, "lrn backward with the ReLU fused differs by %.3g", e);
        free(xr); free(yr); free(ar); free(g1); free(g2); free(g3);
    }
    free(lrn_dy);
    char name[96];
    snprintf(name, sizeof name, "lrn c=%d n=%d alpha=%g k=%g Kf=%d K=%d hw=%zu", c, n, alpha, k, Kf, K, hw);
    fd_check(name, lrn_f, lrn_b, &t, t.x, nx, nx, Kf, K, t.hw, t.hw, c, c);
    free(t.x); free(t.y); free(t.scale);
}

/* ---- fully connected ---- */
typedef struct { int nout, c, K; size_t hw; double *w, *b, *scratch; } fc_ctx;
static void fc_f(double *y, const double *x, void *c)
{
    fc_ctx *t = c;
    fc_forward_f64(y, x, t->w, t->b, t->nout, t->c, t->hw, t->K, t->scratch);
}
static void fc_b(double *dx, const double *dy, void *c)
{
    fc_ctx *t = c;
    fc_backward_f64(dx, dy, t->w, t->nout, t->c, t->hw, t->K, t->scratch);
}

static void test_fc(int c, size_t hw, int nout, int K)
{
    fc_ctx t = {nout, c, K, hw, NULL, NULL, NULL};
    size_t nx = (size_t)c * K * hw, nw = (size_t)nout * c * hw;
    double *x = malloc(nx * sizeof(double));
    t.w = malloc(nw * sizeof(double));
    t.b = malloc(nout * sizeof(double));
    t.scratch = malloc(((size_t)c * hw + nout) * sizeof(double));
    fill(x, nx);
    fill(t.w, nw);
    fill(t.b, nout);
    /* the flattening order is (c, h, w) per lane, as torch.flatten */
    double *y = malloc((size_t)nout * K * sizeof(double));
    fc_forward_f64(y, x, t.w, t.b, nout, c, hw, K, t.scratch);
    double e = 0;
    for (int o = 0; o < nout; o++)
        for (int k = 0; k < K; k++) {
            double acc = t.b[o];
            for (int ch = 0; ch < c; ch++)
                for (size_t p = 0; p < hw; p++) acc += t.w[(size_t)o * c * hw + ch * hw + p] * x[((size_t)ch * K + k) * hw + p];
            e = fmax(e, fabs(acc - y[(size_t)o * K + k]));
        }
    CHECK(e < 1e-12, "fc forward vs direct sum %.3g", e);
    char name[64];
    snprintf(name, sizeof name, "fc %dx%zu -> %d K=%d", c, hw, nout, K);
    fd_check(name, fc_f, fc_b, &t, x, nx, (size_t)nout * K, K, K, hw, 1, c, nout);
    /* float: each lane alone gives bit-identical outputs and gradients */
    {
        size_t nw2 = (size_t)nout * c * hw, per = (size_t)c * hw;
        float *xf = malloc(nx * sizeof(float)), *wf = malloc(nw2 * sizeof(float)), *bf = malloc(nout * sizeof(float)),
              *yf = malloc((size_t)nout * K * sizeof(float)), *dxf = calloc(nx, sizeof(float)), *sc = malloc((per + nout) * sizeof(float)),
              *x1 = malloc(per * sizeof(float)), *y1 = malloc(nout * sizeof(float)), *d1 = calloc(per, sizeof(float));
        for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
        for (size_t i = 0; i < nw2; i++) wf[i] = (float)t.w[i];
        for (int i = 0; i < nout; i++) bf[i] = (float)t.b[i];
        fc_forward_f32(yf, xf, wf, bf, nout, c, hw, K, sc);
        fc_backward_f32(dxf, yf, wf, nout, c, hw, K, sc);
        int bad = 0;
        for (int k = 0; k < K; k++) {
            for (int ch = 0; ch < c; ch++) memcpy(x1 + ch * hw, xf + ((size_t)ch * K + k) * hw, hw * sizeof(float));
            fc_forward_f32(y1, x1, wf, bf, nout, c, hw, 1, sc);
            for (int o = 0; o < nout; o++) bad += y1[o] != yf[(size_t)o * K + k];
            memset(d1, 0, per * sizeof(float));
            fc_backward_f32(d1, y1, wf, nout, c, hw, 1, sc);
            for (int ch = 0; ch < c; ch++) bad += memcmp(d1 + ch * hw, dxf + ((size_t)ch * K + k) * hw, hw * sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%s: a lane alone differs from the same lane among %d (%d values)", name, K, bad);
        free(xf); free(wf); free(bf); free(yf); free(dxf); free(sc); free(x1); free(y1); free(d1);
    }
    free(x); free(y); free(t.w); free(t.b); free(t.scratch);
}

/* ---- softmax ---- */
typedef struct { int c, Kf, K; size_t hw; double *y; } sm_ctx;
static void sm_f(double *y, const double *x, void *c)
{
    sm_ctx *t = c;
    softmax_forward_f64(y, x, t->c, t->Kf, t->hw);
}
static void sm_b(double *dx, const double *dy, void *c)
{
    sm_ctx *t = c;
    softmax_backward_f64(dx, dy, t->y, t->c, t->Kf, t->K, t->hw);
}

int main(void)
{
    printf("conv:\n");
    test_conv(3, 9, 8, 4, 3, 1, 1, 1, 1);
    test_conv(4, 11, 11, 6, 5, 2, 2, 2, 3);   /* groups, stride, padding, lane chunks */
    test_conv(6, 7, 7, 4, 1, 1, 0, 2, 2);     /* pointwise: no im2col */
    test_conv(3, 15, 13, 4, 11, 4, 0, 1, 2);  /* AlexNet conv1-like */
    /* stride 1, output the size of the input (the contiguous col2im): taps
     * wrapping past both edges, groups, lane chunks; and a map large enough
     * for the chunked row path (104 x 100, 5x5: chunks of 52 rows) */
    test_conv(4, 9, 9, 6, 5, 1, 2, 2, 3);
    test_conv(2, 6, 11, 3, 3, 1, 1, 1, 2);
    test_conv(2, 104, 100, 3, 5, 1, 2, 1, 2);
    test_conv(2, 100, 96, 4, 3, 1, 1, 2, 1);
    /* AlexNet conv1's 11-wide stride-4 taps (groups of 4, 4 and 3) on a map
     * large enough for the chunked row path (28 x 28 outputs) */
    test_conv(3, 119, 119, 4, 11, 4, 0, 1, 1);
    test_conv(32, 201, 201, 3, 2, 3, 0, 1, 1); /* blocks of rows, and rows no window reaches (the last too) */
    /* several blocks of output channels (forward), of input channels
     * (backward) and of rows at once; and pointwise with several of each */
    test_conv(40, 30, 30, 150, 3, 1, 1, 1, 3);
    test_conv(600, 12, 12, 140, 1, 1, 0, 1, 2);
    printf("elementwise and pooling:\n");
    test_relu();
    test_pool(1, 9, 9, 3, 2, 0, 1, 1, 3);        /* Caffe ceil rounding, K > Kf */
    test_pool(1, 8, 7, 3, 2, 1, 1, 2, 2);        /* padding */
    test_pool(1, 8, 8, 2, 2, 0, 0, 1, 1);        /* floor (torchvision) */
    test_pool(0, 7, 7, 3, 1, 1, 1, 2, 2);        /* avg pool with padding (inception) */
    test_pool(0, 7, 7, 7, 1, 0, 1, 1, 1);        /* GoogLeNet pool5 */
    {
        aap_ctx t = {2, 7, 5, 3, 2, 2};
        size_t nx = 2 * 2 * 7 * 5, ny = 2 * 2 * 3 * 2;
        double *x = malloc(nx * sizeof(double));
        fill(x, nx);
        fd_check("adaptive avgpool 7x5 -> 3x2", aap_f, aap_b, &t, x, nx, ny, 2, 2, 35, 6, 2, 2);
        free(x);
    }
    test_lrn(7, 5, 1e-4, 1, 1, 3, 6);
    test_lrn(6, 5, 5e-4, 2, 2, 2, 6);
    test_lrn(9, 3, 0.1, 1, 1, 1, 6);
    test_lrn(4, 5, 1e-3, 1, 1, 2, 1100); /* planes longer than the backward's blocks of 512 */
    test_fc(3, 4, 5, 2);
    test_fc(7, 1, 4, 3);
    {
        sm_ctx t = {5, 1, 3, 2, NULL};
        size_t n = 5 * 1 * 2;
        double *x = malloc(n * sizeof(double));
        t.y = malloc(n * sizeof(double));
        fill(x, n);
        softmax_forward_f64(t.y, x, 5, 1, 2);
        double s = 0;
        for (int c = 0; c < 5; c++) s += t.y[c * 2];
        CHECK(fabs(s - 1) < 1e-12, "softmax sums to 1: %.17g", s);
        fd_check("softmax Kf=1 K=3", sm_f, sm_b, &t, x, n, n, 1, 3, 2, 2, 5, 5);
        free(x);
        free(t.y);
    }
    /* max-pool ties (ReLU zeros): the first element of the window in
     * row-major order wins, as in Caffe and PyTorch */
    {
        dt_pool_shape ps = {2, 9, 11, dt_pool_out(9, 3, 2, 1, 1), dt_pool_out(11, 3, 2, 1, 1), 3, 3, 2, 2, 1, 1};
        float x[2 * 9 * 11] = {0}, y[2 * 6 * 6];
        int32_t am[2 * 6 * 6];
        maxpool_forward_f32(y, am, x, &ps, 1);
        int bad = 0;
        for (int c = 0; c < 2; c++)
            for (int oy = 0; oy < ps.ho; oy++)
                for (int ox = 0; ox < ps.wo; ox++) {
                    int y0 = oy * 2 - 1 < 0 ? 0 : oy * 2 - 1, x0 = ox * 2 - 1 < 0 ? 0 : ox * 2 - 1;
                    bad += am[(c * ps.ho + oy) * ps.wo + ox] != y0 * 11 + x0;
                }
        CHECK(bad == 0, "max-pool ties: %d windows not routed to their first element", bad);
    }
    /* pooling output sizes: Caffe ceil rule vs floor */
    CHECK(dt_pool_out(55, 3, 2, 0, 1) == 27 && dt_pool_out(13, 3, 2, 0, 1) == 6, "AlexNet pool sizes");
    CHECK(dt_pool_out(112, 3, 2, 0, 1) == 56 && dt_pool_out(112, 3, 2, 0, 0) == 55, "GoogLeNet pool1 ceil vs floor");
    CHECK(dt_pool_out(5, 2, 2, 1, 1) == 3 && dt_pool_out(6, 3, 2, 1, 1) == 4, "ceil with padding drops a last window that starts in the padding");
    return th_summary("test_kernels");
}
