/* bench_tune.c — DeepTune steps per second, through the same code as
 * `deeptune tune` (ensemble_eval + tune_consensus), for one neuron:
 *   consensus18_pool2  a consensus step of 18 models reading AlexNet-BVLC
 *                      pool2 (random readouts): one forward, one batched
 *                      backward with 18 upstream gradients, the transpose of
 *                      the preprocessing for each, the minmod combination;
 *   single_pool2       a single-model step (forward + one gradient).
 * The stimulus is 227 x 227, the network's input, so the work matches
 * scripts/bench-torch.py's grad18_pool2 and grad1_pool2.
 *
 *   bench_tune WEIGHTS.h5 [--threads T] [--seconds S] [--count N]
 * --count N runs exactly N steps of each variant (for comparing builds by
 * CPU cycles with perf stat on a machine whose wall clock is shared). */
#include "ensemble.h"
#include "tuner.h"
#include "util.h"

#include <cblas.h>
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

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: bench_tune WEIGHTS.h5 [--threads T] [--seconds S] [--count N]\n"); return 2; }
    int threads = 2;
    double seconds = 3;
    int count = 0;
    for (int a = 2; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--threads")) threads = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--seconds")) seconds = atof(argv[a + 1]);
        else if (!strcmp(argv[a], "--count")) count = atoi(argv[a + 1]);
    }
    openblas_set_num_threads(1);
    const char *wpath = argv[1];
    enum { M = 18 };
    dt_ensemble e;
    memset(&e, 0, sizeof e);
    e.nthreads = threads;
    e.h = e.w = 227;
    e.c = 3;
    e.m = 1;
    e.nets = calloc(1, sizeof *e.nets);
    e.models = calloc(M, sizeof *e.models);
    if (!e.nets || !e.models) return 1;
    e.nnets = 1;
    ens_net *n = &e.nets[0];
    gradws_init(&n->ws);
    const char *sname = net_spec_for_arch("alexnet-caffe"), *spec = sname ? net_builtin_text(sname) : NULL;
    if (!spec || net_parse(&n->net, spec, "alexnet-caffe") || preproc_read(&n->pp, wpath) || net_plan(&n->net, 227, 227) ||
        net_load_weights(&n->net, wpath, -1)) {
        fprintf(stderr, "error: %s\n", dt_lasterr());
        return 1;
    }
    n->geom = GEOM_WHOLE;
    n->ih = n->iw = 227;
    n->ws.nthreads = threads;
    n->need = calloc((size_t)n->net.n, 1);
    int t = net_find(&n->net, "pool2");
    net_ancestors(&n->net, t, n->need);
    const dt_layer *l = &n->net.L[t];
    int P = l->c * l->h * l->w;
    uint64_t s = 7;
    for (int i = 0; i < M; i++) {
        ens_model *m = &e.models[i];
        m->net = 0; m->layer = t; m->P = P; m->m = 1;
        m->W = malloc((size_t)P * sizeof(float));
        m->Wd = malloc((size_t)P * sizeof(double));
        m->b = calloc(1, sizeof(double));
        for (int q = 0; q < P; q++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            m->Wd[q] = m->W[q] = (float)((double)(s >> 11) * 0x1.0p-53 - 0.5) * 1e-3f;
        }
    }
    e.nmodels = M;
    size_t px = (size_t)227 * 227 * 3;
    float *x = malloc(px * sizeof(float)), *g = malloc(M * px * sizeof(float)), *d = malloc(px * sizeof(float));
    double vals[M];
    int sel[M];
    for (int i = 0; i < M; i++) sel[i] = i;
    for (size_t i = 0; i < px; i++) x[i] = (float)(i % 251);
    for (int variant = 0; variant < 2; variant++) {
        double rates[10000];
        int nr = 0;
        for (int w = 0; w < 2; w++) /* warm-up */
            if (variant ? ensemble_eval(&e, 0, sel, 1, x, 1, 3, 1, vals, g) : ensemble_eval(&e, 0, sel, M, x, 1, 3, 0, vals, g)) {
                fprintf(stderr, "error: %s\n", dt_lasterr());
                return 1;
            }
        double t0 = now();
        while (count > 0 ? nr < count && nr < 10000 : (now() - t0 < seconds || nr < 3) && nr < 10000) {
            double a = now();
            if (variant) ensemble_eval(&e, 0, sel, 1, x, 1, 3, 1, vals, g);
            else {
                ensemble_eval(&e, 0, sel, M, x, 1, 3, 0, vals, g);
                tune_consensus_par(g, M, px, RULE_MINMOD, d, NULL, threads);
            }
            rates[nr++] = 1 / (now() - a);
        }
        qsort(rates, (size_t)nr, sizeof *rates, cmpd);
        /* the median; the 90th percentile of the rates, less moved by load
         * from elsewhere, helps compare builds */
        printf("deeptune %s %.2f steps/s (90th percentile %.2f)\n", variant ? "single_pool2" : "consensus18_pool2", rates[nr / 2],
               rates[nr * 9 / 10]);
    }
    ensemble_free(&e);
    free(x); free(g); free(d);
    return 0;
}
