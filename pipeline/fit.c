/* fit.c — `deeptune fit`: readouts from one layer's features to every
 * neuron's responses (ridge, Lasso or elastic net), the regularisation
 * chosen per neuron by cross-validation on the training stimuli only,
 * evaluated on held-out test stimuli; optionally B bootstrap refits.
 * Writes (or adds to) a readouts file (format in docs/formats.md) and
 * optionally a metrics CSV.
 *
 * Data flow: the dataset's responses and split are read whole.  The layer's
 * features are read a block of stimuli at a time into two matrices: the
 * training stimuli feature-major (P x n_train, what the solvers take) and
 * the test stimuli row-major (n_test x P, for evaluation).  With time lags,
 * a design row holds the features of the stimulus and of the ones shown
 * lag stimuli before it, so P = lags x units; stimuli without a full history
 * are left out.  The test stimuli never reach the solvers, so no statistic,
 * lambda or weight sees them. */
#include "dataset.h"
#include "h5io.h"
#include "lasso.h"
#include "metrics.h"
#include "ridge.h"
#include "stages.h"
#include "util.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READOUTS_FORMAT "deeptune-readouts"
#define READOUTS_VERSION 1
#define MAX_LAGS 64
/* The largest |feature| and |response| fit takes.  The single-precision
 * ridge sums products of centred features and responses over up to 1e7
 * features and 1e5 stimuli in float: with values up to 1e9 every such sum
 * stays below 1e18 x 1e12 = 1e30, well under FLT_MAX (3.4e38), while 1e300
 * would overflow in double already and give NaN weights. */
#define FIT_MAX_ABS 1e9
/* status of a neuron whose fit gave non-finite weights (after 0..2 of
 * ridge.h): never fitted, weights zero, intercept NaN */
#define FIT_NONFINITE 3

typedef struct {
    const char *dataset, *features, *layer, *method, *out, *metrics, *name, *lambdas, *rule, *lags, *precision;
    int folds, nlambda, standardize, force, quiet, maxit, bootstrap, append;
    double test_fraction, alpha, lambda_ratio, tol;
    uint64_t seed;
} fit_opts;

static const fit_opts defaults = {.method = "ridge", .rule = "min", .lags = "0", .precision = "single", .folds = 5, .nlambda = 0, .maxit = 100000,
                                  .test_fraction = 0.2, .alpha = 0, .lambda_ratio = 0, .tol = 1e-7, .seed = 1};

static void usage(FILE *fp)
{
    const fit_opts *d = &defaults;
    fprintf(fp,
            "usage: deeptune fit -d DATASET.h5 -f FEATURES.h5 --layer L -o READOUTS.h5 [options]\n"
            "\n"
            "Fit a regularised linear readout from one layer's features to every neuron,\n"
            "choosing lambda per neuron by cross-validation on the training stimuli, and\n"
            "report held-out Pearson r and R^2 (noise-corrected too when the dataset has\n"
            "trials) on the test stimuli.\n"
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
            "      --precision P        ridge: single or double [%s].  single computes the\n"
            "                           Gram, its tridiagonal form and the well-conditioned\n"
            "                           CV solves in single precision, every orthogonal factor\n"
            "                           exact in double: the fit is exact for a Gram matrix\n"
            "                           within float rounding of the true one.  Used for\n"
            "                           K-fold CV without --standardize when features\n"
            "                           outnumber stimuli; the other cases run in double\n"
            "      --lags A:B | L,L,... time lags in stimuli, for stimuli shown in sequence\n"
            "                           (dataset order): the design holds the features of the\n"
            "                           stimuli shown 0..8 before with --lags 0:8 [%s]\n"
            "      --test-fraction F    held-out share when the dataset has no split [%g]\n"
            "      --bootstrap B        also fit B readouts on bootstrap resamples of the\n"
            "                           training stimuli, each at its neuron's chosen lambda;\n"
            "                           stored as models NAME#b1..NAME#bB [0]\n"
            "      --seed S             seed of the test split, the folds and the resamples [%llu]\n"
            "      --name NAME          model name [network:layer:method]\n"
            "  -o, --output FILE        readouts file\n"
            "      --append             add the model(s) to an existing readouts file of the\n"
            "                           same dataset (replaced only once complete)\n"
            "      --metrics FILE       CSV: model,neuron,lambda,r_test,r2_test\n"
            "                           [,r2_noise_corrected]\n"
            "      --force              replace outputs (or, with --append, a model of the\n"
            "                           same name) if they exist\n"
            "  -q, --quiet              no summary\n",
            d->method, d->folds, d->rule, d->tol, d->precision, d->lags, d->test_fraction, (unsigned long long)d->seed);
}

