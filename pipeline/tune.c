/* tune.c — `deeptune tune`: DeepTune images of neurons, single-model and
 * consensus, from fitted readouts (format of tune.h5 in docs/formats.md).
 *
 * Data flow: the models are loaded from the readouts files (ensemble.c
 * checks every recorded input by sha256), the neurons are tuned one after
 * another (tuner.c; each step runs the networks on threads), and every
 * result goes into a temporary tune.h5 that replaces the output only once
 * complete; PNGs likewise go to a temporary directory renamed at the end. */
#define _XOPEN_SOURCE 700
#include "dataset.h"
#include "ensemble.h"
#include "h5io.h"
#include "image.h"
#include "stages.h"
#include "tuner.h"
#include "util.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TUNE_FORMAT "deeptune-tune"
#define TUNE_VERSION 1

/* Neurons on threads: worker w tunes jobs w, w + W, ... of a batch with its
 * own view of the ensemble; errors (thread-local) are carried back. */
typedef struct {
    dt_ensemble *wk;            /* (W) worker ensembles */
    const int *jobs;            /* (nb) neurons of this batch */
    int nb;
    const int *mods;
    int M;
    const tune_opts *o;
    const float *nat;           /* (nb, K, h, w, c) natural inits, or NULL */
    size_t natlen;
    tune_result *res;           /* (nb) */
    int *rc;                    /* (nb) */
    char (*err)[512];           /* (nb) */
    int W;
} tune_batch;

static void tune_worker(void *ctx, int w)
{
    tune_batch *b = ctx;
    for (int q = w; q < b->nb; q += b->W) {
        b->rc[q] = tune_neuron(&b->wk[w], b->jobs[q], b->mods, b->M, b->o, b->nat ? b->nat + (size_t)q * b->natlen : NULL, &b->res[q]);
        if (b->rc[q]) snprintf(b->err[q], sizeof b->err[q], "neuron %d: %s", b->jobs[q], dt_lasterr());
    }
}

static void usage(FILE *fp)
{
    tune_opts d;
    tune_opts_default(&d);
    fprintf(fp,
            "usage: deeptune tune -m READOUTS.h5[,MORE.h5] --neurons LIST|all -o TUNE.h5 [options]\n"
            "\n"
            "DeepTune images: gradient ascent on the stimulus pixels to maximise each model's\n"
            "predicted response (single-model), and all models' at once (consensus: each\n"
            "pixel moves by the element-wise minimum of the models' absolute gradients).\n"
            "\n"
            "  -m, --readouts FILES     readouts files from 'deeptune fit' (comma-separated)\n"
            "      --models NAMES       models to use (comma-separated), or all (with bootstrap\n"
            "                           refits) [every model that is not a bootstrap refit]\n"
            "      --neurons LIST       neuron indices (0-based; 3,5,7-9) or all\n"
            "      --min-r R            only neurons whose held-out r is at least R under\n"
            "                           every model [none]\n"
            "      --consensus RULE     minmod, mean or argmin (the sign of the step; see the\n"
            "                           README), or none for single-model runs only [minmod]\n"
            "      --no-single          consensus runs only\n"
            "      --inits K            initialisations per neuron [%d]\n"
            "      --init KIND          noise (seeded, around mid-gray), gray, or natural (the\n"
            "                           neuron's K best natural stimuli) [noise]\n"
            "      --init-sd SD         standard deviation of the initial noise (--init noise\n"
            "                           only), pixels [%g]\n"
            "      --steps S            gradient steps [%d]\n"
            "      --lr A[:B]           step size in pixels per unit-RMS step, from A to B [%g:%g]\n"
            "      --tv W[:BETA]        total variation weight and exponent [%g:%g]\n"
            "      --lp W[:P]           l_p penalty around mid-gray, weight and p [%g:%g]\n"
            "      --blur S0[:S1]       Gaussian blur sigma in pixels, S0 to S1 [%g:%g]\n"
            "      --blur-image         blur the image each step instead of the gradient\n"
            "      --fourier[=A]        step in a Fourier parameterisation scaled by 1/f^A (A = 1); a\n"
            "                           consensus is then taken per Fourier coefficient [off]\n"
            "      --jitter J           random roll of up to J pixels per step [%d]\n"
            "      --no-gradnorm        do not scale each step to unit RMS\n"
            "      --no-clip            do not clip pixels to 0..255\n"
            "      --contrast SD        hold the image's standard deviation at SD pixels (as\n"
            "                           near as 0..255 allows)\n"
            "      --gray               one channel, tiled to three for the networks\n"
            "      --seed S             seed of the initial noise and the jitter [%llu]\n"
            "      --threads N          worker threads [all CPUs]\n"
            "  -o, --output FILE        tune.h5\n"
            "      --png-dir DIR        also write every image as a PNG and a contact sheet per\n"
            "                           neuron (rows: models then consensus; columns: inits)\n"
            "      --force              replace outputs if they exist (only once complete)\n"
            "      --check-gradients[=E] compare each model's pixel gradient with central\n"
            "                           differences at random images, print the worst relative\n"
            "                           errors per neuron and exit (no output file); E: the\n"
            "                           step in pixels [0.01]\n"
            "  -q, --quiet              no progress\n",
            d.inits, d.init_sd, d.steps, d.lr, d.lr_end, d.tv, d.tv_beta, d.lp, d.lp_p, d.blur0, d.blur1, d.jitter, (unsigned long long)d.seed);
}

