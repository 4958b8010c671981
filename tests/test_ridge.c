/* test_ridge.c — ridge regression against the closed form solved directly
 * in double (Cholesky of Z^T Z + lambda I), its K-fold CV errors against a
 * brute-force refit per fold, generalized CV against brute-force
 * leave-one-out, NaN handling, and scikit-learn's Ridge / RidgeCV
 * (fixture by scripts/make-ridge-fixtures.py). */
#include "harness.h"
#include "array.h"
#include "h5io.h"
#include "ridge.h"
#include "util.h"

#include <string.h>

void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb, int *info);

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* Closed form on rows sel (cnt) of X for neuron j: w (p), b. */
static void closed_form(const float *X, int p, const double *Y, int m, int j, const int *sel, int cnt, double lam, int stdz,
                        double *w, double *b)
{
    double *mu = calloc(p, sizeof(double)), *sd = malloc(p * sizeof(double)), *A = calloc((size_t)p * p, sizeof(double));
    double ybar = 0;
    for (int i = 0; i < cnt; i++) {
        for (int c = 0; c < p; c++) mu[c] += (double)X[(size_t)sel[i] * p + c] / cnt;
        ybar += Y[(size_t)sel[i] * m + j] / cnt;
    }
    for (int c = 0; c < p; c++) {
        double v = 0;
        for (int i = 0; i < cnt; i++) v += pow(X[(size_t)sel[i] * p + c] - mu[c], 2) / cnt;
        sd[c] = stdz && v > 0 ? sqrt(v) : 1;
    }
    for (int c = 0; c < p; c++) w[c] = 0;
    for (int i = 0; i < cnt; i++)
        for (int c = 0; c < p; c++) {
            double zc = (X[(size_t)sel[i] * p + c] - mu[c]) / sd[c];
            w[c] += zc * (Y[(size_t)sel[i] * m + j] - ybar);
            for (int d = 0; d < p; d++) A[(size_t)c * p + d] += zc * (X[(size_t)sel[i] * p + d] - mu[d]) / sd[d];
        }
    for (int c = 0; c < p; c++) A[(size_t)c * p + c] += lam;
    int one = 1, info;
    dposv_("U", &p, &one, A, &p, w, &p, &info);
    *b = ybar;
    for (int c = 0; c < p; c++) {
        w[c] /= sd[c];
        *b -= mu[c] * w[c];
    }
    free(mu); free(sd); free(A);
}

/* The API takes features feature-major (p, n). */
static float *transpose(const float *X, int n, int p)
{
    float *Xt = malloc((size_t)n * p * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < p; c++) Xt[(size_t)c * n + i] = X[(size_t)i * p + c];
    return Xt;
}

static int fit_rm(const float *X, int n, int p, const double *Y, int m, const ridge_opts *o, ridge_fit *f)
{
    float *Xt = transpose(X, n, p);
    int rc = ridge_fit_cv(Xt, n, p, Y, m, o, f);
    free(Xt);
    return rc;
}

static void make_problem(float *X, double *Y, int n, int p, int m)
{
    for (int i = 0; i < n * p; i++) X[i] = (float)(nrand() * (1 + (i % p) % 3) + (i % p) * 0.1);
    for (int j = 0; j < m; j++)
        for (int i = 0; i < n; i++) {
            double s = 2.0 + j;
            for (int c = 0; c < p && c < 5; c++) s += X[(size_t)i * p + c] * (c + 1) * 0.3;
            Y[(size_t)i * m + j] = s + nrand();
        }
}

static double rel(const double *a, const double *b, int n)
{
    double e = 0, s = 0;
    for (int i = 0; i < n; i++) { e = fmax(e, fabs(a[i] - b[i])); s = fmax(s, fabs(b[i])); }
    return e / (s > 0 ? s : 1);
}

/* Tolerances against the double-precision references: 1e-8 for the double
 * path; the single-precision path (dual, K-fold, unstandardised) is exact
 * for a Gram within single-precision rounding of the true one, so its
 * distance from the references is bounded by the problem's conditioning
 * times float rounding: 2e-5 on these problems. */