/* "A:B" (A..B), "L,L,..." or "L": sorted distinct lags in [0, 1000]. */
static int parse_lags(const char *s, int *lags, int *nl)
{
    char *end;
    long a = strtol(s, &end, 10);
    *nl = 0;
    if (end == s) return -1;
    if (*end == ':') {
        long b = strtol(end + 1, &end, 10);
        if (*end || a < 0 || b < a || b > 1000 || b - a + 1 > MAX_LAGS) return -1;
        for (long l = a; l <= b; l++) lags[(*nl)++] = (int)l;
        return 0;
    }
    for (;;) {
        if (a < 0 || a > 1000 || *nl == MAX_LAGS) return -1;
        for (int k = 0; k < *nl; k++)
            if (lags[k] >= a) return -1; /* increasing, distinct */
        lags[(*nl)++] = (int)a;
        if (!*end) return 0;
        if (*end != ',') return -1;
        s = end + 1;
        a = strtol(s, &end, 10);
        if (end == s) return -1;
    }
}


/* Copy a file (the readouts being appended to) into the temporary output. */
static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t k;
    int rc = 0;
    if (!a || !b) rc = dt_seterr("%s: cannot copy to %s (%s)", from, to, strerror(errno));
    while (!rc && (k = fread(buf, 1, sizeof buf, a)) > 0)
        if (fwrite(buf, 1, k, b) != k) rc = dt_seterr("%s: write error", to);
    if (a && ferror(a)) rc = dt_seterr("%s: read error", from);
    if (a) fclose(a);
    if (b && fclose(b) != 0 && !rc) rc = dt_seterr("%s: write error", to);
    return rc;
}

/* Everything one model group holds. */
typedef struct {
    const char *name, *method, *rule;
    int m, p, ngrid, bootstrap;
    const double *w, *b, *lambda, *grid, *cv, *cvse, *r, *r2, *r2nc;
    const int *nnz, *status;
    const int *resample;       /* (n) times each stimulus was drawn, bootstrap only */
} model_out;

static int write_model(hid_t of, const model_out *mo, const fit_opts *o, const char *fnet, const char *fweights,
                       const char *fwsha, const char *fsha, const int *lags, int nlags, const double *fshape,
                       const uint8_t *testmask, size_t n, size_t ntrain, size_t ntest, int has_split)
{
    char g[600], path[700];
    snprintf(g, sizeof g, "/models/%s", mo->name);
    hsize_t wd[2] = {(hsize_t)mo->m, (hsize_t)mo->p}, md = (hsize_t)mo->m, gd[2] = {(hsize_t)mo->m, (hsize_t)mo->ngrid}, nd = n;
#define W1(ds, type, mtype, rank, dims, data, z)                                                          \
    do {                                                                                                \
        snprintf(path, sizeof path, "%s/" ds, g);                                                       \
        if (h5_write(of, path, type, mtype, rank, dims, data, z)) return dt_preerr("%s", o->out);       \
    } while (0)
    W1("weights", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, wd, mo->w, 1);
    W1("intercepts", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, mo->b, 0);
    W1("lambda", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, mo->lambda, 0);
    if (mo->cv) {
        W1("lambda_grid", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, mo->grid, 0);
        W1("cv_mse", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, mo->cv, 0);
    }
    if (mo->cvse) W1("cv_se", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, gd, mo->cvse, 0);
    if (mo->nnz) W1("nonzero", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &md, mo->nnz, 0);
    W1("status", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &md, mo->status, 0);
    W1("r_test", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, mo->r, 0);
    W1("r2_test", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, mo->r2, 0);
    if (mo->r2nc) W1("r2_noise_corrected", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &md, mo->r2nc, 0);
    W1("test_stimuli", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &nd, testmask, 0);
    if (mo->resample) W1("resample_counts", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &nd, mo->resample, 0);
#undef W1
    hid_t gr = H5Gopen2(of, g, H5P_DEFAULT);
    double lg[MAX_LAGS];
    for (int k = 0; k < nlags; k++) lg[k] = lags[k];
    int e = gr < 0 || h5_attr_str(gr, "network", fnet) || h5_attr_str(gr, "layer", o->layer) ||
            h5_attr_str(gr, "method", mo->method) || h5_attr_f64(gr, "alpha", strcmp(mo->method, "ridge") ? o->alpha : 0) ||
            h5_attr_str(gr, "rule", mo->rule) || h5_attr_i64(gr, "folds", o->folds) ||
            h5_attr_i64(gr, "standardize", o->standardize) || h5_attr_i64(gr, "seed", (int64_t)o->seed) ||
            (!strcmp(mo->method, "ridge") && h5_attr_str(gr, "precision", o->precision)) ||
            h5_attr_f64v(gr, "feature_shape", 3, fshape) || h5_attr_f64v(gr, "lags", (size_t)nlags, lg) ||
            h5_attr_str(gr, "split", has_split ? "dataset" : "random test fraction") ||
            h5_attr_f64(gr, "test_fraction", (double)ntest / (double)n) || h5_attr_i64(gr, "n_train", (int64_t)ntrain) ||
            h5_attr_i64(gr, "bootstrap", mo->bootstrap) ||
            h5_attr_str(gr, "status_codes", "0 fitted, 1 no recorded responses, 2 constant responses, 3 non-finite fit") ||
            h5_attr_str(gr, "features", o->features) || h5_attr_str(gr, "features_sha256", fsha) ||
            h5_attr_str(gr, "weights", fweights) || h5_attr_str(gr, "weights_sha256", fwsha) ||
            h5_attr_str(gr, "deeptune_version", DEEPTUNE_VERSION) || h5_attr_str(gr, "command_line", dt_cmdline());
    if (e) dt_preerr("%s", o->out);
    if (!e && mo->bootstrap) {
        char parent[512];
        snprintf(parent, sizeof parent, "%.*s", (int)(strrchr(mo->name, '#') - mo->name), mo->name);
        e = h5_attr_str(gr, "bootstrap_of", parent);
        if (e) dt_preerr("%s", o->out);
    }
    /* what predict and tune need to rebuild image -> response: the network
     * spec and the preprocessing the features were made with */
    if (!e) {
        hid_t src = h5_open_ro(o->features);
        static const char *copy[] = {"network_spec", "preprocess_geometry", "preprocess_size", "preprocess_resize_to",
                                     "preprocess_bgr", "preprocess_scale", "preprocess_mean", "preprocess_std",
                                     "preprocess_mean_image", "input_height", "input_width"};
        for (size_t k = 0; !e && k < sizeof copy / sizeof *copy; k++) e = src < 0 || h5_copy_attr(src, gr, copy[k]);
        if (e) dt_preerr("%s (re-run deeptune features with this version)", o->features);
        if (src >= 0) H5Fclose(src);
    }
    if (gr >= 0) H5Gclose(gr);
    return e ? -1 : 0;
}

