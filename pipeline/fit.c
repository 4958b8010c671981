/* fit.c — `deeptune fit`: readouts from one layer's features to every
 * neuron's responses, with the ridge parameter chosen per neuron by
 * cross-validation on the training stimuli only, evaluated on held-out test
 * stimuli.  Writes a readouts file (format in docs/formats.md) and optionally
 * a metrics CSV.
 *
 * Data flow: dataset (responses, split) and the layer's features (N x p
 * float32) are read whole; the test stimuli are removed before anything is
 * fitted, so no statistic, lambda or weight ever sees them. */
#include "dataset.h"
#include "h5io.h"
#include "lasso.h"
#include "ridge.h"
#include "stages.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READOUTS_FORMAT "deeptune-readouts"
#define READOUTS_VERSION 1

typedef struct {
    const char *dataset, *features, *layer, *method, *out, *metrics, *name, *lambdas, *rule;
    int folds, nlambda, standardize, force, quiet, maxit;
    double test_fraction, alpha, lambda_ratio, tol;
    uint64_t seed;
} fit_opts;

static const fit_opts defaults = {.method = "ridge", .rule = "min", .folds = 5, .nlambda = 0, .maxit = 100000,
                                  .test_fraction = 0.2, .alpha = 0, .lambda_ratio = 0, .tol = 1e-7, .seed = 1};

static void usage(FILE *fp)
{
    const fit_opts *d = &defaults;
    fprintf(fp,
            "usage: deeptune fit -d DATASET.h5 -f FEATURES.h5 --layer L -o READOUTS.h5 [options]\n"
            "\n"
            "Fit a regularised linear readout from one layer's features to every neuron,\n"
            "choosing lambda per neuron by cross-validation on the training stimuli, and\n"
            "report held-out Pearson r and R^2 on the test stimuli.\n"
            "\n"
            "  -d, --dataset FILE       dataset from 'deeptune import'\n"
            "  -f, --features FILE      features of that dataset from 'deeptune features'\n"
            "  -l, --layer NAME         the layer to read out from\n"
            "      --method M           ridge, lasso or enet [%s]\n"
            "      --folds K            K-fold CV; for ridge also 0 = generalized CV [%d]\n"
            "      --lambdas A,B,...    explicit grid: increasing for ridge, decreasing for\n"
            "                           lasso/enet.  Default ridge: 20 values log-spaced over\n"
            "                           [1e-3, 1e3] x trace(centred Gram)/n; lasso/enet: 100\n"
            "                           values from lambda_max down to --lambda-ratio x it\n"
            "      --nlambda N          size of the default grid [20 ridge, 100 lasso/enet]\n"
            "      --lambda-ratio R     lambda_min/lambda_max [0.01 if features > stimuli,\n"
            "                           else 1e-4]\n"
            "      --alpha A            elastic-net mixing, 1 = Lasso [0.5 for enet]\n"
            "      --rule R             lasso/enet lambda choice: min or 1se [%s]\n"
            "      --tol T              lasso/enet convergence: no coordinate step changes the\n"
            "                           objective by more than T var(y) [%g]\n"
            "      --standardize        scale features to unit variance (training stimuli)\n"
            "      --test-fraction F    held-out share when the dataset has no split [%g]\n"
            "      --seed S             seed of the test split and the folds [%llu]\n"
            "      --name NAME          model name [network:layer:method]\n"
            "  -o, --output FILE        readouts file\n"
            "      --metrics FILE       CSV: model,neuron,lambda,r_test,r2_test\n"
            "      --force              replace outputs if they exist (only once complete)\n"
            "  -q, --quiet              no summary\n",
            d->method, d->folds, d->rule, d->tol, d->test_fraction, (unsigned long long)d->seed);
}

