/* test_lasso.c — Lasso and elastic net against glmnet (fixtures by
 * scripts/make-lasso-fixtures.R) on the same lambda path: objective values
 * to 1e-6 relative and the same supports; the KKT conditions at every
 * returned solution; cross-validation bookkeeping; bad options. */
#include "harness.h"
#include "array.h"
#include "lasso.h"
#include "util.h"

#include <string.h>

#define FIX "tests/fixtures/lasso/"

/* glmnet's objective: 1/(2n) RSS + lambda (alpha |w|_1 + (1-alpha)/2 |w|^2) */
static double objective(const float *X, int n, int p, const double *y, const double *w, double b, double lam, double alpha)
{
    double rss = 0, l1 = 0, l2 = 0;
    for (int i = 0; i < n; i++) {
        double s = b;
        for (int j = 0; j < p; j++) s += X[(size_t)i * p + j] * w[j];
        rss += (y[i] - s) * (y[i] - s);
    }
    for (int j = 0; j < p; j++) { l1 += fabs(w[j]); l2 += w[j] * w[j]; }
    return rss / (2.0 * n) + lam * (alpha * l1 + (1 - alpha) / 2 * l2);
}

/* The solver stops when no coordinate step changes the objective by more
 * than tol var(y): each remaining step is |dw_j| < sqrt(tol var(y) / v_j),
 * which moves the gradient by v_j |dw_j| < sqrt(tol var(y) max v_j).  KKT
 * must hold to a few times that. */
static double kkt_bound(const float *X, int n, int p, const double *y, double tol)
{
    double my = 0, vy = 0, vmax = 0;
    for (int i = 0; i < n; i++) my += y[i] / n;
    for (int i = 0; i < n; i++) vy += (y[i] - my) * (y[i] - my) / n;
    for (int j = 0; j < p; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++) m += X[(size_t)i * p + j] / n;
        for (int i = 0; i < n; i++) v += (X[(size_t)i * p + j] - m) * (X[(size_t)i * p + j] - m) / n;
        vmax = fmax(vmax, v);
    }
    return 10 * sqrt(tol * vy * vmax);
}

/* The API takes features feature-major (p, n). */
static float *transpose(const float *X, int n, int p)
{
    float *Xt = malloc((size_t)n * p * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < p; c++) Xt[(size_t)c * n + i] = X[(size_t)i * p + c];
    return Xt;
}

static uint64_t rs = 88172645463325252ull;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1.0p-53;
}

static void against_glmnet(const char *tag, double alpha, const float *X, const float *Xt, int n, int p, const double *y)
{
    char path[256];
    dt_array lam, beta, a0;
    snprintf(path, sizeof path, FIX "lambda_%s.csv", tag);
    CHECK(csv_read(path, &lam) == 0, "%s", dt_lasterr());
    snprintf(path, sizeof path, FIX "beta_%s.csv", tag);
    CHECK(csv_read(path, &beta) == 0, "%s", dt_lasterr());
    snprintf(path, sizeof path, FIX "a0_%s.csv", tag);
    CHECK(csv_read(path, &a0) == 0, "%s", dt_lasterr());
    int nl = (int)lam.dim[0];
    lasso_opts o;
    lasso_opts_default(&o);
    o.alpha = alpha;
    o.path = lam.v;
    o.nlambda = nl;
    o.nfolds = 0;
    o.tol = 1e-14;
    lasso_fit f;
    CHECK(lasso_fit_cv(Xt, n, p, y, 1, &o, &f) == 0, "lasso: %s", dt_lasterr());
    double worst_obj = 0, worst_kkt = 0;
    int support_diff = 0;
    for (int k = 0; k < nl; k++) {
        const double *w = f.wpath + (size_t)k * p, *wg = beta.v + (size_t)k * p;
        double ours = objective(X, n, p, y, w, f.bpath[k], lam.v[k], alpha);
        double theirs = objective(X, n, p, y, wg, a0.v[k], lam.v[k], alpha);
        worst_obj = fmax(worst_obj, fabs(ours - theirs) / theirs);
        for (int j = 0; j < p; j++) support_diff += (w[j] != 0) != (wg[j] != 0);
        worst_kkt = fmax(worst_kkt, lasso_kkt(Xt, n, p, y, w, f.bpath[k], lam.v[k], alpha, 0));
    }
    CHECK(worst_obj < 1e-6, "%s: objective differs from glmnet's by %.3g (relative)", tag, worst_obj);
    CHECK(support_diff == 0, "%s: %d coefficients differ in being zero", tag, support_diff);
    /* KKT to the precision the stopping rule implies (kkt_bound) */
    CHECK(worst_kkt < kkt_bound(X, n, p, y, o.tol), "%s: KKT violated by %.3g (bound %.3g)", tag, worst_kkt,
          kkt_bound(X, n, p, y, o.tol));
    printf("  %-5s alpha=%.1f: %d lambdas, objective vs glmnet %.1e, same supports, KKT violation %.1e\n", tag, alpha, nl,
           worst_obj, worst_kkt);
    lasso_fit_free(&f);
    dt_array_free(&lam);
    dt_array_free(&beta);
    dt_array_free(&a0);
}