static double tol(int precision) { return precision == 1 ? 2e-5 : 1e-8; }

static void test_closed_form(int n, int p, int stdz, int precision)
{
    int m = 3;
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *w = malloc(p * sizeof(double)), b;
    make_problem(X, Y, n, p, m);
    double grid[1] = {3.7};
    ridge_opts o;
    ridge_opts_default(&o);
    o.grid = grid;
    o.ngrid = 1;
    o.standardize = stdz;
    o.precision = precision;
    ridge_fit f;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) == 0, "ridge: %s", dt_lasterr());
    int *all = malloc(n * sizeof(int));
    for (int i = 0; i < n; i++) all[i] = i;
    double worst = 0;
    for (int j = 0; j < m; j++) {
        closed_form(X, p, Y, m, j, all, n, grid[0], stdz, w, &b);
        worst = fmax(worst, rel(f.w + (size_t)j * p, w, p));
        CHECK(fabs(f.b[j] - b) <= tol(precision) * (1 + fabs(b)), "intercept %g vs %g", f.b[j], b);
    }
    CHECK(worst < tol(precision), "%s n=%d p=%d std=%d precision %d: weights differ from the closed form by %.3g",
          p >= n ? "dual" : "primal", n, p, stdz, precision, worst);
    printf("  %-6s n=%3d p=%3d standardize=%d precision=%d: weights vs closed form %.1e\n", p >= n ? "dual" : "primal", n, p,
           stdz, precision, worst);
    ridge_fit_free(&f);
    free(X); free(Y); free(w); free(all);
}

/* K-fold CV errors against refitting the closed form on each fold. */
static void test_cv(int n, int p, int K, int stdz, int precision)
{
    int m = 2, G = 4;
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *w = malloc(p * sizeof(double)), b;
    make_problem(X, Y, n, p, m);
    double grid[4] = {0.01, 0.3, 10, 300};
    ridge_opts o;
    ridge_opts_default(&o);
    o.grid = grid;
    o.ngrid = G;
    o.nfolds = K;
    o.seed = 7;
    o.standardize = stdz;
    o.precision = precision;
    ridge_fit f;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) == 0, "ridge: %s", dt_lasterr());
    int *fold = malloc(n * sizeof(int)), *tr = malloc(n * sizeof(int));
    if (K > 0) ridge_folds(fold, n, K, 7);
    double worst = 0;
    for (int j = 0; j < m; j++)
        for (int g = 0; g < G; g++) {
            double err = 0;
            if (K == 0) { /* leave-one-out by brute force */
                for (int out = 0; out < n; out++) {
                    int c = 0;
                    for (int i = 0; i < n; i++) if (i != out) tr[c++] = i;
                    closed_form(X, p, Y, m, j, tr, c, grid[g], stdz, w, &b);
                    double pred = b;
                    for (int d = 0; d < p; d++) pred += w[d] * X[(size_t)out * p + d];
                    err += pow(Y[(size_t)out * m + j] - pred, 2);
                }
            } else {
                for (int k = 0; k < K; k++) {
                    int c = 0;
                    for (int i = 0; i < n; i++) if (fold[i] != k) tr[c++] = i;
                    closed_form(X, p, Y, m, j, tr, c, grid[g], stdz, w, &b);
                    for (int i = 0; i < n; i++) {
                        if (fold[i] != k) continue;
                        double pred = b;
                        for (int d = 0; d < p; d++) pred += w[d] * X[(size_t)i * p + d];
                        err += pow(Y[(size_t)i * m + j] - pred, 2);
                    }
                }
            }
            err /= n;
            worst = fmax(worst, fabs(f.cv[(size_t)j * G + g] - err) / err);
        }
    CHECK(worst < tol(precision), "%s CV errors (precision %d) differ from brute force by %.3g", K ? "K-fold" : "GCV", precision,
          worst);
    printf("  %-6s n=%3d p=%3d %s%s precision=%d: CV error vs brute-force refits %.1e\n", p >= n ? "dual" : "primal", n, p,
           K ? "5-fold" : "leave-one-out (GCV)", stdz ? ", standardized" : "", precision, worst);
    ridge_fit_free(&f);
    free(X); free(Y); free(w); free(fold); free(tr);
}