/* Pearson r and R^2 (1 - SSE/SST) over the finite pairs. */
static void score(const double *y, const double *yhat, int n, int stride, double *r, double *r2)
{
    double sy = 0, sh = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(y[(size_t)i * stride])) { sy += y[(size_t)i * stride]; sh += yhat[i]; k++; }
    if (k < 2) { *r = *r2 = NAN; return; }
    double my = sy / k, mh = sh / k, cyy = 0, chh = 0, cyh = 0, sse = 0;
    for (int i = 0; i < n; i++) {
        double v = y[(size_t)i * stride];
        if (isnan(v)) continue;
        cyy += (v - my) * (v - my);
        chh += (yhat[i] - mh) * (yhat[i] - mh);
        cyh += (v - my) * (yhat[i] - mh);
        sse += (v - yhat[i]) * (v - yhat[i]);
    }
    *r = cyy > 0 && chh > 0 ? cyh / sqrt(cyy * chh) : NAN;
    *r2 = cyy > 0 ? 1 - sse / cyy : NAN;
}

static int parse_grid(const char *s, double **grid, int *n)
{
    int cap = 8, k = 0;
    double *g = malloc((size_t)cap * sizeof(double));
    const char *p = s;
    while (g && *p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p) { free(g); return -1; }
        if (k == cap) {
            double *ng = realloc(g, (size_t)(cap *= 2) * sizeof(double));
            if (!ng) { free(g); return -1; }
            g = ng;
        }
        g[k++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') { free(g); return -1; }
    }
    *grid = g;
    *n = k;
    return k ? 0 : -1;
}

