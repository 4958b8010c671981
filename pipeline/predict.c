/* predict.c — `deeptune predict`: the full image -> response model (network
 * up to the readout's layer, then the readout) applied to new images, for
 * choosing closed-loop stimuli before showing them.
 *
 * The readouts file records the network spec, the preprocessing and the
 * weight file's sha256, so the model is rebuilt exactly and a different
 * weight file is refused. */
#include "cnnopts.h"
#include "dataset.h"
#include "h5io.h"
#include "image.h"
#include "net.h"
#include "runner.h"
#include "stages.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: deeptune predict -m READOUTS.h5 [--model NAME] (-d DATASET.h5 | IMAGE...) --csv OUT.csv\n"
            "\n"
            "Predicted responses of every neuron to images: the network up to the model's\n"
            "layer, with the preprocessing the readouts were fitted on, then the readout.\n"
            "\n"
            "  -m, --readouts FILE      readouts file from 'deeptune fit'\n"
            "      --model NAME         model in the file [the first]\n"
            "  -d, --dataset FILE       predict for every stimulus of a dataset\n"
            "      --csv FILE           output: image,model,neuron,predicted\n"
            "      --weights W.h5       the network weight file [the one recorded in the readouts;\n"
            "                           its sha256 must match]\n"
            "      --threads N          worker threads [all CPUs]\n"
            "      --force              replace the CSV if it exists\n");
}

typedef struct {
    const dt_net *net;
    const dt_preproc *pp;
    dt_geom geom;
    int layer;
    const float *px;       /* (n, h, w, c) this round's images, 0..255 */
    const int *iw, *ih, *ic; /* per image size (files may differ) */
    const size_t *off;     /* per image offset into px */
    const double *W;       /* (m, nlags * P) */
    int m, nlags;
    size_t P;              /* units of the layer */
    double *part;          /* (n, nlags, m): lag block l of the readout applied to image i */
} pctx;

static int prepare(void *ctx, size_t i, float *input, int K, int k)
{
    const pctx *x = ctx;
    return preproc_image(x->pp, x->geom, x->px + x->off[i], x->iw[i], x->ih[i], x->ic[i], input, K, k);
}

static void collect(void *ctx, size_t i, const dt_state *st, int k)
{
    const pctx *x = ctx;
    const dt_layer *l = &x->net->L[x->layer];
    size_t hw = (size_t)l->h * l->w;
    const float *a = st->out[x->layer];
    for (int lg = 0; lg < x->nlags; lg++)
        for (int j = 0; j < x->m; j++) {
            const double *w = x->W + (size_t)j * x->nlags * x->P + (size_t)lg * x->P;
            double s = 0;
            for (int c = 0; c < l->c; c++) {
                const float *ac = a + ((size_t)c * st->K + k) * hw;
                const double *wc = w + (size_t)c * hw;
                for (size_t q = 0; q < hw; q++) s += wc[q] * ac[q];
            }
            x->part[(i * x->nlags + lg) * x->m + j] = s;
        }
}

