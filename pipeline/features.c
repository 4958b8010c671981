/* features.c — `deeptune features`: every stimulus of a dataset through a
 * CNN, keeping the activations of the requested layers.
 *
 * Data flow: the main thread reads a round of stimuli (threads x batch) from
 * the dataset; workers preprocess and run their batch (lanes) through the
 * network with single-threaded BLAS; the main thread writes the round's
 * features while the workers compute the next round (double buffering; all
 * HDF5 calls stay on the main thread).  Memory: two rounds of stimuli and
 * outputs, and the workers' activations. */
#include "cnnopts.h"
#include "dataset.h"
#include "h5io.h"
#include "net.h"
#include "stages.h"
#include "util.h"

#include "runner.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FEATURES_FORMAT "deeptune-features"
#define FEATURES_VERSION 1

typedef struct {
    const char *dataset, *layers, *out;
    int batch, force, quiet, compress;
    dt_cnnopts cnn;
} features_opts;

static const features_opts defaults = {.batch = 8, .compress = 0};

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: deeptune features -d DATASET.h5 --weights W.h5 --layers L1,L2,... -o FEATURES.h5 [options]\n"
            "\n"
            "Pass every stimulus through a CNN and keep the activations of the named layers,\n"
            "as /features/<layer>: (stimuli, channels, height, width), or (stimuli, units)\n"
            "after fully connected layers.\n"
            "\n"
            "  -d, --dataset FILE       dataset from 'deeptune import'\n"
            "  -l, --layers LIST        comma-separated layer names (e.g. conv2,pool2)\n"
            "  -o, --output FILE        output features file\n"
            "      --batch N            images per worker per round [%d]\n"
            "      --compress           shuffle + deflate the features (about 40%% smaller after\n"
            "                           ReLU, but the writing then costs as much as AlexNet)\n"
            "      --force              replace the output if it exists (only once complete)\n"
            "  -q, --quiet              no progress\n",
            defaults.batch);
    cnnopts_usage(fp, &defaults.cnn, "whole");
}

/* One round of stimuli on the runner's workers. */
typedef struct {
    const dt_net *net;
    const dt_preproc *pp;
    dt_geom geom;
    const float *stim;     /* (n, h, w, c) this round's stimuli */
    int h, w, c;
    int nl;
    const int *layer;      /* requested layer indices */
    float **round;         /* per requested layer (n, c, h, w) */
} round_ctx;

static int prepare(void *ctx, size_t i, float *input, int K, int k)
{
    const round_ctx *x = ctx;
    return preproc_image(x->pp, x->geom, x->stim + i * (size_t)x->h * x->w * x->c, x->w, x->h, x->c, input, K, k);
}

static void collect(void *ctx, size_t i, const dt_state *st, int k)
{
    const round_ctx *x = ctx;
    int K = st->K;
    for (int j = 0; j < x->nl; j++) {
        const dt_layer *l = &x->net->L[x->layer[j]];
        size_t hw = (size_t)l->h * l->w;
        const float *src = st->out[x->layer[j]];
        float *dst = x->round[j] + i * (size_t)l->c * hw;
        /* (C, K, hw) lane k -> (C, hw) */
        for (int c = 0; c < l->c; c++) memcpy(dst + (size_t)c * hw, src + ((size_t)c * K + k) * hw, hw * sizeof(float));
    }
}

/* The compute side of a round, run on its own thread (which becomes worker
 * 0 of the runner) while the main thread writes the previous round. */
typedef struct {
    dt_runner *run;
    size_t n;
    round_ctx *ctx;
    int rc;
    char err[512];          /* error messages are per thread: carried back here */
} compute_job;

static void *compute(void *arg)
{
    compute_job *j = arg;
    j->rc = runner_forward(j->run, j->n, prepare, collect, j->ctx);
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", dt_lasterr());
    return NULL;
}

/* A layer is written as (stimuli, units) when a fully connected layer
 * precedes it. */
static int after_fc(const dt_net *net, int t)
{
    uint8_t *need = calloc((size_t)net->n, 1);
    if (!need) return 0;
    net_ancestors(net, t, need);
    int fc = 0;
    for (int i = 0; i <= t; i++) fc |= need[i] && net->L[i].kind == L_FC;
    free(need);
    return fc;
}