/* Many more features than stimuli, with large feature means (as CNN
 * features have): the gradients of the screened-out features come from a
 * float GEMM, so this is where a rounding error could hide a KKT violation.
 * Every solution along the path must satisfy KKT in double, for the Lasso
 * and the elastic net, standardized or not, with NaN and constant neurons
 * among the fitted ones. */
static void test_wide(void)
{
    int n = 150, p = 4000, m = 4, nl = 30;
    float *Xt = malloc((size_t)p * n * sizeof(float));
    double *Y = malloc((size_t)n * m * sizeof(double)), *y = malloc(n * sizeof(double));
    for (int c = 0; c < p; c++)
        for (int i = 0; i < n; i++) Xt[(size_t)c * n + i] = (float)(20 + 3 * (c % 7) + (urand() < 0.4 ? 0 : 10 * urand()));
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < 15; c++) s += (c % 2 ? 1 : -1) * Xt[(size_t)(c * 97) * n + i];
        Y[i * m] = s + 20 * (urand() - 0.5);
        Y[i * m + 1] = i % 5 == 0 ? NAN : -s + 40 * (urand() - 0.5);
        Y[i * m + 2] = 3;
        Y[i * m + 3] = 0.5 * s + 10 * (urand() - 0.5);
    }
    for (int stdz = 0; stdz < 2; stdz++)
        for (int a = 0; a < 2; a++) {
            lasso_opts o;
            lasso_opts_default(&o);
            o.alpha = a ? 0.5 : 1;
            o.nlambda = nl;
            o.nfolds = 0;
            o.standardize = stdz;
            o.nthreads = 2;
            o.tol = 1e-12;
            lasso_fit f;
            CHECK(lasso_fit_cv(Xt, n, p, Y, m, &o, &f) == 0, "wide: %s", dt_lasterr());
            double worst = 0, bound = 0;
            int nnz = 0;
            for (int j = 0; j < m; j++) {
                if (j == 2) {
                    CHECK(f.status[2] == 2 && f.b[2] == 3, "constant neuron: status %d, intercept %g", f.status[2], f.b[2]);
                    continue;
                }
                /* the recorded rows of this neuron */
                int k = 0;
                float *Xs = malloc((size_t)p * n * sizeof(float));
                for (int i = 0; i < n; i++)
                    if (!isnan(Y[i * m + j])) {
                        y[k] = Y[i * m + j];
                        for (int c = 0; c < p; c++) Xs[(size_t)c * n + k] = Xt[(size_t)c * n + i];
                        k++;
                    }
                for (int c = 0; c < p; c++) memmove(Xs + (size_t)c * k, Xs + (size_t)c * n, k * sizeof(float));
                float *Xr = malloc((size_t)k * p * sizeof(float));
                for (int i = 0; i < k; i++)
                    for (int c = 0; c < p; c++) Xr[(size_t)i * p + c] = Xs[(size_t)c * k + i];
                bound = fmax(bound, kkt_bound(Xr, k, p, y, o.tol));
                for (int l = 0; l < nl; l++) {
                    const double *w = f.wpath + ((size_t)j * nl + l) * p;
                    worst = fmax(worst, lasso_kkt(Xs, k, p, y, w, f.bpath[(size_t)j * nl + l], f.path[(size_t)j * nl + l], o.alpha, stdz));
                    if (l == nl - 1)
                        for (int c = 0; c < p; c++) nnz += w[c] != 0;
                }
                free(Xs);
                free(Xr);
            }
            CHECK(worst < bound, "wide alpha=%g standardize=%d: KKT violated by %.3g (bound %.3g)", o.alpha, stdz, worst, bound);
            printf("  wide n=%d p=%d alpha=%.1f standardize=%d: %d lambdas x 3 neurons, KKT violation %.1e (bound %.1e), %d non-zero at the end\n",
                   n, p, o.alpha, stdz, nl, worst, bound, nnz);
            lasso_fit_free(&f);
        }
    free(Xt); free(Y); free(y);
}