int cmd_fit(int argc, char **argv)
{
    fit_opts o = defaults;
    static const struct option lo[] = {
        {"dataset", required_argument, 0, 'd'}, {"features", required_argument, 0, 'f'}, {"layer", required_argument, 0, 'l'},
        {"output", required_argument, 0, 'o'},  {"method", required_argument, 0, 1},     {"folds", required_argument, 0, 2},
        {"lambdas", required_argument, 0, 3},   {"nlambda", required_argument, 0, 4},    {"standardize", no_argument, 0, 5},
        {"test-fraction", required_argument, 0, 6}, {"seed", required_argument, 0, 7},   {"name", required_argument, 0, 8},
        {"metrics", required_argument, 0, 9},   {"force", no_argument, 0, 10},           {"quiet", no_argument, 0, 'q'},
        {"alpha", required_argument, 0, 11},    {"lambda-ratio", required_argument, 0, 12}, {"rule", required_argument, 0, 13},
        {"tol", required_argument, 0, 14},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:f:l:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.dataset = optarg; break;
        case 'f': o.features = optarg; break;
        case 'l': o.layer = optarg; break;
        case 'o': o.out = optarg; break;
        case 1: o.method = optarg; break;
        case 2: o.folds = atoi(optarg); break;
        case 3: o.lambdas = optarg; break;
        case 4: o.nlambda = atoi(optarg); break;
        case 5: o.standardize = 1; break;
        case 6: o.test_fraction = atof(optarg); break;
        case 7: o.seed = strtoull(optarg, NULL, 10); break;
        case 8: o.name = optarg; break;
        case 9: o.metrics = optarg; break;
        case 10: o.force = 1; break;
        case 11: o.alpha = atof(optarg); break;
        case 12: o.lambda_ratio = atof(optarg); break;
        case 13: o.rule = optarg; break;
        case 14: o.tol = atof(optarg); break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "error: fit: unexpected argument '%s'; see deeptune fit -h\n", argv[optind]); return 2; }
    if (!o.dataset || !o.features || !o.layer || !o.out) {
        fprintf(stderr, "error: fit needs --dataset, --features, --layer and --output; see deeptune fit -h\n");
        return 2;
    }
    int is_ridge = !strcmp(o.method, "ridge"), is_lasso = !strcmp(o.method, "lasso"), is_enet = !strcmp(o.method, "enet");
    if (!is_ridge && !is_lasso && !is_enet) { fprintf(stderr, "error: --method %s: use ridge, lasso or enet\n", o.method); return 2; }
    if (!o.alpha) o.alpha = is_enet ? 0.5 : 1;
    if (is_lasso && o.alpha != 1) { fprintf(stderr, "error: --alpha %g: the Lasso has alpha 1; use --method enet\n", o.alpha); return 2; }
    if (!(o.alpha > 0 && o.alpha <= 1)) { fprintf(stderr, "error: --alpha %g: expected 0 < alpha <= 1\n", o.alpha); return 2; }
    if (!o.nlambda) o.nlambda = is_ridge ? 20 : 100;
    if (strcmp(o.rule, "min") && strcmp(o.rule, "1se")) { fprintf(stderr, "error: --rule %s: use min or 1se\n", o.rule); return 2; }
    if (o.folds < 0 || o.folds == 1 || (!is_ridge && o.folds == 0)) {
        fprintf(stderr, "error: --folds %d: use at least 2%s\n", o.folds, is_ridge ? ", or 0 (generalized CV)" : "");
        return 2;
    }
    if (o.nlambda < 1) { fprintf(stderr, "error: --nlambda %d: expected at least 1\n", o.nlambda); return 2; }
    if (!(o.lambda_ratio >= 0 && o.lambda_ratio < 1)) { fprintf(stderr, "error: --lambda-ratio %g: expected 0 < R < 1\n", o.lambda_ratio); return 2; }
    if (!(o.tol > 0)) { fprintf(stderr, "error: --tol %g: expected a positive number\n", o.tol); return 2; }
    if (!(o.test_fraction >= 0 && o.test_fraction < 1)) {
        fprintf(stderr, "error: --test-fraction %g: expected 0 <= F < 1\n", o.test_fraction);
        return 2;
    }
    double *grid = NULL;
    int ngrid = o.nlambda;
    if (o.lambdas) {
        if (parse_grid(o.lambdas, &grid, &ngrid)) {
            fprintf(stderr, "error: --lambdas %s: expected comma-separated numbers\n", o.lambdas);
            return 2;
        }
        for (int g = 0; g < ngrid; g++)
            if (!(grid[g] > 0) || (g && (is_ridge ? !(grid[g] > grid[g - 1]) : !(grid[g] < grid[g - 1])))) {
                fprintf(stderr, "error: --lambdas: the grid must be positive and strictly %s for %s (value %d is %g)\n",
                        is_ridge ? "increasing" : "decreasing", o.method, g + 1, grid[g]);
                free(grid);
                return 2;
            }
    }

    dt_outfile out = {0}, mout = {0};
    int rc = 1;
    dt_dataset d;
    memset(&d, 0, sizeof d);
    float *F = NULL, *Xtr = NULL;
    double *Ytr = NULL;
    int *test = NULL;
    ridge_fit fit;
    memset(&fit, 0, sizeof fit);
    lasso_fit lfit;
    memset(&lfit, 0, sizeof lfit);
    char *fnet = NULL, *fsha = NULL, *fweights = NULL, *fwsha = NULL, *layers = NULL, *model = NULL;
    hid_t ff = H5I_INVALID_HID, of = H5I_INVALID_HID;
    double *r = NULL, *r2 = NULL;

    if (dt_out_begin(&out, o.out, o.force)) goto done;
    if (o.metrics && dt_out_begin(&mout, o.metrics, o.force)) goto done;
    if (dataset_read(o.dataset, &d, 0)) goto done;
    /* the features must come from this dataset */
    ff = h5_open_ro(o.features);
    if (ff < 0) goto done;
    {
        char *fmt = h5_has_attr(ff, "format") ? h5_attr_get_str(ff, "format") : NULL;
        int ok = fmt && !strcmp(fmt, "deeptune-features");
        free(fmt);
        if (!ok) { dt_seterr("%s: not a deeptune features file; make one with deeptune features", o.features); goto done; }
    }
    char hex[65];
    if (dt_sha256_file(o.dataset, hex)) goto done;
    fsha = h5_has_attr(ff, "dataset_sha256") ? h5_attr_get_str(ff, "dataset_sha256") : NULL;
    if (!fsha || strcmp(fsha, hex)) {
        dt_seterr("%s: computed from a different dataset than %s (sha256 differs); run deeptune features on this dataset",
                  o.features, o.dataset);
        goto done;
    }
    if (!h5_has_attr(ff, "network_spec") || !h5_has_attr(ff, "preprocess_geometry")) {
        dt_seterr("%s: made by an older deeptune without the network spec and preprocessing attributes; re-run deeptune features",
                  o.features);
        goto done;
    }
    fnet = h5_attr_get_str(ff, "network");
    fweights = h5_attr_get_str(ff, "weights");
    fwsha = h5_attr_get_str(ff, "weights_sha256");
    layers = h5_attr_get_str(ff, "layers");
    if (!fnet || !fweights || !fwsha || !layers) { dt_preerr("%s", o.features); goto done; }
    char ds[256];
    snprintf(ds, sizeof ds, "/features/%s", o.layer);
    int rank;
    hsize_t dims[4];
    if (!h5_exists(ff, ds)) {
        dt_seterr("%s: no layer '%s'; this file has: %s", o.features, o.layer, layers);
        goto done;
    }
    if (h5_shape(ff, ds, &rank, dims, NULL, NULL)) { dt_preerr("%s", o.features); goto done; }
    if (dims[0] != d.n) {
        dt_seterr("%s: %llu stimuli, but %s has %zu", o.features, (unsigned long long)dims[0], o.dataset, d.n);
        goto done;
    }
    size_t n = d.n, p = 1, m = d.m;
    for (int k = 1; k < rank; k++) p *= dims[k];
    F = dt_malloc(n * p * sizeof(float));
    if (!F || h5_read(ff, ds, H5T_NATIVE_FLOAT, F)) { dt_preerr("%s", o.features); goto done; }
    H5Fclose(ff);
    ff = H5I_INVALID_HID;

    /* test stimuli: the dataset's split, else a seeded random fraction */
    test = dt_calloc(n, sizeof(int));
    if (!test) goto done;
    size_t ntest = 0;
    if (d.split) {
        for (size_t i = 0; i < n; i++) ntest += test[i] = d.split[i];
    } else if (o.test_fraction > 0) {
        int *fold = dt_malloc(n * sizeof(int));
        if (!fold) goto done;
        size_t want = (size_t)floor(o.test_fraction * (double)n + 0.5);
        ridge_folds(fold, (int)n, (int)n, o.seed ^ 0x5eed); /* a seeded permutation */
        for (size_t i = 0; i < n; i++) ntest += test[i] = (size_t)fold[i] < want;
        free(fold);
    }
    size_t ntrain = n - ntest;
    Xtr = dt_malloc(ntrain * p * sizeof(float));
    Ytr = dt_malloc(ntrain * m * sizeof(double));
    if (!Xtr || !Ytr) goto done;
    for (size_t i = 0, t = 0; i < n; i++) {
        if (test[i]) continue;
        memcpy(Xtr + t * p, F + i * p, p * sizeof(float));
        memcpy(Ytr + t * m, d.resp + i * m, m * sizeof(double));
        t++;
    }
    if (is_ridge) {
        ridge_opts ro;
        ridge_opts_default(&ro);
        ro.nfolds = o.folds;
        ro.grid = grid;
        ro.ngrid = ngrid;
        ro.standardize = o.standardize;
        ro.seed = o.seed;
        if (ridge_fit_cv(Xtr, (int)ntrain, (int)p, Ytr, (int)m, &ro, &fit)) { dt_preerr("%s", o.dataset); goto done; }
    } else {
        lasso_opts lo2;
        lasso_opts_default(&lo2);
        lo2.alpha = o.alpha;
        lo2.nlambda = ngrid;
        lo2.path = grid;
        lo2.lmin_ratio = o.lambda_ratio;
        lo2.tol = o.tol;
        lo2.maxit = o.maxit;
        lo2.nfolds = o.folds;
        lo2.one_se = !strcmp(o.rule, "1se");
        lo2.standardize = o.standardize;
        lo2.seed = o.seed;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        lo2.nthreads = ncpu > 0 ? (int)ncpu : 1;
        if (lasso_fit_cv(Xtr, (int)ntrain, (int)p, Ytr, (int)m, &lo2, &lfit)) { dt_preerr("%s", o.dataset); goto done; }
        /* the common view of the two fits */
        fit.p = lfit.p; fit.m = lfit.m; fit.ngrid = lfit.nl;
        fit.w = lfit.w; fit.b = lfit.b; fit.lambda = lfit.lambda; fit.cv = lfit.cv; fit.grid = lfit.path; fit.status = lfit.status;
        ngrid = lfit.nl;
    }

    /* held-out evaluation */
    r = dt_malloc(m * sizeof(double));
    r2 = dt_malloc(m * sizeof(double));
    double *yhat = dt_malloc((ntest ? ntest : 1) * sizeof(double)), *ytest = dt_malloc((ntest ? ntest : 1) * m * sizeof(double));
    if (!r || !r2 || !yhat || !ytest) { free(yhat); free(ytest); goto done; }
    for (size_t i = 0, t = 0; i < n; i++)
        if (test[i]) memcpy(ytest + (t++) * m, d.resp + i * m, m * sizeof(double));
    for (size_t j = 0; j < m; j++) {
        for (size_t i = 0, t = 0; i < n; i++) {
            if (!test[i]) continue;
            double s = fit.b[j];
            const float *x = F + i * p;
            const double *w = fit.w + j * p;
            for (size_t c2 = 0; c2 < p; c2++) s += w[c2] * x[c2];
            yhat[t++] = s;
        }
        if (fit.status[j] != RIDGE_OK || !ntest) r[j] = r2[j] = NAN;
        else score(ytest + j, yhat, (int)ntest, (int)m, &r[j], &r2[j]);
    }
    free(yhat);
    free(ytest);

    /* the readouts file */
    model = dt_malloc(strlen(fnet) + strlen(o.layer) + strlen(o.method) + (o.name ? strlen(o.name) : 0) + 8);
    if (!model) goto done;
    if (o.name) strcpy(model, o.name);
    else sprintf(model, "%s:%s:%s", fnet, o.layer, o.method);
    of = h5_create(out.tmp);
    if (of < 0) goto done;
    if (h5_provenance(of, READOUTS_FORMAT, READOUTS_VERSION) || h5_attr_str(of, "dataset", o.dataset) ||
        h5_attr_str(of, "dataset_sha256", hex) || h5_attr_str(of, "features", o.features) ||
        dt_sha256_file(o.features, hex) || h5_attr_str(of, "features_sha256", hex) || h5_attr_str(of, "weights", fweights) ||
        h5_attr_str(of, "weights_sha256", fwsha) || h5_attr_str(of, "models", model))
        goto done;
    if (d.neuron_ids && h5_write_strings(of, "neuron_ids", m, d.neuron_ids)) goto done;
    {
        char g[512], path[600];
        snprintf(g, sizeof g, "/models/%s", model);
        /* the group is made by the first dataset; '/' in a model name would nest */
        if (strchr(model, '/')) { dt_seterr("--name %s: a model name cannot contain '/'", model); goto done; }
        hsize_t wd[2] = {m, p}, md = m, gd[2] = {m, (hsize_t)ngrid};
        snprintf(path, sizeof path, "%s/weights", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, wd, fit.w, 1)) goto done;
        snprintf(path, sizeof path, "%s/intercepts", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, fit.b, 0)) goto done;
        snprintf(path, sizeof path, "%s/lambda", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, fit.lambda, 0)) goto done;
        snprintf(path, sizeof path, "%s/lambda_grid", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, fit.grid, 0)) goto done;
        snprintf(path, sizeof path, "%s/cv_mse", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, fit.cv, 0)) goto done;
        if (lfit.w) {
            snprintf(path, sizeof path, "%s/cv_se", g);
            if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, lfit.cvse, 0)) goto done;
            snprintf(path, sizeof path, "%s/nonzero", g);
            if (h5_write(of, path, H5T_STD_I32LE, H5T_NATIVE_INT, 1, &md, lfit.nnz, 0)) goto done;
        }
        snprintf(path, sizeof path, "%s/status", g);
        if (h5_write(of, path, H5T_STD_I32LE, H5T_NATIVE_INT, 1, &md, fit.status, 0)) goto done;
        snprintf(path, sizeof path, "%s/r_test", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, r, 0)) goto done;
        snprintf(path, sizeof path, "%s/r2_test", g);
        if (h5_write(of, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, r2, 0)) goto done;
        hsize_t nd = n;
        uint8_t *tm = dt_malloc(n);
        if (!tm) goto done;
        for (size_t i = 0; i < n; i++) tm[i] = (uint8_t)test[i];
        snprintf(path, sizeof path, "%s/test_stimuli", g);
        int e = h5_write(of, path, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &nd, tm, 0);
        free(tm);
        if (e) goto done;
        hid_t gr = H5Gopen2(of, g, H5P_DEFAULT);
        double fshape[3] = {(double)dims[1], rank == 4 ? (double)dims[2] : 1, rank == 4 ? (double)dims[3] : 1};
        e = gr < 0 || h5_attr_str(gr, "network", fnet) || h5_attr_str(gr, "layer", o.layer) || h5_attr_str(gr, "method", o.method) || h5_attr_f64(gr, "alpha", is_ridge ? 0 : o.alpha) ||
            h5_attr_str(gr, "rule", is_ridge ? "min" : o.rule) ||
            h5_attr_i64(gr, "folds", o.folds) || h5_attr_i64(gr, "standardize", o.standardize) ||
            h5_attr_i64(gr, "seed", (int64_t)o.seed) || h5_attr_f64v(gr, "feature_shape", 3, fshape) ||
            h5_attr_str(gr, "split", d.split ? "dataset" : "random test fraction") ||
            h5_attr_f64(gr, "test_fraction", (double)ntest / (double)n) ||
            h5_attr_str(gr, "status_codes", "0 fitted, 1 no recorded responses, 2 constant responses");
        /* what predict needs to rebuild image -> response: the network spec
         * and the preprocessing the features were made with */
        if (!e) {
            hid_t src = h5_open_ro(o.features);
            static const char *copy[] = {"network_spec", "preprocess_geometry", "preprocess_size", "preprocess_resize_to",
                                         "preprocess_bgr", "preprocess_scale", "preprocess_mean", "preprocess_std",
                                         "preprocess_mean_image", "input_height", "input_width"};
            gr = H5Gopen2(of, g, H5P_DEFAULT);
            for (size_t k = 0; !e && k < sizeof copy / sizeof *copy; k++) e = h5_copy_attr(src, gr, copy[k]);
            if (e) dt_preerr("%s (re-run deeptune features with this version)", o.features);
            H5Gclose(gr);
            if (src >= 0) H5Fclose(src);
        }
        if (gr >= 0) H5Gclose(gr);
        if (e) goto done;
    }
    if (H5Fclose(of) < 0) { of = H5I_INVALID_HID; dt_seterr("%s: error closing", o.out); goto done; }
    of = H5I_INVALID_HID;
    if (o.metrics) {
        FILE *mf = fopen(mout.tmp, "w");
        if (!mf) { dt_seterr("%s: cannot write", o.metrics); goto done; }
        fprintf(mf, "model,neuron,lambda,r_test,r2_test\n");
        for (size_t j = 0; j < m; j++) {
            char idx[32]; /* the neuron's id, or its index when the dataset has none */
            snprintf(idx, sizeof idx, "%zu", j);
            fprintf(mf, "%s,%s,%.9g,%.6f,%.6f\n", model, d.neuron_ids ? d.neuron_ids[j] : idx, fit.lambda[j], r[j], r2[j]);
        }
        if (fclose(mf) != 0) { dt_seterr("%s: write error", o.metrics); goto done; }
    }
    for (size_t j = 0; j < m; j++)
        if (fit.status[j] != RIDGE_OK)
            fprintf(stderr, "warning: neuron %zu skipped (%s); recorded in %s\n", j,
                    fit.status[j] == RIDGE_NO_DATA ? "no recorded responses on training stimuli" : "constant responses", o.out);
    if (dt_out_commit(&out) || (o.metrics && dt_out_commit(&mout))) goto done;
    if (!o.quiet) {
        double *v = dt_malloc(m * sizeof(double));
        int k = 0;
        for (size_t j = 0; v && j < m; j++)
            if (!isnan(r[j])) v[k++] = r[j];
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && v[b - 1] > v[b]; b--) { double t = v[b]; v[b] = v[b - 1]; v[b - 1] = t; }
        fprintf(stderr, "fit: %s: model %s, %zu neurons, %zu train / %zu test stimuli, %zu features; median test r %.3f\n", o.out,
                model, m, ntrain, ntest, p, k ? (k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2])) : NAN);
        free(v);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (ff >= 0) H5Fclose(ff);
    if (of >= 0) H5Fclose(of);
    dt_out_abort(&out);
    dt_out_abort(&mout);
    dataset_free(&d);
    if (lfit.w) lasso_fit_free(&lfit); /* fit then only borrows lfit's arrays */
    else ridge_fit_free(&fit);
    free(F); free(Xtr); free(Ytr); free(test); free(grid); free(r); free(r2);
    free(fnet); free(fsha); free(fweights); free(fwsha); free(layers); free(model);
    return rc;
}