/* Held-out predictions Yhat (ntest, m) = Xte W^T + b, in double. */
static int predict_test(const float *Xte, size_t ntest, size_t P, const double *W, const double *b, size_t m, double *Yhat)
{
    enum { RB = 32 };
    double *xb = malloc(RB * P * sizeof(double));
    if (!xb) return dt_seterr("out of memory for the test predictions");
    for (size_t i0 = 0; i0 < ntest; i0 += RB) {
        size_t cnt = ntest - i0 < RB ? ntest - i0 : RB;
        for (size_t i = 0; i < cnt * P; i++) xb[i] = Xte[i0 * P + i];
        for (size_t i = 0; i < cnt; i++) memcpy(Yhat + (i0 + i) * m, b, m * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cnt, (int)m, (int)P, 1, xb, (int)P, W, (int)P, 1,
                    Yhat + i0 * m, (int)m);
    }
    free(xb);
    return 0;
}

/* r, r2 (and r2nc with trials) of every neuron on the test stimuli. */
static void evaluate(const double *Yte, const double *Tte, size_t R, const double *Yhat, size_t ntest, size_t m,
                     const int *status, double *r, double *r2, double *r2nc)
{
    double *col = malloc((ntest ? ntest : 1) * sizeof(double));
    for (size_t j = 0; j < m; j++) {
        r[j] = r2[j] = NAN;
        if (r2nc) r2nc[j] = NAN;
        if (status[j] != RIDGE_OK || !ntest || !col) continue;
        for (size_t i = 0; i < ntest; i++) col[i] = Yhat[i * m + j];
        score_r_r2(Yte + j, (int)m, col, (int)ntest, &r[j], &r2[j]);
        if (r2nc) r2nc[j] = r2_noise_corrected(Tte + j * R, (int)ntest, (int)R, (long)(m * R), 1, col, NULL, NULL);
    }
    free(col);
}

static double median(const double *x, size_t m)
{
    double *v = malloc((m ? m : 1) * sizeof(double)), med = NAN;
    size_t k = 0;
    for (size_t j = 0; v && j < m; j++)
        if (!isnan(x[j])) v[k++] = x[j];
    for (size_t a = 1; a < k; a++)
        for (size_t b = a; b > 0 && v[b - 1] > v[b]; b--) { double t = v[b]; v[b] = v[b - 1]; v[b - 1] = t; }
    if (k) med = k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
    free(v);
    return med;
}

static void metrics_rows(FILE *mf, const char *model, const dt_dataset *d, const double *lambda, const double *r,
                         const double *r2, const double *r2nc)
{
    for (size_t j = 0; j < d->m; j++) {
        char idx[32]; /* the neuron's id, or its index when the dataset has none */
        snprintf(idx, sizeof idx, "%zu", j);
        fprintf(mf, "%s,%s,%.9g,%.6f,%.6f", model, d->neuron_ids ? d->neuron_ids[j] : idx, lambda[j], r[j], r2[j]);
        if (r2nc) fprintf(mf, ",%.6f", r2nc[j]);
        fputc('\n', mf);
    }
}