/* A bootstrap refit (observation counts) equals the fit on the rows
 * repeated as often as they were drawn, along the same path. */
static void test_refit(const float *X, int n, int p, const double *y)
{
    int *counts = calloc(n, sizeof(int)), tot = 0, nl = 15, stop = 12;
    for (int t = 0; t < n; t++) counts[(int)(urand() * n)]++;
    for (int i = 0; i < n; i++) tot += counts[i];
    float *Xd = malloc((size_t)tot * p * sizeof(float));
    double *yd = malloc(tot * sizeof(double)), *W = malloc(p * sizeof(double)), b;
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < counts[i]; c++, k++) {
            memcpy(Xd + (size_t)k * p, X + (size_t)i * p, p * sizeof(float));
            yd[k] = y[i];
        }
    float *Xdt = transpose(Xd, tot, p), *Xt = transpose(X, n, p);
    lasso_opts o;
    lasso_opts_default(&o);
    o.nlambda = nl;
    o.nfolds = 0;
    o.tol = 1e-14;
    lasso_fit f;
    CHECK(lasso_fit_cv(Xdt, tot, p, yd, 1, &o, &f) == 0, "%s", dt_lasterr());
    CHECK(lasso_refit(Xt, n, p, y, 1, counts, f.path, nl, &stop, &o, W, &b) == 0, "refit: %s", dt_lasterr());
    double worst = fabs(b - f.bpath[stop]), s = 0;
    for (int c = 0; c < p; c++) {
        worst = fmax(worst, fabs(W[c] - f.wpath[(size_t)stop * p + c]));
        s = fmax(s, fabs(W[c]));
    }
    CHECK(worst < 1e-6 * (1 + s), "bootstrap refit differs from the fit on repeated rows by %.3g", worst);
    printf("  bootstrap refit (counts as weights) vs repeated rows: %.1e\n", worst);
    lasso_fit_free(&f);
    free(counts); free(Xd); free(yd); free(W); free(Xdt); free(Xt);
}