/* A neuron with NaNs is fitted on its recorded stimuli only; an all-NaN and a
 * constant neuron are skipped with their status. */
static void test_nan(void)
{
    int n = 30, p = 8, m = 4;
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *w = malloc(p * sizeof(double)), b;
    make_problem(X, Y, n, p, m);
    int sel[30], cnt = 0;
    for (int i = 0; i < n; i++) {
        if (i % 4 == 1) Y[(size_t)i * m + 1] = NAN;
        else sel[cnt++] = i;
        Y[(size_t)i * m + 2] = NAN;
        Y[(size_t)i * m + 3] = 5;
    }
    double grid[1] = {2};
    ridge_opts o;
    ridge_opts_default(&o);
    o.grid = grid;
    o.ngrid = 1;
    ridge_fit f;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) == 0, "ridge: %s", dt_lasterr());
    closed_form(X, p, Y, m, 1, sel, cnt, 2, 0, w, &b);
    CHECK(rel(f.w + p, w, p) < 1e-8, "NaN neuron: weights differ from the fit on its recorded stimuli (%.3g)", rel(f.w + p, w, p));
    CHECK(f.status[0] == RIDGE_OK && f.status[1] == RIDGE_OK && f.status[2] == RIDGE_NO_DATA && f.status[3] == RIDGE_CONSTANT,
          "statuses %d %d %d %d", f.status[0], f.status[1], f.status[2], f.status[3]);
    CHECK(f.b[3] == 5, "constant neuron's intercept %g", f.b[3]);
    ridge_fit_free(&f);
    /* bad options */
    double bad[2] = {1, 0.5};
    o.grid = bad;
    o.ngrid = 2;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) != 0 && strstr(dt_lasterr(), "strictly increasing"), "unsorted grid: %s", dt_lasterr());
    o.grid = grid;
    o.ngrid = 1;
    o.nfolds = 40;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) != 0 && strstr(dt_lasterr(), "cannot be split into 40 folds"), "folds: %s", dt_lasterr());
    free(X); free(Y); free(w);
}

/* The single-precision path on a neuron recorded on scattered stimuli (the
 * gathered, non-contiguous rows) and on the others together. */
static void test_single_nan(void)
{
    int n = 40, p = 90, m = 2;
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *w = malloc(p * sizeof(double)), b;
    make_problem(X, Y, n, p, m);
    int sel[40], all[40], cnt = 0;
    for (int i = 0; i < n; i++) {
        all[i] = i;
        if (i % 3 == 1) Y[(size_t)i * m + 1] = NAN;
        else sel[cnt++] = i;
    }
    double grid[1] = {5};
    ridge_opts o;
    ridge_opts_default(&o);
    o.grid = grid;
    o.ngrid = 1;
    ridge_fit f;
    CHECK(fit_rm(X, n, p, Y, m, &o, &f) == 0, "ridge: %s", dt_lasterr());
    closed_form(X, p, Y, m, 0, all, n, 5, 0, w, &b);
    double e0 = rel(f.w, w, p);
    closed_form(X, p, Y, m, 1, sel, cnt, 5, 0, w, &b);
    double e1 = rel(f.w + p, w, p);
    CHECK(e0 < tol(1) && e1 < tol(1), "single precision: weights differ from the closed form by %.3g (all stimuli), %.3g (NaNs)", e0, e1);
    printf("  dual   single precision, a neuron with NaNs: weights vs closed form %.1e, %.1e on its recorded stimuli\n", e0, e1);
    ridge_fit_free(&f);
    free(X); free(Y); free(w);
}

/* scikit-learn: Ridge(alpha) weights for every alpha, and RidgeCV's
 * per-target alpha (its efficient leave-one-out = our GCV). */