/* The lagged design: training stimuli feature-major Xt (P, ntrain), test
 * stimuli row-major Xte (ntest, P), P = nlags * p, read from the features
 * file a block of stimuli at a time. */
static int read_design(hid_t ff, const char *ds, const char *fname, size_t n, size_t p, const int *lags, int nlags,
                       const size_t *trn, size_t ntrain, const size_t *tst, size_t ntest, float *Xt, float *Xte)
{
    enum { BLK = 128 };
    size_t P = (size_t)nlags * p;
    float *buf = malloc(BLK * p * sizeof(float));
    if (!buf) return dt_seterr("out of memory reading %s", fname);
    size_t *pairs = malloc(2 * (ntrain ? ntrain : 1) * sizeof(size_t));
    if (!pairs) { free(buf); return dt_seterr("out of memory reading %s", fname); }
    for (size_t i0 = 0; i0 < n; i0 += BLK) {
        size_t cnt = n - i0 < BLK ? n - i0 : BLK;
        if (h5_read_rows(ff, ds, H5T_NATIVE_FLOAT, i0, cnt, buf)) { free(buf); free(pairs); return dt_preerr("%s", fname); }
        for (size_t k = 0; k < cnt * p; k++)
            if (!(fabsf(buf[k]) <= (float)FIT_MAX_ABS)) {
                double v = buf[k];
                free(buf);
                free(pairs);
                if (!isfinite(v))
                    return dt_seterr("%s: %s: stimulus %zu, feature %zu is %g; the file is damaged: re-run deeptune features", fname, ds,
                                     i0 + k / p, k % p, v);
                return dt_seterr("%s: %s: stimulus %zu, feature %zu is %g, beyond the %g that fit takes; check the network's "
                                 "weights and preprocessing, and re-run deeptune features", fname, ds, i0 + k / p, k % p, v, FIT_MAX_ABS);
            }
        for (int l = 0; l < nlags; l++) {
            /* training stimuli whose lag-l stimulus is in this block */
            size_t np = 0;
            for (size_t t = 0; t < ntrain; t++) {
                size_t s = trn[t] - (size_t)lags[l];
                if (s >= i0 && s < i0 + cnt) { pairs[2 * np] = t; pairs[2 * np + 1] = s - i0; np++; }
            }
            for (size_t c = 0; np && c < p; c++) {
                float *dst = Xt + ((size_t)l * p + c) * ntrain;
                for (size_t q = 0; q < np; q++) dst[pairs[2 * q]] = buf[pairs[2 * q + 1] * p + c];
            }
            for (size_t t = 0; t < ntest; t++) {
                size_t s = tst[t] - (size_t)lags[l];
                if (s >= i0 && s < i0 + cnt) memcpy(Xte + t * P + (size_t)l * p, buf + (s - i0) * p, p * sizeof(float));
            }
        }
    }
    free(buf);
    free(pairs);
    return 0;
}

/* Responses (n, m, r) as fit takes them: NaN (not recorded) or finite and
 * at most FIT_MAX_ABS in magnitude. */
static int check_responses(const char *file, const char *ds, const double *v, size_t n, size_t m, size_t r)
{
    for (size_t k = 0; k < n * m * r; k++) {
        if (isnan(v[k]) || fabs(v[k]) <= FIT_MAX_ABS) continue;
        size_t i = k / (m * r), j = k / r % m;
        if (isinf(v[k]))
            return dt_seterr("%s: /%s: stimulus %zu, neuron %zu is %g; mark missing values as NaN and import again", file, ds, i, j, v[k]);
        return dt_seterr("%s: /%s: stimulus %zu, neuron %zu is %g; fit takes responses up to %g in magnitude, so rescale them "
                         "(e.g. to spikes/s or z-scores) and import again", file, ds, i, j, v[k], FIT_MAX_ABS);
    }
    return 0;
}

/* A neuron whose fit gave non-finite weights or intercept is not fitted:
 * status FIT_NONFINITE, zero weights, NaN intercept.  W (m, P), b (m). */