int cmd_features(int argc, char **argv)
{
    features_opts o = defaults;
    static const struct option lo[] = {{"dataset", required_argument, 0, 'd'}, {"layers", required_argument, 0, 'l'},
                                       {"output", required_argument, 0, 'o'},  {"batch", required_argument, 0, 1},
                                       {"force", no_argument, 0, 2},           {"compress", no_argument, 0, 3},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},          CNN_LONGOPTS,
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.dataset = optarg; break;
        case 'l': o.layers = optarg; break;
        case 'o': o.out = optarg; break;
        case 1:
            if (dt_arg_int("--batch", optarg, &o.batch)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
            if (o.batch < 1 || o.batch > 1024) { fprintf(stderr, "error: --batch %s: expected 1..1024\n", optarg); return 2; }
            break;
        case 2: o.force = 1; break;
        case 3: o.compress = 1; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (c >= 200) { if (cnnopts_set(&o.cnn, c, optarg)) return 2; break; }
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "error: features: unexpected argument '%s'; see deeptune features -h\n", argv[optind]); return 2; }
    if (!o.dataset || !o.cnn.weights || !o.layers || !o.out) {
        fprintf(stderr, "error: features needs --dataset, --weights, --layers and --output; see deeptune features -h\n");
        return 2;
    }

    dt_outfile out;
    if (dt_out_begin(&out, o.out, o.force)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 1; }
    int rc = 1, nthreads = cnn_threads(&o.cnn), nl = 0;
    dt_net net;
    memset(&net, 0, sizeof net);
    dt_preproc pp;
    memset(&pp, 0, sizeof pp);
    dt_geom geom;
    char *spec_text = NULL, *list = NULL;
    dt_stimreader rd;
    memset(&rd, 0, sizeof rd);
    rd.file = rd.dset = -1;
    int *layer = NULL;
    dt_runner run;
    memset(&run, 0, sizeof run);
    float *stimbuf[2] = {NULL, NULL}, **roundbuf[2] = {NULL, NULL};
    hid_t f = H5I_INVALID_HID, *ds = NULL;
    char hex[65];

    if (stimreader_open(&rd, o.dataset)) goto done;
    if (cnn_open(&o.cnn, "whole", &net, &pp, &geom, &spec_text)) goto done;
    int iw, ih;
    preproc_input_size(&pp, geom, rd.w, rd.h, &iw, &ih);
    if (net_plan(&net, ih, iw)) {
        dt_preerr("%s", geom == GEOM_NATIVE ? o.dataset : o.cnn.weights);
        goto done;
    }
    /* requested layers */
    {
        char *names = dt_strdup(o.layers), *save = NULL;
        layer = dt_calloc((size_t)net.n, sizeof *layer);
        if (!names || !layer) { free(names); goto done; }
        int last = 0;
        for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int j = net_find(&net, t);
            if (j <= 0) {
                list = net_layer_list(&net, -1);
                dt_seterr("--layers: no layer '%s' in %s; its layers are: %s", t, net.name, list ? list : "?");
                free(names);
                goto done;
            }
            for (int q = 0; q < nl; q++)
                if (layer[q] == j) { j = -1; break; }
            if (j < 0) continue;
            layer[nl++] = j;
            last = j > last ? j : last;
        }
        free(names);
        if (nl == 0) { dt_seterr("--layers: no layer named"); goto done; }
        if (net_load_weights(&net, o.cnn.weights, last)) goto done;
    }
    size_t N = rd.n;
    int B = o.batch;
    if ((size_t)B * nthreads > N) B = (int)((N + nthreads - 1) / nthreads);
    size_t R = (size_t)nthreads * B; /* stimuli per round */
    uint8_t *need = dt_calloc((size_t)net.n, 1);
    if (!need) goto done;
    for (int j = 0; j < nl; j++) net_ancestors(&net, layer[j], need);
    int e = runner_init(&run, &net, need, nthreads, B);
    free(need);
    if (e) { char why[512]; snprintf(why, sizeof why, "%s", dt_lasterr()); dt_seterr("%s: %s; lower --batch (now %d) or --threads", o.out, why, B); goto done; }
    size_t stim_per = (size_t)rd.h * rd.w * rd.c;
    for (int b = 0; b < 2; b++) {
        roundbuf[b] = dt_calloc((size_t)nl, sizeof **roundbuf);
        stimbuf[b] = dt_malloc(R * stim_per * sizeof(float));
        if (!roundbuf[b] || !stimbuf[b]) goto done;
        for (int j = 0; j < nl; j++) {
            const dt_layer *l = &net.L[layer[j]];
            roundbuf[b][j] = dt_malloc(R * l->c * l->h * l->w * sizeof(float));
            if (!roundbuf[b][j]) goto done;
        }
    }
    round_ctx rx[2] = {{&net, &pp, geom, stimbuf[0], rd.h, rd.w, rd.c, nl, layer, roundbuf[0]},
                       {&net, &pp, geom, stimbuf[1], rd.h, rd.w, rd.c, nl, layer, roundbuf[1]}};

    /* output file: self-description, then one dataset per layer */
    f = h5_create(out.tmp);
    if (f < 0) goto done;
    char desc[512];
    preproc_describe(&pp, geom, desc, sizeof desc);
    if (h5_provenance(f, FEATURES_FORMAT, FEATURES_VERSION) || h5_attr_str(f, "network", net.name) ||
        h5_attr_str(f, "network_spec", spec_text) || h5_attr_str(f, "weights", o.cnn.weights) ||
        dt_sha256_file(o.cnn.weights, hex) || h5_attr_str(f, "weights_sha256", hex) || h5_attr_str(f, "dataset", o.dataset) ||
        dt_sha256_file(o.dataset, hex) || h5_attr_str(f, "dataset_sha256", hex) || h5_attr_str(f, "preprocessing", desc) ||
        h5_attr_i64(f, "input_height", ih) || h5_attr_i64(f, "input_width", iw) || h5_attr_i64(f, "n_stimuli", (int64_t)N) ||
        preproc_write_attrs(&pp, geom, f))
        goto done;
    {
        char *ls = dt_malloc(strlen(o.layers) + 1);
        if (!ls) goto done;
        ls[0] = 0;
        for (int j = 0; j < nl; j++) {
            if (j) strcat(ls, ",");
            strcat(ls, net.L[layer[j]].name);
        }
        int e = h5_attr_str(f, "layers", ls);
        free(ls);
        if (e) goto done;
    }
    ds = dt_calloc((size_t)nl, sizeof *ds);
    if (!ds) goto done;
    for (int j = 0; j < nl; j++) ds[j] = H5I_INVALID_HID;
    for (int j = 0; j < nl; j++) {
        const dt_layer *l = &net.L[layer[j]];
        char path[160];
        snprintf(path, sizeof path, "/features/%s", l->name);
        int vec = after_fc(&net, layer[j]);
        hsize_t dims[4] = {N, (hsize_t)l->c, (hsize_t)l->h, (hsize_t)l->w};
        size_t per = (size_t)l->c * l->h * l->w;
        hsize_t chunk = (hsize_t)((1u << 20) / (per * sizeof(float)));
        ds[j] = h5_create_chunked(f, path, H5T_IEEE_F32LE, vec ? 2 : 4, dims, chunk ? chunk : 1, o.compress);
        if (ds[j] < 0) goto done;
        if (h5_attr_str(ds[j], "layout", vec ? "stimulus,unit" : "stimulus,channel,height,width")) goto done;
    }

    /* rounds: read round r+1 and compute it while round r is written */
    int tty = !o.quiet && isatty(2);
    compute_job cj = {&run, 0, rx, 0, ""};
    pthread_t comp;
    size_t n0 = N < R ? N : R;
    if (stimreader_read(&rd, 0, n0, stimbuf[0])) { dt_preerr("%s", o.dataset); goto done; }
    cj.n = n0;
    cj.ctx = &rx[0];
    int running = pthread_create(&comp, NULL, compute, &cj) == 0;
    if (!running) compute(&cj);
    for (size_t i0 = 0, r = 0; i0 < N; i0 += R, r++) {
        size_t n = N - i0 < R ? N - i0 : R;
        if (running) pthread_join(comp, NULL);
        running = 0;
        if (cj.rc) { dt_seterr("%s", cj.err); goto done; }
        size_t i1 = i0 + R;
        if (i1 < N) {
            size_t n1 = N - i1 < R ? N - i1 : R;
            if (stimreader_read(&rd, i1, n1, stimbuf[(r + 1) % 2])) { dt_preerr("%s", o.dataset); goto done; }
            cj.n = n1;
            cj.ctx = &rx[(r + 1) % 2];
            running = pthread_create(&comp, NULL, compute, &cj) == 0;
            if (!running) compute(&cj);
        }
        for (int j = 0; j < nl; j++)
            if (h5_write_rows(ds[j], H5T_NATIVE_FLOAT, i0, n, roundbuf[r % 2][j])) {
                if (running) pthread_join(comp, NULL);
                goto done;
            }
        if (tty) fprintf(stderr, "\rfeatures: %zu/%zu stimuli", i0 + n, N);
    }
    if (tty) fputc('\n', stderr);
    for (int j = 0; j < nl; j++) { H5Dclose(ds[j]); ds[j] = H5I_INVALID_HID; }
    if (H5Fclose(f) < 0) { f = H5I_INVALID_HID; dt_seterr("error closing the output"); goto done; }
    f = H5I_INVALID_HID;
    if (dt_out_commit(&out)) goto done;
    if (!o.quiet) {
        fprintf(stderr, "features: %s: %zu stimuli through %s (%s), layers %s\n", o.out, N, net.name, desc, o.layers);
        double macs = net_macs(&net, layer[0]);
        for (int j = 1; j < nl; j++) macs = net_macs(&net, layer[j]) > macs ? net_macs(&net, layer[j]) : macs;
        fprintf(stderr, "features: %.2f GFLOP per stimulus\n", 2 * macs / 1e9);
    }
    rc = 0;
done:
    if (rc) {
        if (f >= 0) {
            for (int j = 0; ds && j < nl; j++)
                if (ds[j] >= 0) H5Dclose(ds[j]);
            H5Fclose(f);
        }
        dt_out_abort(&out);
        fprintf(stderr, "error: %s\n", dt_lasterr());
    }
    runner_free(&run);
    for (int b = 0; b < 2; b++) {
        for (int j = 0; roundbuf[b] && j < nl; j++) free(roundbuf[b][j]);
        free(roundbuf[b]);
        free(stimbuf[b]);
    }
    free(ds);
    free(layer);
    free(list);
    free(spec_text);
    stimreader_close(&rd);
    preproc_free(&pp);
    net_free(&net);
    return rc;
}