static void test_sklearn(void)
{
    const char *path = "tests/fixtures/ridge/sklearn.h5";
    hid_t f = h5_open_ro(path);
    CHECK(f >= 0, "%s: %s", path, dt_lasterr());
    if (f < 0) return;
    int r;
    hsize_t d[4];
    h5_shape(f, "X", &r, d, NULL, NULL);
    int n = (int)d[0], p = (int)d[1];
    h5_shape(f, "Y", &r, d, NULL, NULL);
    int m = (int)d[1];
    h5_shape(f, "alphas", &r, d, NULL, NULL);
    int G = (int)d[0];
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *alphas = malloc(G * sizeof(double));
    double *coef = malloc((size_t)G * m * p * sizeof(double)), *icpt = malloc((size_t)G * m * sizeof(double)), *chosen = malloc(m * sizeof(double));
    h5_read(f, "X", H5T_NATIVE_FLOAT, X);
    h5_read(f, "Y", H5T_NATIVE_DOUBLE, Y);
    h5_read(f, "alphas", H5T_NATIVE_DOUBLE, alphas);
    h5_read(f, "coef", H5T_NATIVE_DOUBLE, coef);
    h5_read(f, "intercept", H5T_NATIVE_DOUBLE, icpt);
    h5_read(f, "ridgecv_alpha", H5T_NATIVE_DOUBLE, chosen);
    H5Fclose(f);
    /* the single path's error grows with the conditioning (s_max + alpha) /
     * alpha of the smallest alphas: s_max of the centred Gram by power
     * iteration */
    double *Kc = calloc((size_t)n * n, sizeof(double)), *v = malloc(n * sizeof(double)), *u = malloc(n * sizeof(double));
    double smax = 0;
    for (int c = 0; c < p; c++) {
        double mu = 0;
        for (int i = 0; i < n; i++) mu += X[(size_t)i * p + c] / n;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) Kc[(size_t)i * n + k] += (X[(size_t)i * p + c] - mu) * (X[(size_t)k * p + c] - mu);
    }
    for (int i = 0; i < n; i++) v[i] = 1 + 0.01 * i;
    for (int it = 0; it < 500; it++) {
        double nn = 0;
        for (int i = 0; i < n; i++) {
            u[i] = 0;
            for (int k = 0; k < n; k++) u[i] += Kc[(size_t)i * n + k] * v[k];
            nn += u[i] * u[i];
        }
        nn = sqrt(nn);
        double vn = 0;
        for (int i = 0; i < n; i++) vn += v[i] * v[i];
        smax = nn / sqrt(vn);
        for (int i = 0; i < n; i++) v[i] = u[i] / nn;
    }
    free(Kc); free(v); free(u);
    double worst[3] = {0}, ratio = 0;
    for (int q = 1; q <= 2; q++)
        for (int g = 0; g < G; g++) {
            ridge_opts o;
            ridge_opts_default(&o);
            o.grid = alphas + g;
            o.ngrid = 1;
            o.precision = q;
            ridge_fit fit;
            CHECK(fit_rm(X, n, p, Y, m, &o, &fit) == 0, "ridge: %s", dt_lasterr());
            double e = 0;
            for (int j = 0; j < m; j++) {
                e = fmax(e, rel(fit.w + (size_t)j * p, coef + ((size_t)g * m + j) * p, p));
                e = fmax(e, fabs(fit.b[j] - icpt[g * m + j]) / (1 + fabs(icpt[g * m + j])));
            }
            worst[q] = fmax(worst[q], e);
            /* single: float rounding times the conditioning (1.5e-10 x it
             * on valgrind's kernels; a floor of a few 1e-6 on AVX-512) */
            double t = q == 1 ? 5e-5 + 1e-9 * (smax + alphas[g]) / alphas[g] : 1e-7;
            ratio = fmax(ratio, e / t);
            CHECK(e < t, "alpha %g (condition %.3g): weights (precision %d) differ from sklearn's Ridge by %.3g", alphas[g],
                  (smax + alphas[g]) / alphas[g], q, e);
            ridge_fit_free(&fit);
        }
    ridge_opts o;
    ridge_opts_default(&o);
    o.grid = alphas;
    o.ngrid = G;
    o.nfolds = 0;
    ridge_fit fit;
    CHECK(fit_rm(X, n, p, Y, m, &o, &fit) == 0, "ridge: %s", dt_lasterr());
    int same = 0;
    for (int j = 0; j < m; j++) same += fit.lambda[j] == chosen[j];
    CHECK(same == m, "GCV chose the same alpha as RidgeCV for %d of %d targets", same, m);
    printf("  sklearn: Ridge weights within %.1e (double), %.1e (single; at most %.2f of its tolerance) over %d alphas; RidgeCV's "
           "alpha chosen for %d/%d targets\n", worst[2], worst[1], ratio, G, same, m);
    ridge_fit_free(&fit);
    free(X); free(Y); free(alphas); free(coef); free(icpt); free(chosen);
}