/* "all" or "3,5,7-9" within [0, m): want[] */
static int neuron_list(const char *s, int m, char *want)
{
    if (!strcmp(s, "all")) { memset(want, 1, (size_t)m); return 0; }
    memset(want, 0, (size_t)m);
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return dt_seterr("--neurons %s: expected indices like 3,5,7-9 or all", s);
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q) return dt_seterr("--neurons %s: expected indices like 3,5,7-9 or all", s);
        }
        if (a < 0 || b >= m || a > b)
            return dt_seterr("--neurons %s: neuron %ld is out of range; the models have neurons 0..%d", s, a < 0 || a >= m ? a : b, m - 1);
        for (long i = a; i <= b; i++) want[i] = 1;
        if ((*end && *end != ',') || (*end && !end[1])) return dt_seterr("--neurons %s: expected indices like 3,5,7-9 or all", s);
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int write_png_f(const char *path, const float *x, int h, int w, int c)
{
    uint8_t *u = dt_malloc((size_t)h * w * c);
    if (!u) return -1;
    for (size_t i = 0; i < (size_t)h * w * c; i++) {
        float v = !(x[i] >= 0) ? 0 : x[i] > 255 ? 255 : x[i]; /* NaN too: never cast */
        u[i] = (uint8_t)(v + 0.5f);
    }
    int rc = png_write(path, u, w, h, c);
    free(u);
    return rc;
}

/* rows: variants, columns: inits, 2-pixel white gaps */
static int contact_sheet(const char *path, const tune_result *r)
{
    int g = 2, H = r->V * (r->h + g) + g, W = r->K * (r->w + g) + g, c = r->c;
    size_t px = (size_t)r->h * r->w * c;
    float *s = dt_malloc((size_t)H * W * c * sizeof(float));
    if (!s) return -1;
    for (size_t i = 0; i < (size_t)H * W * c; i++) s[i] = 255;
    for (int v = 0; v < r->V; v++)
        for (int k = 0; k < r->K; k++) {
            const float *x = r->img + ((size_t)v * r->K + k) * px;
            int y0 = g + v * (r->h + g), x0 = g + k * (r->w + g);
            for (int y = 0; y < r->h; y++)
                memcpy(s + (((size_t)(y0 + y)) * W + x0) * c, x + (size_t)y * r->w * c, (size_t)r->w * c * sizeof(float));
        }
    int rc = write_png_f(path, s, H, W, c);
    free(s);
    return rc;
}

