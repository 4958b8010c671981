/* bench_cluster.c — hierarchical clustering from raw vectors, as `make
 * bench` runs it beside SciPy and fastcluster (scripts/bench-cluster).
 *
 *   bench_cluster X.h5 average|ward|complete|single single|double [--save-z FILE]
 *
 * Reads X (n, d) float32 from X.h5, computes the Euclidean distances (Gram
 * matrix through SGEMM or DGEMM) and the linkage, and prints one line:
 * "deeptune cluster_<method>_<precision> <seconds> s pdist=<s> linkage=<s>
 * peak_mb=<MB>".  The threads are OpenBLAS's (OPENBLAS_NUM_THREADS).
 * --save-z writes Z (n-1, 4) as raw float64 for comparison with SciPy's. */
#include "h5io.h"
#include "hclust.h"
#include "util.h"

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

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: bench_cluster X.h5 METHOD single|double [--save-z FILE]\n"); return 2; }
    int method = hc_method_parse(argv[2]), prec = !strcmp(argv[3], "double") ? 2 : 1;
    const char *save = argc > 5 && !strcmp(argv[4], "--save-z") ? argv[5] : NULL;
    if (method < 0) { fprintf(stderr, "unknown method %s\n", argv[2]); return 2; }
    h5_quiet();
    hid_t f = h5_open_ro(argv[1]);
    int rank;
    hsize_t d[4];
    if (f < 0 || h5_shape(f, "X", &rank, d, NULL, NULL) || rank != 2) { fprintf(stderr, "%s: no X (n, d)\n", argv[1]); return 1; }
    size_t n = (size_t)d[0], p = (size_t)d[1];
    float *X = malloc(n * p * sizeof *X);
    double *D = malloc(n * (n - 1) / 2 * sizeof *D), *Z = malloc(4 * (n - 1) * sizeof *Z);
    if (!X || !D || !Z || h5_read(f, "X", H5T_NATIVE_FLOAT, X)) { fprintf(stderr, "%s: cannot read X\n", argv[1]); return 1; }
    H5Fclose(f);
    double t0 = now();
    if (hc_pdist(X, n, p, HC_EUCLIDEAN, prec, D)) { fprintf(stderr, "pdist: %s\n", dt_lasterr()); return 1; }
    double t1 = now();
    if (hc_linkage(D, n, method, Z)) { fprintf(stderr, "linkage: %s\n", dt_lasterr()); return 1; }
    double t2 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("deeptune cluster_%s_%s %.4f s pdist=%.4f linkage=%.4f peak_mb=%.1f n=%zu d=%zu\n", argv[2], argv[3], t2 - t0, t1 - t0,
           t2 - t1, ru.ru_maxrss / 1024.0, n, p);
    if (save) {
        FILE *fp = fopen(save, "wb");
        if (!fp || fwrite(Z, sizeof *Z, 4 * (n - 1), fp) != 4 * (n - 1) || fclose(fp)) { fprintf(stderr, "%s: cannot write\n", save); return 1; }
    }
    free(X); free(D); free(Z);
    return 0;
}