static void drop_nonfinite(double *W, double *b, size_t m, size_t P, int *status)
{
    for (size_t j = 0; j < m; j++) {
        if (status[j] != RIDGE_OK) continue;
        int ok = isfinite(b[j]);
        for (size_t c = 0; ok && c < P; c++) ok = isfinite(W[j * P + c]);
        if (ok) continue;
        status[j] = FIT_NONFINITE;
        memset(W + j * P, 0, P * sizeof *W);
        b[j] = NAN;
    }
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
        {"tol", required_argument, 0, 14},      {"lags", required_argument, 0, 15},      {"bootstrap", required_argument, 0, 16},
        {"append", no_argument, 0, 17},         {"precision", required_argument, 0, 18}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:f:l:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.dataset = optarg; break;
        case 'f': o.features = optarg; break;
        case 'l': o.layer = optarg; break;
        case 'o': o.out = optarg; break;
        case 1: o.method = optarg; break;
        case 2: bad = dt_arg_int("--folds", optarg, &o.folds); break;
        case 3: o.lambdas = optarg; break;
        case 4: bad = dt_arg_int("--nlambda", optarg, &o.nlambda); break;
        case 5: o.standardize = 1; break;
        case 6: bad = dt_arg_double("--test-fraction", optarg, &o.test_fraction); break;
        case 7: bad = dt_arg_u64("--seed", optarg, &o.seed); break;
        case 8: o.name = optarg; break;
        case 9: o.metrics = optarg; break;
        case 10: o.force = 1; break;
        case 11: bad = dt_arg_double("--alpha", optarg, &o.alpha); break;
        case 12: bad = dt_arg_double("--lambda-ratio", optarg, &o.lambda_ratio); break;
        case 13: o.rule = optarg; break;
        case 14: bad = dt_arg_double("--tol", optarg, &o.tol); break;
        case 15: o.lags = optarg; break;
        case 16: bad = dt_arg_int("--bootstrap", optarg, &o.bootstrap); break;
        case 17: o.append = 1; break;
        case 18: o.precision = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
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
    if (strcmp(o.precision, "single") && strcmp(o.precision, "double")) {
        fprintf(stderr, "error: --precision %s: use single or double\n", o.precision);
        return 2;
    }
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
    if (o.bootstrap < 0 || o.bootstrap > 10000) { fprintf(stderr, "error: --bootstrap %d: expected 0..10000 resamples\n", o.bootstrap); return 2; }
    int lags[MAX_LAGS], nlags = 0;
    if (parse_lags(o.lags, lags, &nlags)) {
        fprintf(stderr, "error: --lags %s: expected A:B (0 <= A <= B <= 1000, at most %d lags) or increasing lags L,L,...\n", o.lags,
                MAX_LAGS);
        return 2;
    }
    double *grid = NULL;
    int ngrid = o.nlambda;
    if (o.lambdas) {
        if (dt_arg_doubles("--lambdas", o.lambdas, &grid, &ngrid)) {
            fprintf(stderr, "error: %s\n", dt_lasterr());
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
    int rc = 1, appending = 0;
    dt_dataset d;
    memset(&d, 0, sizeof d);
    float *Xt = NULL, *Xte = NULL;
    double *Ytr = NULL, *Yte = NULL, *Tte = NULL, *Yhat = NULL, *r = NULL, *r2 = NULL, *r2nc = NULL, *Wb = NULL, *bb = NULL;
    size_t *trn = NULL, *tst = NULL;
    int *counts = NULL, *stop = NULL, *cfull = NULL, *bstatus = NULL;
    uint8_t *testmask = NULL;
    ridge_fit fit;
    memset(&fit, 0, sizeof fit);
    lasso_fit lfit;
    memset(&lfit, 0, sizeof lfit);
    char *fnet = NULL, *fsha = NULL, *fweights = NULL, *fwsha = NULL, *layers = NULL, *model = NULL, *models_attr = NULL;
    hid_t ff = H5I_INVALID_HID, of = H5I_INVALID_HID;
    FILE *mf = NULL;
    char dhex[65], fhex[65];

    appending = o.append && access(o.out, F_OK) == 0;
    if (dt_out_begin(&out, o.out, o.force || appending)) goto done;
    if (o.metrics && dt_out_begin(&mout, o.metrics, o.force)) goto done;
    if (dataset_read(o.dataset, &d, 0)) goto done;
    if (dt_sha256_file(o.dataset, dhex) || dt_sha256_file(o.features, fhex)) goto done;
    if (check_responses(o.dataset, "responses", d.resp, d.n, d.m, 1) ||
        (d.trials && check_responses(o.dataset, "trials", d.trials, d.n, d.m, d.r)))
        goto done;
    /* the features must come from this dataset */
    ff = h5_open_ro(o.features);
    if (ff < 0) goto done;
    if (!h5_is_format(ff, "deeptune-features")) { dt_seterr("%s: not a deeptune features file; make one with deeptune features", o.features); goto done; }
    fsha = h5_has_attr(ff, "dataset_sha256") ? h5_attr_get_str(ff, "dataset_sha256") : NULL;
    if (!fsha || strcmp(fsha, dhex)) {
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
    size_t n = d.n, p = 1, m = d.m, R = d.r;
    for (int k = 1; k < rank; k++) p *= dims[k];
    size_t P = (size_t)nlags * p;
    int maxlag = lags[nlags - 1];

    /* the model name, and the file it goes into */
    model = dt_malloc(strlen(fnet) + strlen(o.layer) + strlen(o.method) + (o.name ? strlen(o.name) : 0) + 32);
    if (!model) goto done;
    if (o.name) strcpy(model, o.name);
    else if (nlags > 1 || lags[0]) sprintf(model, "%s:%s:%s:lags%d-%d", fnet, o.layer, o.method, lags[0], maxlag);
    else sprintf(model, "%s:%s:%s", fnet, o.layer, o.method);
    if (!o.name) /* GoogLeNet's layer names have '/', which would nest the model's group */
        for (char *q = model; *q; q++)
            if (*q == '/') *q = '.';
    if (strchr(model, '/') || strchr(model, '#') || strchr(model, ',')) {
        dt_seterr("--name %s: a model name cannot contain '/', '#' or ','", model);
        goto done;
    }
    if (appending) {
        hid_t ef = h5_open_ro(o.out);
        if (ef < 0) goto done;
        int ok = h5_is_format(ef, READOUTS_FORMAT);
        char *esha = h5_has_attr(ef, "dataset_sha256") ? h5_attr_get_str(ef, "dataset_sha256") : NULL;
        models_attr = h5_has_attr(ef, "models") ? h5_attr_get_str(ef, "models") : dt_strdup("");
        char g[600];
        snprintf(g, sizeof g, "/models/%s", model);
        int clash = h5_exists(ef, g);
        H5Fclose(ef);
        if (!ok) { free(esha); dt_seterr("%s: not a deeptune readouts file; --append adds to one", o.out); goto done; }
        if (!esha || strcmp(esha, dhex)) {
            free(esha);
            dt_seterr("%s: fitted on a different dataset than %s (sha256 differs); write to another file", o.out, o.dataset);
            goto done;
        }
        free(esha);
        if (clash && !o.force) {
            dt_seterr("%s: already has a model '%s'; choose another --name, or pass --force to replace it", o.out, model);
            goto done;
        }
    }

    /* usable stimuli (a full history with lags), then test and training */
    testmask = dt_calloc(n, 1);
    trn = dt_malloc((n ? n : 1) * sizeof(size_t));
    tst = dt_malloc((n ? n : 1) * sizeof(size_t));
    if (!testmask || !trn || !tst) goto done;
    size_t ntest = 0, ntrain = 0, nuse = n > (size_t)maxlag ? n - (size_t)maxlag : 0;
    if (nuse < 2) { dt_seterr("--lags %s: %s has only %zu stimuli, too few for lags up to %d", o.lags, o.dataset, n, maxlag); goto done; }
    if (d.split) {
        for (size_t i = maxlag; i < n; i++) testmask[i] = d.split[i];
    } else if (o.test_fraction > 0) {
        int *perm = dt_malloc(nuse * sizeof(int));
        if (!perm) goto done;
        size_t want = (size_t)floor(o.test_fraction * (double)nuse + 0.5);
        ridge_folds(perm, (int)nuse, (int)nuse, o.seed ^ 0x5eed); /* a seeded permutation */
        for (size_t i = 0; i < nuse; i++) testmask[i + maxlag] = (size_t)perm[i] < want;
        free(perm);
    }
    for (size_t i = maxlag; i < n; i++) {
        if (testmask[i]) tst[ntest++] = i;
        else trn[ntrain++] = i;
    }
    if (ntrain < 2) { dt_seterr("%s: only %zu training stimuli; lower --test-fraction or change the split", o.dataset, ntrain); goto done; }
    Xt = dt_malloc(P * ntrain * sizeof(float));
    Xte = dt_malloc((ntest ? ntest : 1) * P * sizeof(float));
    Ytr = dt_malloc(ntrain * m * sizeof(double));
    Yte = dt_malloc((ntest ? ntest : 1) * m * sizeof(double));
    if (!Xt || !Xte || !Ytr || !Yte) goto done;
    if (read_design(ff, ds, o.features, n, p, lags, nlags, trn, ntrain, tst, ntest, Xt, Xte)) goto done;
    H5Fclose(ff);
    ff = H5I_INVALID_HID;
    for (size_t t = 0; t < ntrain; t++) memcpy(Ytr + t * m, d.resp + trn[t] * m, m * sizeof(double));
    for (size_t t = 0; t < ntest; t++) memcpy(Yte + t * m, d.resp + tst[t] * m, m * sizeof(double));
    if (d.trials && ntest) {
        Tte = dt_malloc(ntest * m * R * sizeof(double));
        if (!Tte) goto done;
        for (size_t t = 0; t < ntest; t++) memcpy(Tte + t * m * R, d.trials + tst[t] * m * R, m * R * sizeof(double));
    }

    long ncpu = dt_default_threads();
    lasso_opts lo2;
    lasso_opts_default(&lo2);
    if (is_ridge) {
        ridge_opts ro;
        ridge_opts_default(&ro);
        ro.nfolds = o.folds;
        ro.grid = grid;
        ro.ngrid = ngrid;
        ro.standardize = o.standardize;
        ro.seed = o.seed;
        ro.precision = strcmp(o.precision, "double") ? 1 : 2;
        if (ridge_fit_cv(Xt, (int)ntrain, (int)P, Ytr, (int)m, &ro, &fit)) { dt_preerr("%s", o.dataset); goto done; }
    } else {
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
        lo2.nthreads = ncpu > 0 ? (int)ncpu : 1;
        if (lasso_fit_cv(Xt, (int)ntrain, (int)P, Ytr, (int)m, &lo2, &lfit)) { dt_preerr("%s", o.dataset); goto done; }
        /* the common view of the two fits */
        fit.p = lfit.p; fit.m = lfit.m; fit.ngrid = lfit.nl;
        fit.w = lfit.w; fit.b = lfit.b; fit.lambda = lfit.lambda; fit.cv = lfit.cv; fit.grid = lfit.path; fit.status = lfit.status;
        ngrid = lfit.nl;
    }

    drop_nonfinite(fit.w, fit.b, m, P, fit.status);

    /* held-out evaluation */
    r = dt_malloc(m * sizeof(double));
    r2 = dt_malloc(m * sizeof(double));
    r2nc = Tte ? dt_malloc(m * sizeof(double)) : NULL;
    Yhat = dt_malloc((ntest ? ntest : 1) * m * sizeof(double));
    if (!r || !r2 || (Tte && !r2nc) || !Yhat) goto done;
    if (predict_test(Xte, ntest, P, fit.w, fit.b, m, Yhat)) goto done;
    evaluate(Yte, Tte, R, Yhat, ntest, m, fit.status, r, r2, r2nc);

    /* the readouts file: new, or a copy of the one appended to */
    if (appending ? copy_file(o.out, out.tmp) : 0) goto done;
    of = appending ? h5_open_rw(out.tmp) : h5_create(out.tmp);
    if (of < 0) goto done;
    if (!appending) {
        if (h5_provenance(of, READOUTS_FORMAT, READOUTS_VERSION) || h5_attr_str(of, "dataset", o.dataset) ||
            h5_attr_str(of, "dataset_sha256", dhex))
            goto werr;
        if (d.neuron_ids && h5_write_strings(of, "neuron_ids", m, d.neuron_ids)) goto werr;
    } else {
        char g[600];
        snprintf(g, sizeof g, "/models/%s", model);
        if (h5_exists(of, g) && H5Ldelete(of, g, H5P_DEFAULT) < 0) { dt_seterr("%s: cannot replace model %s", o.out, model); goto done; }
        for (int k = 1; k <= 100000; k++) { /* and its old bootstrap refits */
            snprintf(g, sizeof g, "/models/%s#b%d", model, k);
            if (!h5_exists(of, g)) break;
            H5Ldelete(of, g, H5P_DEFAULT);
        }
    }
    double fshape[3] = {(double)dims[1], rank == 4 ? (double)dims[2] : 1, rank == 4 ? (double)dims[3] : 1};
    model_out mo = {model, o.method, is_ridge ? "min" : o.rule, (int)m, (int)P, ngrid, 0, fit.w, fit.b, fit.lambda,
                    fit.grid, fit.cv, lfit.w ? lfit.cvse : NULL, r, r2, r2nc, lfit.w ? lfit.nnz : NULL, fit.status, NULL};
    if (write_model(of, &mo, &o, fnet, fweights, fwsha, fhex, lags, nlags, fshape, testmask, n, ntrain, ntest, d.split != NULL))
        goto done;
    if (o.metrics) {
        mf = fopen(mout.tmp, "w");
        if (!mf) { dt_seterr("%s: cannot write", o.metrics); goto done; }
        fprintf(mf, "model,neuron,lambda,r_test,r2_test%s\n", r2nc ? ",r2_noise_corrected" : "");
        metrics_rows(mf, model, &d, fit.lambda, r, r2, r2nc);
    }

    /* bootstrap refits at each neuron's chosen lambda */
    double main_med = median(r, m), boot_med_lo = INFINITY, boot_med_hi = -INFINITY;
    if (o.bootstrap) {
        Wb = dt_malloc(m * P * sizeof(double));
        bb = dt_malloc(m * sizeof(double));
        counts = dt_malloc(ntrain * sizeof(int));
        cfull = dt_calloc(n, sizeof(int));
        stop = dt_malloc(m * sizeof(int));
        bstatus = dt_malloc(m * sizeof(int));
        if (!Wb || !bb || !counts || !cfull || !stop || !bstatus) goto done;
        for (size_t j = 0; j < m; j++) { /* the chosen lambda's index on each Lasso path */
            stop[j] = -1;
            for (int k = 0; lfit.w && fit.status[j] == RIDGE_OK && k < ngrid; k++)
                if (lfit.path[j * ngrid + k] == lfit.lambda[j]) stop[j] = k;
        }
        char *bname = dt_malloc(strlen(model) + 16);
        if (!bname) goto done;
        for (int k = 1; k <= o.bootstrap; k++) {
            uint64_t s = o.seed * 0x100000001B3ull + (uint64_t)k;
            memset(counts, 0, ntrain * sizeof(int));
            for (size_t t = 0; t < ntrain; t++) counts[dt_splitmix(&s) % ntrain]++;
            for (size_t t = 0; t < ntrain; t++) cfull[trn[t]] = counts[t];
            int e = is_ridge ? ridge_refit(Xt, (int)ntrain, (int)P, Ytr, (int)m, counts, fit.lambda, o.standardize, Wb, bb)
                             : lasso_refit(Xt, (int)ntrain, (int)P, Ytr, (int)m, counts, lfit.path, ngrid, stop, &lo2, Wb, bb);
            memcpy(bstatus, fit.status, m * sizeof(int));
            if (!e) drop_nonfinite(Wb, bb, m, P, bstatus);
            if (e || predict_test(Xte, ntest, P, Wb, bb, m, Yhat)) { free(bname); dt_preerr("bootstrap %d", k); goto done; }
            evaluate(Yte, Tte, R, Yhat, ntest, m, bstatus, r, r2, r2nc);
            sprintf(bname, "%s#b%d", model, k);
            model_out mb = {bname, o.method, is_ridge ? "min" : o.rule, (int)m, (int)P, ngrid, k, Wb, bb, fit.lambda,
                            NULL, NULL, NULL, r, r2, r2nc, NULL, bstatus, cfull};
            if (write_model(of, &mb, &o, fnet, fweights, fwsha, fhex, lags, nlags, fshape, testmask, n, ntrain, ntest,
                            d.split != NULL)) {
                free(bname);
                goto done;
            }
            if (mf) metrics_rows(mf, bname, &d, fit.lambda, r, r2, r2nc);
            double med = median(r, m);
            boot_med_lo = fmin(boot_med_lo, med);
            boot_med_hi = fmax(boot_med_hi, med);
        }
        free(bname);
    }
    /* the list of models, in the order they were added */
    {
        size_t len = (models_attr ? strlen(models_attr) : 0) + strlen(model) + 2;
        char *list = dt_malloc(len);
        if (!list) goto done;
        list[0] = 0;
        if (models_attr && *models_attr) {
            /* drop a replaced entry */
            char *save = NULL, *tmp = dt_strdup(models_attr);
            for (char *tok = tmp ? strtok_r(tmp, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
                if (strcmp(tok, model)) { if (*list) strcat(list, ","); strcat(list, tok); }
            free(tmp);
        }
        if (*list) strcat(list, ",");
        strcat(list, model);
        int e = h5_attr_str(of, "models", list);
        free(list);
        if (e) goto werr;
    }
    if (H5Fclose(of) < 0) { of = H5I_INVALID_HID; dt_seterr("%s: error closing", o.out); goto done; }
    of = H5I_INVALID_HID;
    if (mf) {
        int e = fclose(mf);
        mf = NULL;
        if (e) { dt_seterr("%s: write error", o.metrics); goto done; }
    }
    for (size_t j = 0; j < m; j++)
        if (fit.status[j] != RIDGE_OK)
            fprintf(stderr, "warning: neuron %zu skipped (%s); recorded in %s\n", j,
                    fit.status[j] == RIDGE_NO_DATA    ? "no recorded responses on training stimuli"
                    : fit.status[j] == RIDGE_CONSTANT ? "constant responses"
                                                      : "the fit gave non-finite weights; try larger --lambdas or --precision double",
                    o.out);
    if (dt_out_commit(&out) || (o.metrics && dt_out_commit(&mout))) goto done;
    if (!o.quiet) {
        fprintf(stderr, "fit: %s: model %s, %zu neurons, %zu train / %zu test stimuli, %zu features; median test r %.3f\n", o.out,
                model, m, ntrain, ntest, P, main_med);
        if (o.bootstrap)
            fprintf(stderr, "fit: %d bootstrap refits %s#b1..%d: median test r from %.3f to %.3f\n", o.bootstrap, model, o.bootstrap,
                    boot_med_lo, boot_med_hi);
    }
    rc = 0;
    goto done;
werr: /* an error writing the readouts file: name it */
    dt_preerr("%s", o.out);
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (mf) fclose(mf);
    if (ff >= 0) H5Fclose(ff);
    if (of >= 0) H5Fclose(of);
    dt_out_abort(&out);
    dt_out_abort(&mout);
    dataset_free(&d);
    if (lfit.w) lasso_fit_free(&lfit); /* fit then only borrows lfit's arrays */
    else ridge_fit_free(&fit);
    free(Xt); free(Xte); free(Ytr); free(Yte); free(Tte); free(Yhat); free(r); free(r2); free(r2nc); free(Wb); free(bb);
    free(trn); free(tst); free(counts); free(cfull); free(stop); free(bstatus); free(testmask); free(grid);
    free(fnet); free(fsha); free(fweights); free(fwsha); free(layers); free(model); free(models_attr);
    return rc;
}