int cmd_tune(int argc, char **argv)
{
    const char *readouts = NULL, *models = NULL, *neurons = NULL, *out = NULL, *pngdir = NULL, *rule = "minmod", *init = "noise";
    int force = 0, quiet = 0, threads = 0, check = 0, init_sd_set = 0;
    double check_eps = 0.01;
    double min_r = -INFINITY;
    tune_opts o;
    tune_opts_default(&o);
    static const struct option lo[] = {
        {"readouts", required_argument, 0, 'm'}, {"models", required_argument, 0, 1},    {"neurons", required_argument, 0, 2},
        {"consensus", required_argument, 0, 3},  {"inits", required_argument, 0, 4},     {"steps", required_argument, 0, 5},
        {"lr", required_argument, 0, 6},         {"tv", required_argument, 0, 7},        {"lp", required_argument, 0, 8},
        {"blur", required_argument, 0, 9},       {"blur-image", no_argument, 0, 10},  {"jitter", required_argument, 0, 11},
        {"no-gradnorm", no_argument, 0, 12},     {"no-clip", no_argument, 0, 13},        {"contrast", required_argument, 0, 14},
        {"gray", no_argument, 0, 15},            {"seed", required_argument, 0, 16},     {"threads", required_argument, 0, 17},
        {"output", required_argument, 0, 'o'},   {"png-dir", required_argument, 0, 18},  {"force", no_argument, 0, 19},
        {"quiet", no_argument, 0, 'q'},          {"init", required_argument, 0, 20},     {"no-single", no_argument, 0, 21},
        {"min-r", required_argument, 0, 22},     {"init-sd", required_argument, 0, 25},     {"fourier", optional_argument, 0, 24},     {"check-gradients", optional_argument, 0, 23}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': readouts = optarg; break;
        case 1: models = optarg; break;
        case 2: neurons = optarg; break;
        case 3: rule = optarg; break;
        case 4: bad = dt_arg_int("--inits", optarg, &o.inits); break;
        case 5: bad = dt_arg_int("--steps", optarg, &o.steps); break;
        case 6: o.lr_end = NAN; bad = dt_arg_pair("--lr", optarg, &o.lr, &o.lr_end); if (isnan(o.lr_end)) o.lr_end = o.lr; break;
        case 7: bad = dt_arg_pair("--tv", optarg, &o.tv, &o.tv_beta); break;
        case 8: bad = dt_arg_pair("--lp", optarg, &o.lp, &o.lp_p); break;
        case 9: o.blur1 = NAN; bad = dt_arg_pair("--blur", optarg, &o.blur0, &o.blur1); if (isnan(o.blur1)) o.blur1 = o.blur0; break;
        case 10: o.blur_grad = 0; break;
        case 11: bad = dt_arg_int("--jitter", optarg, &o.jitter); break;
        case 12: o.gradnorm = 0; break;
        case 13: o.clip = 0; break;
        case 14: bad = dt_arg_double("--contrast", optarg, &o.contrast); break;
        case 15: o.gray = 1; break;
        case 16: bad = dt_arg_u64("--seed", optarg, &o.seed); break;
        case 17: bad = dt_arg_int("--threads", optarg, &threads); break;
        case 'o': out = optarg; break;
        case 18: pngdir = optarg; break;
        case 19: force = 1; break;
        case 'q': quiet = 1; break;
        case 20: init = optarg; break;
        case 21: o.single = 0; break;
        case 22: bad = dt_arg_double("--min-r", optarg, &min_r); break;
        case 25: bad = dt_arg_double("--init-sd", optarg, &o.init_sd); init_sd_set = 1; break;
        case 24: o.fourier = 1; if (optarg) bad = dt_arg_double("--fourier=", optarg, &o.fourier); break;
        case 23: check = 1; if (optarg) bad = dt_arg_double("--check-gradients=", optarg, &check_eps); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
    }
    if (optind < argc) { fprintf(stderr, "error: tune: unexpected argument '%s'; see deeptune tune -h\n", argv[optind]); return 2; }
    if (check && !out) out = "(none)";
    if (!readouts || !neurons || !out) { fprintf(stderr, "error: tune needs --readouts, --neurons and --output; see deeptune tune -h\n"); return 2; }
    /* the options, all checked before any work */
    const char *why = NULL;
    char msg[160];
    if (!strcmp(rule, "minmod")) o.rule = RULE_MINMOD;
    else if (!strcmp(rule, "mean")) o.rule = RULE_MEAN;
    else if (!strcmp(rule, "argmin")) o.rule = RULE_ARGMIN;
    else if (!strcmp(rule, "none")) o.consensus = 0;
    else why = "--consensus: use minmod, mean, argmin or none";
    if (!strcmp(init, "noise")) o.init = INIT_NOISE;
    else if (!strcmp(init, "gray")) o.init = INIT_GRAY;
    else if (!strcmp(init, "natural")) o.init = INIT_NATURAL;
    else why = "--init: use noise, gray or natural";
    if (!why && !(o.init_sd >= 0 && o.init_sd <= 128)) snprintf(msg, sizeof msg, "--init-sd %g: expected 0..128 pixels", o.init_sd), why = msg;
    if (!why && init_sd_set && o.init != INIT_NOISE)
        snprintf(msg, sizeof msg, "--init-sd sets the noise of --init noise, not of --init %s; drop one of the two", init), why = msg;
    if (!why && (threads < 0 || threads > 256)) snprintf(msg, sizeof msg, "--threads %d: expected 1..256, or 0 for all CPUs", threads), why = msg;
    if (!why && !(min_r >= -1 && min_r <= 1) && min_r != -INFINITY)
        snprintf(msg, sizeof msg, "--min-r %g: expected a correlation in -1..1", min_r), why = msg;
    if (!why && !(check_eps > 0 && check_eps <= 10))
        snprintf(msg, sizeof msg, "--check-gradients=%g: expected a step in (0, 10] pixels", check_eps), why = msg;
    if (!why && (o.inits < 1 || o.inits > 1000)) snprintf(msg, sizeof msg, "--inits %d: expected 1..1000", o.inits), why = msg;
    if (!why && (o.steps < 1 || o.steps > 100000)) snprintf(msg, sizeof msg, "--steps %d: expected 1..100000", o.steps), why = msg;
    if (!why && !(o.lr > 0 && o.lr_end >= 0 && o.lr < 1e4)) snprintf(msg, sizeof msg, "--lr %g:%g: expected A > 0, B >= 0", o.lr, o.lr_end), why = msg;
    if (!why && !(o.tv >= 0 && o.tv_beta >= 1 && o.tv_beta <= 4))
        snprintf(msg, sizeof msg, "--tv %g:%g: expected a weight >= 0 and 1 <= beta <= 4", o.tv, o.tv_beta), why = msg;
    if (!why && !(o.lp >= 0 && o.lp_p >= 1 && o.lp_p <= 32))
        snprintf(msg, sizeof msg, "--lp %g:%g: expected a weight >= 0 and 1 <= p <= 32", o.lp, o.lp_p), why = msg;
    if (!why && !(o.blur0 >= 0 && o.blur0 <= 10 && o.blur1 >= 0 && o.blur1 <= 10))
        snprintf(msg, sizeof msg, "--blur %g:%g: expected sigmas in 0..10 pixels", o.blur0, o.blur1), why = msg;
    if (!why && (o.jitter < 0 || o.jitter > 64)) snprintf(msg, sizeof msg, "--jitter %d: expected 0..64 pixels", o.jitter), why = msg;
    if (!why && !(o.contrast >= 0 && o.contrast <= 128)) snprintf(msg, sizeof msg, "--contrast %g: expected 0..128 pixels", o.contrast), why = msg;
    if (!why && !(o.fourier >= 0 && o.fourier <= 3)) snprintf(msg, sizeof msg, "--fourier %g: expected an exponent in 0..3", o.fourier), why = msg;
    if (!why && !o.single && !o.consensus) why = "--no-single with --consensus none leaves nothing to do";
    if (why) { fprintf(stderr, "error: %s\n", why); return 2; }

    int rc = 1;
    dt_outfile of = {0};
    dt_ensemble e;
    memset(&e, 0, sizeof e);
    dt_dataset d;
    memset(&d, 0, sizeof d);
    char *want = NULL, *tmpdir = NULL, *pngbuf = NULL, *rsha = NULL;
    int *mods = NULL, *jobs = NULL, *jrc = NULL, nwk = 0;
    dt_ensemble *wk = NULL;
    tune_result *res = NULL;
    char (*jerr)[512] = NULL;
    float *nat = NULL, *emb = NULL;
    hid_t f = H5I_INVALID_HID;
    if (!check && dt_out_begin(&of, out, force)) goto done;
    if (pngdir && !check) {
        if (dt_dir_begin(pngdir, force, "--png-dir", &pngbuf, &tmpdir)) goto done;
        pngdir = pngbuf;
    }
    if (ensemble_load(&e, readouts, models, dt_threads(threads))) goto done;
    /* recorded, so that stimuli and cluster can tell the same readouts */
    if (!check && !(rsha = ensemble_files_sha256(readouts))) goto done;
    want = dt_malloc((size_t)e.m);
    mods = dt_malloc((size_t)e.nmodels * sizeof(int));
    if (!want || !mods || neuron_list(neurons, e.m, want)) goto done;
    int M = e.nmodels, nsel = 0;
    for (int i = 0; i < M; i++) mods[i] = i;
    for (int j = 0; j < e.m; j++) {
        if (!want[j]) continue;
        for (int i = 0; i < M; i++)
            if (e.models[i].status[j] != 0 || !(e.models[i].r_test[j] >= min_r)) want[j] = 0;
        if (!want[j] && strcmp(neurons, "all") && min_r == -INFINITY) {
            dt_seterr("--neurons: neuron %d was not fitted (no data or constant responses); leave it out", j);
            goto done;
        }
        nsel += want[j];
    }
    if (!nsel) { dt_seterr("no neuron left to tune%s", min_r > -INFINITY ? " after --min-r; lower it" : ""); goto done; }
    int nc = o.gray ? 1 : e.c;
    if (check) {
        for (int j = 0; j < e.m; j++) {
            if (!want[j]) continue;
            double ws, wc;
            if (tune_gradcheck(&e, j, mods, M, nc, o.seed + (uint64_t)j, check_eps, &ws, &wc)) goto done;
            printf("neuron %d: %d models, worst relative error of the directional derivative: single %.2e, consensus %.2e\n", j, M, ws,
                   wc);
        }
        rc = 0;
        goto done;
    }
    size_t px = (size_t)e.h * e.w * nc;
    if (o.init == INIT_NATURAL) {
        if (dataset_read(e.dataset, &d, 1)) goto done;
        nat = dt_malloc((size_t)o.inits * px * sizeof(float));
        if (!nat) goto done;
        if ((size_t)o.inits > d.n) { dt_seterr("--inits %d: the dataset has only %zu natural stimuli", o.inits, d.n); goto done; }
    }
    /* the embedding for stability in feature space: the first network at
     * the deepest layer its models read */
    int emb_net = e.models[0].net, emb_layer = -1;
    for (int i = 0; i < M; i++)
        if (e.models[i].net == emb_net && e.models[i].layer > emb_layer) emb_layer = e.models[i].layer;
    const dt_layer *el = &e.nets[emb_net].net.L[emb_layer];
    size_t eP = (size_t)el->c * el->h * el->w;
    f = h5_create(of.tmp);
    if (f < 0 || h5_provenance(f, TUNE_FORMAT, TUNE_VERSION) || h5_attr_str(f, "readouts", readouts) ||
        h5_attr_str(f, "readouts_sha256", rsha) || h5_attr_str(f, "dataset", e.dataset) || h5_attr_str(f, "consensus_rule", o.consensus ? rule : "none") ||
        h5_attr_str(f, "init", init) || h5_attr_f64(f, "init_sd", o.init_sd) || h5_attr_i64(f, "inits", o.inits) || h5_attr_i64(f, "steps", o.steps) ||
        h5_attr_f64v(f, "lr", 2, (double[]){o.lr, o.lr_end}) || h5_attr_f64v(f, "tv", 2, (double[]){o.tv, o.tv_beta}) ||
        h5_attr_f64v(f, "lp", 2, (double[]){o.lp, o.lp_p}) || h5_attr_f64v(f, "blur", 2, (double[]){o.blur0, o.blur1}) ||
        h5_attr_str(f, "blur_target", o.blur_grad ? "gradient" : "image") || h5_attr_i64(f, "jitter", o.jitter) || h5_attr_i64(f, "gradnorm", o.gradnorm) ||
        h5_attr_i64(f, "clip", o.clip) || h5_attr_f64(f, "contrast", o.contrast) || h5_attr_i64(f, "gray", o.gray) || h5_attr_f64(f, "fourier", o.fourier) ||
        h5_attr_i64(f, "seed", (int64_t)o.seed) || h5_attr_str(f, "embedding_weights", e.nets[emb_net].weights) ||
        h5_attr_str(f, "embedding_layer", el->name))
        goto done;
    {
        char **labels = dt_malloc((size_t)(M + 1) * sizeof(char *));
        if (!labels) goto done;
        for (int i = 0; i < M; i++) labels[i] = e.models[i].label;
        int e2 = h5_write_strings(f, "models", (size_t)M, labels);
        labels[0] = "consensus";
        int nv = 0;
        for (int i = 0; o.single && i < M; i++) labels[nv++] = e.models[i].label;
        if (o.consensus) labels[nv++] = "consensus";
        e2 = e2 || h5_write_strings(f, "variants", (size_t)nv, labels);
        free(labels);
        if (e2) goto done;
    }
    int done_n = 0;
    /* neurons on threads: W workers (at most one per neuron), the rest of
     * the threads inside each worker's steps */
    int nthr = dt_threads(threads);
    int W = nthr < nsel ? nthr : nsel;
    if (W < 1) W = 1;
    if (W > 64) W = 64;
    wk = dt_calloc((size_t)W, sizeof *wk);
    jobs = dt_malloc((size_t)nsel * sizeof *jobs);
    res = dt_calloc((size_t)W, sizeof *res);
    jrc = dt_calloc((size_t)W, sizeof *jrc);
    jerr = dt_calloc((size_t)W, sizeof *jerr);
    if (!wk || !jobs || !res || !jrc || !jerr) goto done;
    /* the engine splits its work over its own threads (and the workers
     * share the CPUs): BLAS single-threaded, as in bench_tune */
    openblas_set_num_threads(1); /* main.c runs every stage with OpenBLAS on one thread */
    for (int w = 0; w < W; w++) {
        nwk = w + 1;   /* ensemble_worker leaves a failed one freeable */
        if (ensemble_worker(&e, nthr / W > 0 ? nthr / W : 1, &wk[w])) goto done;
    }
    if (nat) {
        float *nb = realloc(nat, (size_t)W * o.inits * px * sizeof(float));
        if (!nb) { dt_seterr("out of memory"); goto done; }
        nat = nb;
    }
    for (int j = 0, q = 0; j < e.m; j++)
        if (want[j]) jobs[q++] = j;
    for (int b0 = 0; b0 < nsel; b0 += W) {
    int nb = nsel - b0 < W ? nsel - b0 : W;
    for (int q = 0; q < nb; q++) {
        int j = jobs[b0 + q];
        if (nat) {
            /* rank the stimuli by the recorded response, best first */
            size_t *ord = dt_malloc(d.n * sizeof(size_t));
            if (!ord) goto done;
            for (size_t i = 0; i < d.n; i++) ord[i] = i;
            for (size_t a = 0; a < (size_t)o.inits; a++)
                for (size_t b = a + 1; b < d.n; b++) {
                    double va = d.resp[ord[a] * d.m + (size_t)j], vb = d.resp[ord[b] * d.m + (size_t)j];
                    if (isnan(va) || vb > va) { size_t t = ord[a]; ord[a] = ord[b]; ord[b] = t; }
                }
            float *tmp = dt_malloc((size_t)d.h * d.w * d.c * sizeof(float));
            if (!tmp) { free(ord); goto done; }
            for (int k = 0; k < o.inits; k++) {
                dataset_stimulus(&d, ord[k], tmp);
                for (size_t p = 0; p < (size_t)d.h * d.w; p++)
                    for (int ch = 0; ch < nc; ch++) {
                        double v = 0;
                        if (nc == 1 && d.c == 3) v = 0.299 * tmp[p * 3] + 0.587 * tmp[p * 3 + 1] + 0.114 * tmp[p * 3 + 2];
                        else v = tmp[p * d.c + (d.c == 1 ? 0 : ch)];
                        nat[((size_t)q * o.inits + k) * px + p * nc + ch] = (float)v;
                    }
            }
            free(tmp);
            free(ord);
        }
    }
    tune_batch tb = {wk, jobs + b0, nb, mods, M, &o, nat, (size_t)o.inits * px, res, jrc, jerr, W};
    dt_parallel(W, tune_worker, &tb);
    int failed = -1;
    for (int q = nb - 1; q >= 0; q--)
        if (jrc[q]) failed = q;
    if (failed >= 0) {
        dt_seterr("%s", jerr[failed]);
        for (int q = 0; q < nb; q++)
            if (!jrc[q]) tune_result_free(&res[q]);
        goto done;
    }
    for (int q = 0; q < nb; q++) {
        int j = jobs[b0 + q];
        tune_result r = res[q];
        memset(&res[q], 0, sizeof res[q]);
        /* stability: across initialisations (per variant) and across the
         * single-model images (per initialisation), in pixels and features */
        size_t npx = px;
        double *ipx = dt_malloc((size_t)r.V * sizeof(double)), *ift = dt_malloc((size_t)r.V * sizeof(double));
        double *mpx = dt_malloc((size_t)r.K * sizeof(double)), *mft = dt_malloc((size_t)r.K * sizeof(double));
        emb = dt_malloc((size_t)r.V * r.K * eP * sizeof(float));
        float *col = dt_malloc((size_t)(r.V > 0 ? r.V : 1) * npx * sizeof(float));
        int e3 = !ipx || !ift || !mpx || !mft || !emb || !col;
        for (int v = 0; !e3 && v < r.V; v++) {
            e3 = ensemble_embed(&e, emb_net, emb_layer, r.img + (size_t)v * r.K * px, r.K, nc, emb + (size_t)v * r.K * eP);
            ipx[v] = mean_pairwise_corr(r.img + (size_t)v * r.K * px, r.K, px, px);
            ift[v] = mean_pairwise_corr(emb + (size_t)v * r.K * eP, r.K, eP, eP);
        }
        int nsingle = o.single ? M : 0;
        for (int k = 0; !e3 && k < r.K; k++) {
            mpx[k] = mean_pairwise_corr(r.img + (size_t)k * px, nsingle, px, (size_t)r.K * px);
            mft[k] = mean_pairwise_corr(emb + (size_t)k * eP, nsingle, eP, (size_t)r.K * eP);
        }
        free(col);
        char g[64], p2[128];
        snprintf(g, sizeof g, "/neurons/%d", j);
        hsize_t di[5] = {(hsize_t)r.V, (hsize_t)r.K, (hsize_t)r.h, (hsize_t)r.w, (hsize_t)r.c};
        hsize_t dp[3] = {(hsize_t)r.V, (hsize_t)r.K, (hsize_t)r.M}, dtr[3] = {(hsize_t)r.V, (hsize_t)r.K, (hsize_t)r.S};
        hsize_t da[3] = {(hsize_t)r.K, (hsize_t)r.h, (hsize_t)r.w}, dv = (hsize_t)r.V, dk = (hsize_t)r.K;
#define WR(name, ft, mt, rank, dims, data)                                              \
    (snprintf(p2, sizeof p2, "%s/" name, g), h5_write(f, p2, ft, mt, rank, dims, data, 1))
        e3 = e3 || WR("images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 5, di, r.img) ||
             WR("predicted", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dp, r.pred) ||
             WR("trace", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dtr, r.trace) ||
             (r.agree && WR("agreement", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, da, r.agree)) ||
             WR("stability_inits_pixels", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dv, ipx) ||
             WR("stability_inits_features", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dv, ift) ||
             (nsingle > 1 && (WR("stability_models_pixels", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dk, mpx) ||
                              WR("stability_models_features", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dk, mft)));
#undef WR
        if (!e3) {
            hid_t gr = H5Gopen2(f, g, H5P_DEFAULT);
            double *rt = dt_malloc((size_t)M * sizeof(double));
            for (int i = 0; rt && i < M; i++) rt[i] = e.models[i].r_test[j];
            e3 = gr < 0 || !rt || h5_attr_i64(gr, "neuron", j) ||
                 h5_attr_str(gr, "neuron_id", e.ids && (size_t)j < e.nids ? e.ids[j] : "") || h5_attr_f64v(gr, "r_test", (size_t)M, rt);
            free(rt);
            if (gr >= 0) H5Gclose(gr);
        }
        if (!e3 && tmpdir) {
            char path[4200];
            for (int v = 0; !e3 && v < r.V; v++)
                for (int k = 0; !e3 && k < r.K; k++) {
                    if (r.variant_model[v] >= 0) snprintf(path, sizeof path, "%s/n%d-m%d-i%d.png", tmpdir, j, r.variant_model[v], k);
                    else snprintf(path, sizeof path, "%s/n%d-consensus-i%d.png", tmpdir, j, k);
                    e3 = write_png_f(path, r.img + ((size_t)v * r.K + k) * px, r.h, r.w, r.c);
                }
            snprintf(path, sizeof path, "%s/n%d-sheet.png", tmpdir, j);
            e3 = e3 || contact_sheet(path, &r);
        }
        if (!quiet && !e3) {
            fprintf(stderr, "tune: neuron %d (%d/%d):", j, ++done_n, nsel);
            if (o.consensus) {
                int v = r.V - 1;
                double mn = INFINITY;
                for (int k = 0; k < r.K; k++)
                    for (int i = 0; i < M; i++) mn = fmin(mn, r.pred[((size_t)v * r.K + k) * M + i]);
                fprintf(stderr, " consensus: lowest predicted response %.3g, stability across inits %.2f (pixels) %.2f (features)", mn,
                        ipx[v], ift[v]);
            }
            if (nsingle) {
                double s = 0;
                for (int v = 0; v < nsingle; v++) s += ipx[v] / nsingle;
                fprintf(stderr, "; single-model mean stability %.2f", s);
            }
            fputc('\n', stderr);
        }
        free(ipx); free(ift); free(mpx); free(mft); free(emb);
        emb = NULL;
        tune_result_free(&r);
        if (e3) {
            for (int q2 = q + 1; q2 < nb; q2++) tune_result_free(&res[q2]);
            goto done;
        }
    }
    }
    if (H5Fclose(f) < 0) { f = H5I_INVALID_HID; dt_seterr("%s: error closing", out); goto done; }
    f = H5I_INVALID_HID;
    if (dt_commit_with_dir(&of, &tmpdir, pngdir)) goto done; /* the pictures go with the file */
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (f >= 0) H5Fclose(f);
    dt_out_abort(&of);
    dt_dir_abort(tmpdir);
    for (int w = 0; w < nwk; w++) ensemble_worker_free(&wk[w]);
    free(wk); free(jobs); free(res); free(jrc); free(jerr); free(pngbuf); free(rsha);
    ensemble_free(&e);
    dataset_free(&d);
    free(want); free(mods); free(nat); free(emb);
    return rc;
}
