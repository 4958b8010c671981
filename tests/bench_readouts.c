/* bench_readouts.c — the readout solvers on the synthetic benchmark problem
 * of scripts/make-readout-bench.py (4000 stimuli x 32448 features, 71
 * neurons, sparse truth plus noise), as `make bench` runs them beside
 * scikit-learn's RidgeCV and glmnet's cv.glmnet.
 *
 *   bench_readouts DIR ridge|lasso [--threads T] [--neurons K]
 *
 * Reads X.f32, Y.f64, test.u8 from DIR; fits on the training stimuli (ridge:
 * 5-fold CV over 20 lambdas per neuron; Lasso: 5-fold CV over a 100-lambda
 * path per neuron, standardized as glmnet's default), predicts the test
 * stimuli, and prints one JSON line: wall seconds of the fit, median test r,
 * per-neuron r, peak resident memory and the size of the feature matrix. */
#include "lasso.h"
#include "metrics.h"
#include "ridge.h"
#include "util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bench_readouts DIR ridge|lasso [--threads T] [--neurons K] [--precision single|double]\n"); return 2; }
    const char *dir = argv[1], *method = argv[2], *precision = "single";
    int threads = 2, neurons = 0;
    for (int a = 3; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--threads")) threads = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--neurons")) neurons = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--precision")) precision = argv[a + 1];
    }
    openblas_set_num_threads(threads);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    int n, p, m;
    if (!f || fscanf(f, "%d %d %d", &n, &p, &m) != 3) { fprintf(stderr, "error: %s: cannot read; run scripts/make-readout-bench.py\n", path); return 1; }
    fclose(f);
    uint8_t *test = malloc((size_t)n);
    double *Y = malloc((size_t)n * m * sizeof(double));
    snprintf(path, sizeof path, "%s/test.u8", dir);
    f = fopen(path, "rb");
    if (!f || fread(test, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "error: %s: cannot read\n", path); return 1; }
    fclose(f);
    snprintf(path, sizeof path, "%s/Y.f64", dir);
    f = fopen(path, "rb");
    if (!f || fread(Y, sizeof(double), (size_t)n * m, f) != (size_t)n * m) { fprintf(stderr, "error: %s: cannot read\n", path); return 1; }
    fclose(f);
    int ntr = 0, nte = 0;
    for (int i = 0; i < n; i++) {
        if (test[i]) nte++;
        else ntr++;
    }
    int mm = neurons > 0 && neurons < m ? neurons : m;
    /* training features feature-major, test features row-major, read a
     * block of stimuli at a time (as deeptune fit does) */
    float *Xt = malloc((size_t)p * ntr * sizeof(float)), *Xte = malloc((size_t)nte * p * sizeof(float));
    float *buf = malloc((size_t)64 * p * sizeof(float));
    double *Ytr = malloc((size_t)ntr * mm * sizeof(double)), *Yte = malloc((size_t)nte * mm * sizeof(double));
    snprintf(path, sizeof path, "%s/X.f32", dir);
    f = fopen(path, "rb");
    if (!f || !Xt || !Xte || !buf) { fprintf(stderr, "error: %s: cannot read\n", path); return 1; }
    for (int i0 = 0, t = 0, v = 0; i0 < n; i0 += 64) {
        int cnt = n - i0 < 64 ? n - i0 : 64;
        if (fread(buf, sizeof(float), (size_t)cnt * p, f) != (size_t)cnt * p) { fprintf(stderr, "error: %s: short\n", path); return 1; }
        for (int i = 0; i < cnt; i++) {
            int s = i0 + i;
            if (test[s]) {
                memcpy(Xte + (size_t)v * p, buf + (size_t)i * p, (size_t)p * sizeof(float));
                for (int j = 0; j < mm; j++) Yte[(size_t)v * mm + j] = Y[(size_t)s * m + j];
                v++;
            } else {
                for (int c = 0; c < p; c++) Xt[(size_t)c * ntr + t] = buf[(size_t)i * p + c];
                for (int j = 0; j < mm; j++) Ytr[(size_t)t * mm + j] = Y[(size_t)s * m + j];
                t++;
            }
        }
    }
    fclose(f);
    free(buf);
    double *W, *b, t0 = now(), secs;
    ridge_fit rf;
    lasso_fit lf;
    int nl = 0, nnz_med = 0;
    if (!strcmp(method, "ridge")) {
        ridge_opts o;
        ridge_opts_default(&o);
        o.precision = strcmp(precision, "double") ? 1 : 2;
        if (ridge_fit_cv(Xt, ntr, p, Ytr, mm, &o, &rf)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 1; }
        W = rf.w, b = rf.b, nl = o.ngrid;
    } else {
        lasso_opts o;
        lasso_opts_default(&o);
        o.standardize = 1;
        o.nthreads = threads;
        if (lasso_fit_cv(Xt, ntr, p, Ytr, mm, &o, &lf)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 1; }
        W = lf.w, b = lf.b, nl = o.nlambda;
        int *z = malloc((size_t)mm * sizeof(int));
        for (int j = 0; j < mm; j++) z[j] = lf.nnz[j];
        for (int a = 1; a < mm; a++)
            for (int c = a; c > 0 && z[c - 1] > z[c]; c--) { int t = z[c]; z[c] = z[c - 1]; z[c - 1] = t; }
        nnz_med = z[mm / 2];
        free(z);
    }
    secs = now() - t0;
    /* held-out r */
    double *r = malloc((size_t)mm * sizeof(double)), *yh = malloc((size_t)nte * sizeof(double)), *rs = malloc((size_t)mm * sizeof(double));
    for (int j = 0; j < mm; j++) {
        for (int i = 0; i < nte; i++) {
            double s = b[j];
            for (int c = 0; c < p; c++) s += W[(size_t)j * p + c] * Xte[(size_t)i * p + c];
            yh[i] = s;
        }
        double r2;
        score_r_r2(Yte + j, mm, yh, nte, &r[j], &r2);
        rs[j] = r[j];
    }
    qsort(rs, (size_t)mm, sizeof(double), cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"peer\": \"deeptune %s\", \"precision\": \"%s\", \"seconds\": %.2f, \"neurons\": %d, \"lambdas\": %d, \"median_r\": %.5f, ", method,
           strcmp(method, "ridge") ? "mixed" : precision, secs, mm, nl,
           mm % 2 ? rs[mm / 2] : 0.5 * (rs[mm / 2 - 1] + rs[mm / 2]));
    if (nnz_med) printf("\"median_nonzero\": %d, ", nnz_med);
    printf("\"r\": [");
    for (int j = 0; j < mm; j++) printf("%s%.5f", j ? ", " : "", r[j]);
    printf("], \"peak_rss_mb\": %.1f, \"x_mb\": %.1f}\n", (double)ru.ru_maxrss / 1024, (double)n * p * sizeof(float) / 1048576.0);
    if (!strcmp(method, "ridge")) ridge_fit_free(&rf);
    else lasso_fit_free(&lf);
    free(Xt); free(Xte); free(Y); free(Ytr); free(Yte); free(test); free(r); free(yh); free(rs);
    return 0;
}
