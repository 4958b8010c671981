/* bench_cnn.c — the CNN engine's side of `make bench` (scripts/bench runs it
 * next to scripts/bench-torch.py and prints the ratios):
 *   features_pool5 / features_pool2   images/s through AlexNet-BVLC, batch 64, 227x227
 *   grad1_pool2                       forward + input gradient of one image at pool2, steps/s
 *   grad18_pool2                      the same with 18 upstream gradients at once, steps/s
 *   sgemm_peak                        OpenBLAS SGEMM on 4096^3, GFLOP/s
 * Output lines: "deeptune <key> <value> <unit>", comments start with '#'.
 *
 *   bench_cnn WEIGHTS.h5 [--threads T] [--seconds S] [--lanes L] [--quick] */
#include "net.h"
#include "runner.h"
#include "util.h"

#include <cblas.h>
#include <h5io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Median of per-iteration rates (work / seconds), like scripts/bench-torch.py:
 * robust to a burst of other activity during one iteration. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define MAXIT 100000
static double rates[MAXIT];

static float *images;
static size_t img_size;

static int prep(void *ctx, size_t i, float *input, int K, int k)
{
    (void)ctx;
    size_t plane = img_size / 3;
    for (int c = 0; c < 3; c++) memcpy(input + ((size_t)c * K + k) * plane, images + i * img_size + c * plane, plane * sizeof(float));
    return 0;
}

static void coll(void *ctx, size_t i, const dt_state *st, int k)
{
    (void)ctx; (void)i; (void)st; (void)k;
}

static double bench_features(dt_net *net, int t, int threads, int lanes, double secs, int batch)
{
    uint8_t *need = calloc((size_t)net->n, 1);
    net_ancestors(net, t, need);
    dt_runner r;
    if (runner_init(&r, net, need, threads, lanes)) { fprintf(stderr, "error: %s\n", dt_lasterr()); exit(1); }
    runner_forward(&r, (size_t)batch, prep, coll, NULL); /* warm-up */
    runner_forward(&r, (size_t)batch, prep, coll, NULL);
    double t0 = now(), t1 = t0;
    int it = 0;
    do {
        double a = now();
        runner_forward(&r, (size_t)batch, prep, coll, NULL);
        t1 = now();
        rates[it++] = batch / (t1 - a);
    } while ((t1 - t0 < secs || it < 3) && it < MAXIT);
    runner_free(&r);
    free(need);
    return median(rates, it);
}

static double bench_grad(dt_net *net, int t, int threads, int K, double secs)
{
    uint8_t *need = calloc((size_t)net->n, 1);
    net_ancestors(net, t, need);
    dt_state st;
    dt_gradws ws;
    gradws_init(&ws);
    state_alloc(&st, net, 1, need);
    const dt_layer *l = &net->L[t];
    size_t per = (size_t)l->c * l->h * l->w;
    float *up = malloc(per * (size_t)K * sizeof(float)), *din = malloc(img_size * (size_t)K * sizeof(float));
    for (size_t i = 0; i < per * (size_t)K; i++) up[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1;
    /* one image: our threads split the work (lanes, or each convolution);
     * BLAS runs single-threaded inside them */
    openblas_set_num_threads(1);
    st.nthreads = threads;
    ws.nthreads = threads;
    int it = -2; /* two warm-up steps */
    double t0 = now(), t1 = t0;
    do {
        double a = now();
        if (net_forward(net, &st, images) || net_backward(net, &st, t, up, K, din, &ws)) {
            fprintf(stderr, "error: %s\n", dt_lasterr());
            exit(1);
        }
        t1 = now();
        if (it >= 0) rates[it] = 1 / (t1 - a);
        if (++it == 0) t0 = t1;
    } while ((it < 3 || t1 - t0 < secs) && it < MAXIT);
    gradws_free(&ws, net);
    state_free(&st, net);
    free(up);
    free(din);
    free(need);
    return median(rates, it);
}

static double bench_sgemm(int threads, double secs)
{
    int n = 4096;
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float)), *c = malloc((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t0 = now(), t1;
    int reps = 0;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        reps++;
        t1 = now();
    } while (t1 - t0 < secs);
    free(a); free(b); free(c);
    return 2.0 * n * n * (double)n * reps / (t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    h5_quiet();
    if (argc < 2) { fprintf(stderr, "usage: bench_cnn WEIGHTS.h5 [--threads T] [--seconds S] [--lanes L] [--quick]\n"); return 2; }
    int threads = 2, lanes = 8, quick = 0;
    const char *only = "";
    double secs = 3;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--lanes") && i + 1 < argc) lanes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    if (quick) secs = 0.3;
    dt_net net;
    if (net_parse(&net, net_builtin_text("alexnet-caffe"), "alexnet-caffe") || net_plan(&net, 227, 227) ||
        net_load_weights(&net, argv[1], net_find(&net, "pool5"))) {
        fprintf(stderr, "error: %s\n", dt_lasterr());
        return 1;
    }
    int batch = 64;
    img_size = (size_t)3 * 227 * 227;
    images = malloc(img_size * (size_t)batch * sizeof(float));
    for (size_t i = 0; i < img_size * (size_t)batch; i++) images[i] = (float)((i * 2246822519u) % 256) - 128;
    int p5 = net_find(&net, "pool5"), p2 = net_find(&net, "pool2");
    printf("# deeptune %s, %d threads, %d images per worker, at least %.1f s per measurement, median of per-iteration rates\n",
           DEEPTUNE_VERSION, threads, lanes, secs);
    if (*only) {
        double v = !strcmp(only, "grad1") ? bench_grad(&net, p2, threads, 1, secs)
                 : !strcmp(only, "grad18") ? bench_grad(&net, p2, threads, 18, secs)
                 : bench_features(&net, !strcmp(only, "features_pool2") ? p2 : p5, threads, lanes, secs, batch);
        printf("deeptune %s %.2f per s\n", only, v);
        return 0;
    }
    double peak = bench_sgemm(threads, quick ? 0.3 : 2);
    printf("deeptune sgemm_peak %.1f GFLOP/s\n", peak);
    double f5 = bench_features(&net, p5, threads, lanes, secs, batch);
    printf("deeptune features_pool5 %.1f images/s\n", f5);
    printf("# features_pool5: %.1f GFLOP/s (%.0f%% of the SGEMM peak)\n", f5 * 2 * net_macs(&net, p5) / 1e9,
           100 * f5 * 2 * net_macs(&net, p5) / 1e9 / peak);
    double f2 = bench_features(&net, p2, threads, lanes, secs, batch);
    printf("deeptune features_pool2 %.1f images/s\n", f2);
    printf("# features_pool2: %.1f GFLOP/s (%.0f%% of the SGEMM peak)\n", f2 * 2 * net_macs(&net, p2) / 1e9,
           100 * f2 * 2 * net_macs(&net, p2) / 1e9 / peak);
    double g1 = bench_grad(&net, p2, threads, 1, secs);
    printf("deeptune grad1_pool2 %.1f steps/s\n", g1);
    double g18 = bench_grad(&net, p2, threads, 18, secs);
    printf("deeptune grad18_pool2 %.1f steps/s\n", g18);
    /* forward MACs + input-gradient MACs (the same convolutions, transposed) per upstream gradient */
    double m2 = net_macs(&net, p2);
    printf("# grad1_pool2: %.1f GFLOP/s; grad18_pool2: %.1f GFLOP/s\n", g1 * 2 * 2 * m2 / 1e9, g18 * 2 * (m2 + 18 * m2) / 1e9);
    free(images);
    net_free(&net);
    return 0;
}