/* A bootstrap refit at fixed lambdas equals the closed form on the rows
 * repeated as often as they were drawn; a NaN lambda gives zero weights. */
static void test_refit(int n, int p, int stdz)
{
    int m = 3;
    float *X = malloc((size_t)n * p * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *w = malloc(p * sizeof(double)), b;
    double *W = malloc((size_t)m * p * sizeof(double)), *B = malloc(m * sizeof(double)), lam[3] = {0.5, 20, NAN};
    int *counts = calloc(n, sizeof(int)), *sel = malloc(n * sizeof(int));
    make_problem(X, Y, n, p, m);
    for (int t = 0; t < n; t++) {
        int i = (int)(urand() * n);
        counts[i]++;
    }
    int cnt = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < counts[i]; c++) sel[cnt++] = i;
    float *Xt = transpose(X, n, p);
    CHECK(ridge_refit(Xt, n, p, Y, m, counts, lam, stdz, W, B) == 0, "refit: %s", dt_lasterr());
    double worst = 0;
    for (int j = 0; j < 2; j++) {
        closed_form(X, p, Y, m, j, sel, cnt, lam[j], stdz, w, &b);
        worst = fmax(worst, rel(W + (size_t)j * p, w, p));
        CHECK(fabs(B[j] - b) <= 1e-8 * (1 + fabs(b)), "refit intercept %.12g vs %.12g", B[j], b);
    }
    double z = 0;
    for (int c = 0; c < p; c++) z = fmax(z, fabs(W[(size_t)2 * p + c]));
    CHECK(worst < 1e-8 && z == 0, "bootstrap refit: weights differ from the closed form on the resample by %.3g (NaN lambda: %g)", worst, z);
    printf("  %-6s n=%3d p=%3d standardize=%d: bootstrap refit vs closed form on the resample %.1e\n", p >= n ? "dual" : "primal", n, p,
           stdz, worst);
    free(X); free(Y); free(w); free(W); free(B); free(counts); free(sel); free(Xt);
}

int main(void)
{
    h5_quiet();
    for (int q = 1; q <= 2; q++) {  /* precision: the single path applies to the dual, unstandardised K-fold fits */
        test_closed_form(30, 80, 0, q); /* dual */
        test_closed_form(30, 80, 1, q);
        test_closed_form(90, 12, 0, q); /* primal */
        test_closed_form(90, 12, 1, q);
        test_cv(40, 70, 5, 0, q);       /* one decomposition for all folds */
        test_cv(40, 70, 5, 1, q);       /* a decomposition per fold */
        test_cv(60, 9, 5, 0, q);
        test_cv(60, 9, 5, 1, q);
    }
    test_cv(25, 40, 0, 0, 2);
    test_cv(30, 6, 0, 0, 2);
    test_refit(30, 50, 0);
    test_refit(30, 50, 1);
    test_refit(60, 8, 0);
    test_nan();
    test_single_nan();
    test_sklearn();
    return th_summary("test_ridge");
}