int cmd_predict(int argc, char **argv)
{
    const char *readouts = NULL, *model = NULL, *dataset = NULL, *csv = NULL;
    int force = 0;
    dt_cnnopts cnn = {0};
    static const struct option lo[] = {{"readouts", required_argument, 0, 'm'}, {"model", required_argument, 0, 1},
                                       {"dataset", required_argument, 0, 'd'},  {"csv", required_argument, 0, 2},
                                       {"force", no_argument, 0, 3},            {"help", no_argument, 0, 'h'},
                                       {"weights", required_argument, 0, 200},  {"threads", required_argument, 0, 207},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:d:h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': readouts = optarg; break;
        case 1: model = optarg; break;
        case 'd': dataset = optarg; break;
        case 2: csv = optarg; break;
        case 3: force = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (c >= 200) { if (cnnopts_set(&cnn, c, optarg)) return 2; break; }
            usage(stderr);
            return 2;
        }
    }
    int nfiles = argc - optind;
    if (!readouts || !csv || (!dataset && !nfiles) || (dataset && nfiles)) {
        fprintf(stderr, "error: predict needs --readouts, --csv and either --dataset or image files; see deeptune predict -h\n");
        return 2;
    }
    int rc = 1;
    dt_outfile out = {0};
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char *models = NULL, *wpath = NULL, *wsha = NULL, *spec = NULL, *layer = NULL, **ids = NULL, **names = NULL;
    size_t nids = 0, n = 0;
    double *W = NULL, *b = NULL, *pred = NULL, *part = NULL;
    float *px = NULL;
    int *iw = NULL, *ih = NULL, *ic = NULL;
    size_t *off = NULL;
    dt_net net;
    memset(&net, 0, sizeof net);
    dt_preproc pp;
    memset(&pp, 0, sizeof pp);
    dt_runner run;
    memset(&run, 0, sizeof run);
    dt_dataset d;
    memset(&d, 0, sizeof d);
    FILE *cf = NULL;

    if (dt_out_begin(&out, csv, force)) goto done;
    f = h5_open_ro(readouts);
    if (f < 0) goto done;
    if (!h5_is_format(f, "deeptune-readouts")) { dt_seterr("%s: not a deeptune readouts file; make one with deeptune fit", readouts); goto done; }
    if (h5_check_version(f, readouts, "deeptune-readouts", DT_READOUTS_VERSION)) goto done;
    models = h5_attr_get_str(f, "models");
    if (!models) { dt_preerr("%s", readouts); goto done; }
    if (!model) {
        char *comma = strchr(models, ',');
        if (comma) *comma = 0;
        model = models;
    }
    char gname[512];
    snprintf(gname, sizeof gname, "/models/%s", model);
    if (!h5_exists(f, gname)) { dt_seterr("%s: no model '%s'; it has: %s", readouts, model, models); goto done; }
    g = H5Gopen2(f, gname, H5P_DEFAULT);
    spec = h5_attr_get_str(g, "network_spec");
    layer = h5_attr_get_str(g, "layer");
    /* the weight file: recorded per model (older files: at the root) */
    hid_t wl = h5_has_attr(g, "weights_sha256") ? g : f;
    wpath = h5_attr_get_str(wl, "weights");
    wsha = h5_attr_get_str(wl, "weights_sha256");
    if (!spec || !layer || !wpath || !wsha) { dt_preerr("%s: model %s", readouts, model); goto done; }
    double lagv[64];
    size_t nlags = 1;
    lagv[0] = 0;
    if (h5_has_attr(g, "lags") && h5_attr_get_f64v(g, "lags", 64, lagv, &nlags)) { dt_preerr("%s: model %s", readouts, model); goto done; }
    int maxlag = (int)lagv[nlags - 1];
    if (maxlag && !dataset) {
        dt_seterr("%s: model %s uses time lags up to %d stimuli; predict it on a dataset in presentation order with -d", readouts,
                  model, maxlag);
        goto done;
    }
    const char *weights = cnn.weights ? cnn.weights : wpath;
    char hex[65];
    if (dt_sha256_file(weights, hex)) goto done;
    if (strcmp(hex, wsha)) {
        dt_seterr("%s: not the weight file the readouts were fitted with (sha256 %.12s..., expected %.12s...); pass the original with --weights",
                  weights, hex, wsha);
        goto done;
    }
    dt_geom geom;
    if (net_parse(&net, spec, model) || preproc_read(&pp, weights) || preproc_read_attrs(&pp, &geom, g, readouts)) goto done;
    int64_t inh = 0, inw = 0;
    h5_attr_get_i64(g, "input_height", &inh);
    h5_attr_get_i64(g, "input_width", &inw);
    if (net_plan(&net, (int)inh, (int)inw)) { dt_preerr("%s", readouts); goto done; }
    int t = net_find(&net, layer);
    if (t < 0 || net_load_weights(&net, weights, t)) {
        if (t < 0) dt_seterr("%s: layer %s is not in the recorded network", readouts, layer);
        goto done;
    }
    hsize_t wd[2] = {H5_ANY, H5_ANY};
    if (h5_read_expect(g, "weights", H5T_NATIVE_DOUBLE, 2, wd, "neurons, features", "make the readouts again with deeptune fit", NULL))
        goto done;
    const dt_layer *l = &net.L[t];
    size_t P = (size_t)l->c * l->h * l->w, m = wd[0];
    if (wd[1] != P * nlags) {
        dt_seterr("%s: model %s has %llu weights per neuron, layer %s has %zu units x %zu lags", readouts, model,
                  (unsigned long long)wd[1], layer, P, nlags);
        goto done;
    }
    W = dt_malloc(m * P * nlags * sizeof(double));
    b = dt_malloc(m * sizeof(double));
    hsize_t md = m;
    if (!W || !b || h5_read_expect(g, "weights", H5T_NATIVE_DOUBLE, 2, wd, NULL, "make the readouts again with deeptune fit", W) ||
        h5_read_expect(g, "intercepts", H5T_NATIVE_DOUBLE, 1, &md, "one per neuron, as the rows of weights",
                       "make the readouts again with deeptune fit", b))
        goto done;
    if (h5_exists(f, "neuron_ids")) ids = h5_read_strings(f, "neuron_ids", &nids);

    /* the images, as float pixels */
    if (dataset) {
        if (dataset_read(dataset, &d, 1)) goto done;
        n = d.n;
    } else {
        n = (size_t)nfiles;
    }
    iw = dt_malloc(n * sizeof(int));
    ih = dt_malloc(n * sizeof(int));
    ic = dt_malloc(n * sizeof(int));
    off = dt_malloc(n * sizeof(size_t));
    names = dt_calloc(n, sizeof *names);
    if (!iw || !ih || !ic || !off || !names) goto done;
    size_t total = 0;
    if (dataset) {
        size_t per = (size_t)d.h * d.w * d.c;
        px = dt_malloc(n * per * sizeof(float));
        if (!px) goto done;
        for (size_t i = 0; i < n; i++) {
            dataset_stimulus(&d, i, px + i * per);
            iw[i] = d.w; ih[i] = d.h; ic[i] = d.c; off[i] = i * per;
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            names[i] = dt_strdup(d.stim_names ? d.stim_names[i] : idx);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint8_t *buf;
            size_t len;
            dt_image im;
            const char *file = argv[optind + (int)i];
            if (dt_read_file(file, &buf, &len)) goto done;
            int e = image_decode(buf, len, file, &im);
            free(buf);
            if (e) goto done;
            size_t per = (size_t)im.w * im.h * im.c;
            float *np = realloc(px, (total + per) * sizeof(float));
            if (!np) { image_free(&im); dt_seterr("out of memory"); goto done; }
            px = np;
            for (size_t q = 0; q < per; q++) px[total + q] = im.px[q];
            iw[i] = im.w; ih[i] = im.h; ic[i] = im.c; off[i] = total;
            total += per;
            names[i] = dt_strdup(file);
            image_free(&im);
            if (geom == GEOM_NATIVE && (iw[i] != inw || ih[i] != inh)) {
                dt_seterr("%s: %dx%d, but the model was fitted on %lldx%lld stimuli at native size; resize it first", file, iw[i],
                          ih[i], (long long)inw, (long long)inh);
                goto done;
            }
        }
    }
    pred = dt_malloc(n * m * sizeof(double));
    part = dt_malloc(n * nlags * m * sizeof(double));
    if (!pred || !part) goto done;
    uint8_t *need = dt_calloc((size_t)net.n, 1);
    if (!need) goto done;
    net_ancestors(&net, t, need);
    int e = runner_init(&run, &net, need, cnn_threads(&cnn), 4);
    free(need);
    if (e) goto done;
    pctx x = {&net, &pp, geom, t, px, iw, ih, ic, off, W, (int)m, (int)nlags, P, part};
    if (runner_forward(&run, n, prepare, collect, &x)) goto done;
    /* response to image i: the intercept plus lag block l applied to the
     * image shown lag_l before (none for the first max-lag images) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double s = b[j];
            for (size_t lg = 0; lg < nlags; lg++) {
                size_t lag = (size_t)lagv[lg];
                s = i < lag ? NAN : s + part[((i - lag) * nlags + lg) * m + j];
            }
            pred[i * m + j] = s;
        }
    cf = fopen(out.tmp, "w");
    if (!cf) { dt_seterr("%s: cannot write", csv); goto done; }
    fprintf(cf, "image,model,neuron,predicted\n");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", j);
            fprintf(cf, "%s,%s,%s,%.9g\n", names[i], model, ids && j < nids ? ids[j] : idx, pred[i * m + j]);
        }
    if (fclose(cf) != 0) { cf = NULL; dt_seterr("%s: write error", csv); goto done; }
    cf = NULL;
    if (dt_out_commit(&out)) goto done;
    fprintf(stderr, "predict: %s: %zu images x %zu neurons (model %s)\n", csv, n, m, model);
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (cf) fclose(cf);
    dt_out_abort(&out);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    runner_free(&run);
    net_free(&net);
    preproc_free(&pp);
    dataset_free(&d);
    dt_strv_free(ids, nids);
    dt_strv_free(names, n);
    free(models); free(wpath); free(wsha); free(spec); free(layer);
    free(W); free(b); free(pred); free(part); free(px); free(iw); free(ih); free(ic); free(off);
    return rc;
}