int main(void)
{
    dt_array xa, ya;
    CHECK(csv_read(FIX "X.csv", &xa) == 0 && csv_read(FIX "y.csv", &ya) == 0, "fixtures: %s", dt_lasterr());
    int n = (int)xa.dim[0], p = (int)xa.dim[1];
    float *X = malloc((size_t)n * p * sizeof(float));
    for (size_t i = 0; i < (size_t)n * p; i++) X[i] = (float)xa.v[i]; /* 4 decimals: glmnet saw the same values */
    /* glmnet read the doubles; the floats differ by < 1e-8 relative, far below the 1e-6 objective tolerance */
    float *Xt = transpose(X, n, p);
    against_glmnet("lasso", 1, X, Xt, n, p, ya.v);
    against_glmnet("enet", 0.5, X, Xt, n, p, ya.v);
    test_wide();
    test_refit(X, n, p, ya.v);

    /* CV: the default path, the minimum rule and the one-SE rule; the
     * chosen solution satisfies KKT; with one-SE, a larger lambda */
    lasso_opts o;
    lasso_opts_default(&o);
    o.nlambda = 40;
    o.tol = 1e-12;
    lasso_fit a, b;
    CHECK(lasso_fit_cv(Xt, n, p, ya.v, 1, &o, &a) == 0, "cv: %s", dt_lasterr());
    o.one_se = 1;
    CHECK(lasso_fit_cv(Xt, n, p, ya.v, 1, &o, &b) == 0, "cv 1se: %s", dt_lasterr());
    CHECK(b.lambda[0] >= a.lambda[0] && b.nnz[0] <= a.nnz[0], "one-SE: lambda %g >= %g, nnz %d <= %d", b.lambda[0], a.lambda[0],
          b.nnz[0], a.nnz[0]);
    double kkt = lasso_kkt(Xt, n, p, ya.v, a.w, a.b[0], a.lambda[0], 1, 0);
    CHECK(kkt < kkt_bound(X, n, p, ya.v, o.tol), "CV solution: KKT violated by %.3g", kkt);
    int best = 0;
    for (int k = 1; k < a.nl; k++)
        if (a.cv[k] < a.cv[best]) best = k;
    CHECK(a.lambda[0] == a.path[best], "the minimum rule picks the lambda with the smallest CV error");
    CHECK(a.path[0] > a.path[a.nl - 1] && fabs(a.path[a.nl - 1] / a.path[0] - 0.01) < 1e-12, "default path: ratio 0.01 when p > n");
    printf("  CV: lambda %.4g (%d non-zero), one-SE lambda %.4g (%d non-zero)\n", a.lambda[0], a.nnz[0], b.lambda[0], b.nnz[0]);
    lasso_fit_free(&a);
    lasso_fit_free(&b);
    /* neurons fitted on two threads give exactly the serial results */
    {
        double *Y3 = malloc((size_t)n * 3 * sizeof(double));
        for (int i = 0; i < n; i++) {
            Y3[i * 3] = ya.v[i];
            Y3[i * 3 + 1] = 2 * ya.v[i] + X[(size_t)i * p] ;
            Y3[i * 3 + 2] = -ya.v[i];
        }
        lasso_opts_default(&o);
        o.nlambda = 20;
        lasso_fit s1, s2;
        CHECK(lasso_fit_cv(Xt, n, p, Y3, 3, &o, &s1) == 0, "%s", dt_lasterr());
        o.nthreads = 2;
        CHECK(lasso_fit_cv(Xt, n, p, Y3, 3, &o, &s2) == 0, "%s", dt_lasterr());
        CHECK(!memcmp(s1.w, s2.w, (size_t)3 * p * sizeof(double)) && !memcmp(s1.cv, s2.cv, (size_t)3 * 20 * sizeof(double)) &&
                  !memcmp(s1.lambda, s2.lambda, 3 * sizeof(double)),
              "threaded Lasso differs from serial");
        lasso_fit_free(&s1);
        lasso_fit_free(&s2);
        /* a neuron that fails inside a fold, on a worker thread, fails the
         * whole fit with the worker's message and leaves nothing allocated
         * (the sanitizer build checks the leaks) */
        o.maxit = 1;
        o.tol = 1e-14;
        CHECK(lasso_fit_cv(Xt, n, p, Y3, 3, &o, &s1) != 0 && strstr(dt_lasterr(), "did not converge in 1 sweeps"), "maxit 1: %s",
              dt_lasterr());
        CHECK(!s1.w && !s1.cv && !s1.status, "a failed fit leaves its result empty");
        lasso_fit_free(&s1); /* and freeing it again is safe */
        o.maxit = 100000;
        o.tol = 1e-7;
        free(Y3);
        o.nthreads = 1;
    }
    /* bad options */
    double bad[2] = {0.1, 0.5};
    o.path = bad;
    o.nlambda = 2;
    CHECK(lasso_fit_cv(Xt, n, p, ya.v, 1, &o, &a) != 0 && strstr(dt_lasterr(), "strictly decreasing"), "%s", dt_lasterr());
    o.path = NULL;
    o.alpha = 0;
    CHECK(lasso_fit_cv(Xt, n, p, ya.v, 1, &o, &a) != 0 && strstr(dt_lasterr(), "(0, 1]"), "%s", dt_lasterr());
    free(X);
    free(Xt);
    dt_array_free(&xa);
    dt_array_free(&ya);
    return th_summary("test_lasso");
}
