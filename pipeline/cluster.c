/* cluster.c — `deeptune cluster`: group neurons by what they prefer, and
 * test whether the groups survive other models, initialisations, resamples
 * and embedding networks.
 *
 * Data flow: tune.h5 (images per neuron, variant and initialisation) ->
 * embeddings (n neurons, P) in memory -> condensed distances (GEMM) ->
 * linkage -> labels, cophenetic correlation, leaf order; with --stability
 * the same clustering of each perturbed embedding -> co-assignment,
 * Jaccard, ARI -> cluster.h5 (temporary name, renamed when complete) and
 * PNGs (temporary directory, renamed at the end). */
#include "clusterplot.h"
#include "embedder.h"
#include "ensemble.h"
#include "h5io.h"
#include "hclust.h"
#include "stages.h"
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

#define CLUSTER_FORMAT "deeptune-cluster"
#define CLUSTER_VERSION 1

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: deeptune cluster -t tune.h5 [embedding options] [--distance D] [--linkage L]\n"
            "                        [--k K | --height H] [--stability] -o cluster.h5 [--png-dir DIR]\n\n"
            "Hierarchical clustering of neurons by their DeepTune images (or readouts), with\n"
            "stability under every perturbation the inputs offer.\n\n"
            "  -t, --tune FILE          a deeptune tune output\n"
            "  -o, --output FILE        cluster.h5 to write\n"
            "embedding (one vector per neuron):\n"
            "      --embed KIND         features (default): the images through --embed-weights to\n"
            "                           --embed-layer; pixels; weights (the readout weights of\n"
            "                           --model); responses (--model's predicted responses to the\n"
            "                           dataset's stimuli, from its features file)\n"
            "      --image VARIANT      whose images: consensus (default when present) or a model\n"
            "      --model NAME         the model for --embed weights|responses [the tune run's first]\n"
            "      --embed-weights W.h5 network for --embed features [the tune run's embedding network]\n"
            "      --embed-layer L      its layer [the tune run's embedding layer]\n"
            "      --embed-spec FILE    spec file when W.h5 has no builtin spec and no readouts model used it\n"
            "      --min-r R            only neurons whose held-out r, averaged over the tune run's\n"
            "                           models, is at least R\n"
            "clustering:\n"
            "      --distance D         euclidean (default), cosine or correlation\n"
            "      --linkage L          ward (default; euclidean only), average, complete or single\n"
            "      --k K                flat clusters: exactly K [4, or the number of neurons if fewer]\n"
            "      --height H           flat clusters: cut the tree at height H instead\n"
            "      --precision P        single (default; SGEMM Gram) or double (DGEMM)\n"
            "stability:\n"
            "      --stability          recluster each initialisation, each single-model image\n"
            "                           (bootstrap refits among them) and each --stability-embed\n"
            "                           network; co-assignment, Jaccard (Hennig 2007), ARI\n"
            "      --stability-embed W.h5:LAYER[,W2.h5:LAYER2...]  other embedding networks\n"
            "output:\n"
            "      --png-dir DIR        dendrogram.png (+ .svg with the axis and labels),\n"
            "                           coassignment.png, similarity-n<J>.png\n"
            "      --png-neuron J       the neuron of the similarity picture [the first]\n"
            "      --threads N          threads for the network [all CPUs]\n"
            "      --force              replace outputs if they exist (only once complete)\n"
            "  -q, --quiet\n");
}

typedef enum { EMB_FEATURES, EMB_PIXELS, EMB_WEIGHTS, EMB_RESPONSES } emb_kind;

/* What the tune file holds, for the selected neurons. */
typedef struct {
    int n;              /* selected neurons */
    int *idx;           /* (n) tune neuron index */
    char **ids;         /* (n) neuron ids ("" when none) */
    double *r;          /* (n) mean held-out r over the models */
    int V, K, h, w, c;
    float *img;         /* (n, V, K, h, w, c) */
    char **variants;    /* (V) */
    size_t nvar;
    char **models;      /* (M) */
    size_t M;
    char *readouts, *readouts_sha, *emb_weights, *emb_layer; /* readouts_sha: NULL from an older tune file */
} tune_in;

static void tune_in_free(tune_in *t)
{
    free(t->idx);
    dt_strv_free(t->ids, (size_t)t->n);
    free(t->r);
    free(t->img);
    dt_strv_free(t->variants, t->nvar);
    dt_strv_free(t->models, t->M);
    free(t->readouts);
    free(t->readouts_sha);
    free(t->emb_weights);
    free(t->emb_layer);
}

/* the end of every message about a damaged tune file */
#define RETUNE "the tune file is damaged: make it again with deeptune tune"

/* The names under /neurons: each must be a neuron number. */
typedef struct { int *v; int n; char bad[128]; } intlist;

static herr_t list_neurons(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    (void)g; (void)info;
    intlist *l = op;
    char *end, canon[32];
    errno = 0;
    long j = strtol(name, &end, 10);
    snprintf(canon, sizeof canon, "%ld", j);
    /* the number as tune writes it: no sign, no leading zeros, no spaces */
    if (*end || errno || j < 0 || j > 0x7fffffff || strcmp(canon, name)) {
        snprintf(l->bad, sizeof l->bad, "%s", name);
        return 1; /* stops the iteration */
    }
    int *nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->v[l->n++] = (int)j;
    return 0;
}

static int intcmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The images of /neurons/<j> (V, K, h, w, c) into out, checking the shape:
 * the first neuron's sets it (out is NULL then), the others must match. */
static int read_images(hid_t f, int j, tune_in *t, float *out, int first)
{
    char name[64];
    snprintf(name, sizeof name, "/neurons/%d/images", j);
    hsize_t d[5] = {H5_ANY, H5_ANY, H5_ANY, H5_ANY, H5_ANY};
    if (!first) {
        d[0] = (hsize_t)t->V; d[1] = (hsize_t)t->K; d[2] = (hsize_t)t->h; d[3] = (hsize_t)t->w; d[4] = (hsize_t)t->c;
    }
    const char *why = first ? "variants, inits, h, w, c" : "variants, inits, h, w, c as the first neuron's";
    if (h5_read_expect(f, name, H5T_NATIVE_FLOAT, 5, d, why, RETUNE, out))
        return -1;
    if (first) { t->V = (int)d[0]; t->K = (int)d[1]; t->h = (int)d[2]; t->w = (int)d[3]; t->c = (int)d[4]; }
    return 0;
}

/* One neuron's group: its mean held-out r over the M models (the r_test
 * attribute, one value per model) and its id ("" when the dataset had
 * none).  A group that is not one, or whose attributes are missing or of
 * another kind, is an error: dropping the neuron would change the
 * clustering silently. */
static int read_neuron(hid_t f, const char *path, int j, size_t M, double *mr, char **id)
{
    char name[64];
    snprintf(name, sizeof name, "/neurons/%d", j);
    *id = NULL;
    *mr = NAN;
    hid_t o = H5Oopen(f, name, H5P_DEFAULT);
    H5I_type_t type = o >= 0 ? H5Iget_type(o) : H5I_BADID;
    if (o >= 0) H5Oclose(o);
    if (type != H5I_GROUP)
        return dt_seterr("%s: %s is %s, not the group of a tuned neuron; %s", path, name,
                         o < 0 ? "a broken link" : type == H5I_DATASET ? "a dataset" : "a named type", RETUNE);
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    if (g < 0) return dt_seterr("%s: cannot open group %s; %s", path, name, RETUNE);
    int rc = -1;
    double *r = dt_malloc((M ? M : 1) * sizeof *r);
    size_t got = 0;
    int64_t jj = j;
    if (!r) goto done;
    if (!h5_has_attr(g, "r_test")) { dt_seterr("%s: group %s: attribute 'r_test' is missing; %s", path, name, RETUNE); goto done; }
    if (h5_attr_get_f64v(g, "r_test", M, r, &got) || got != M) {
        if (!got) dt_seterr("%s: group %s: attribute 'r_test' is not numeric; %s", path, name, RETUNE);
        else dt_seterr("%s: group %s: attribute 'r_test' has %zu values, expected %zu (one per model of /models); %s", path, name,
                       got, M, RETUNE);
        goto done;
    }
    if (h5_has_attr(g, "neuron") && (h5_attr_get_i64(g, "neuron", &jj) || jj != j)) {
        dt_seterr("%s: group %s: attribute 'neuron' is not %d; %s", path, name, j, RETUNE);
        goto done;
    }
    if (h5_has_attr(g, "neuron_id") && !(*id = h5_attr_get_str(g, "neuron_id"))) {
        dt_seterr("%s: group %s: attribute 'neuron_id' is not a string; %s", path, name, RETUNE);
        goto done;
    }
    if (!*id && !(*id = dt_strdup(""))) goto done;
    if (M) {
        *mr = 0;
        for (size_t k = 0; k < M; k++) *mr += r[k] / (double)M;
    }
    rc = 0;
done:
    if (rc) { free(*id); *id = NULL; }
    free(r);
    H5Gclose(g);
    return rc;
}

static int tune_read(const char *path, double min_r, tune_in *t)
{
    memset(t, 0, sizeof *t);
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    intlist L = {0};
    int rc = -1;
    if (!h5_is_format(f, "deeptune-tune")) { dt_seterr("%s: not a deeptune tune file; make one with deeptune tune", path); goto done; }
    if (h5_check_version(f, path, "deeptune-tune", DT_TUNE_VERSION)) goto done;
    t->variants = h5_read_strings(f, "variants", &t->nvar);
    t->models = h5_read_strings(f, "models", &t->M);
    t->readouts = h5_attr_get_str(f, "readouts");
    if (h5_has_attr(f, "readouts_sha256")) t->readouts_sha = h5_attr_get_str(f, "readouts_sha256");
    t->emb_weights = h5_attr_get_str(f, "embedding_weights");
    t->emb_layer = h5_attr_get_str(f, "embedding_layer");
    if (!t->variants || !t->models || !t->readouts || !t->emb_weights || !t->emb_layer) {
        dt_preerr("%s", path);
        goto done;
    }
    hid_t g = H5Gopen2(f, "neurons", H5P_DEFAULT);
    if (g < 0) { dt_seterr("%s: no /neurons group; is it a complete deeptune tune output?", path); goto done; }
    herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, list_neurons, &L);
    H5Gclose(g);
    if (L.bad[0]) { dt_seterr("%s: /neurons/%s is not named by a neuron number; %s", path, L.bad, RETUNE); goto done; }
    if (it < 0) { dt_seterr("%s: cannot list /neurons", path); goto done; }
    qsort(L.v, (size_t)L.n, sizeof *L.v, intcmp);
    t->idx = dt_malloc((size_t)(L.n ? L.n : 1) * sizeof *t->idx);
    t->r = dt_malloc((size_t)(L.n ? L.n : 1) * sizeof *t->r);
    t->ids = dt_calloc((size_t)(L.n ? L.n : 1), sizeof *t->ids);
    if (!t->idx || !t->r || !t->ids) goto done;
    double best = -INFINITY;
    for (int i = 0; i < L.n; i++) {
        double mr;
        char *id;
        if (read_neuron(f, path, L.v[i], t->M, &mr, &id)) goto done;
        if (mr > best) best = mr;
        if (min_r > -INFINITY && !(mr >= min_r)) { free(id); continue; }
        t->idx[t->n] = L.v[i];
        t->r[t->n] = mr;
        t->ids[t->n++] = id;
    }
    if (t->n == 0) {
        if (L.n == 0) dt_seterr("%s: holds no tuned neurons", path);
        else dt_seterr("--min-r %g: no neuron of %s has a mean held-out r that high (best %.3f); lower --min-r", min_r, path, best);
        goto done;
    }
    if (read_images(f, t->idx[0], t, NULL, 1)) goto done;
    if ((size_t)t->V != t->nvar) {
        dt_seterr("%s: %d variants in the images but %zu names in /variants; %s", path, t->V, t->nvar, RETUNE);
        goto done;
    }
    size_t per = (size_t)t->V * t->K * t->h * t->w * t->c;
    t->img = dt_malloc((size_t)t->n * per * sizeof(float));
    if (!t->img) goto done;
    for (int i = 0; i < t->n; i++)
        if (read_images(f, t->idx[i], t, t->img + (size_t)i * per, 0)) goto done;
    rc = 0;
done:
    free(L.v);
    H5Fclose(f);
    return rc;
}

/* ---- readout-based embeddings ---- */

/* Split "file:model" labels (several readouts files) or a plain model name. */
static int model_file(const tune_in *t, const char *label, char **file, char **model)
{
    *file = *model = NULL;
    const char *colon = strchr(label, ':');
    int several = strchr(t->readouts, ',') != NULL;
    if (several && colon) {
        *file = strndup(label, (size_t)(colon - label));
        *model = dt_strdup(colon + 1);
    } else {
        *file = dt_strdup(t->readouts);
        *model = dt_strdup(label);
    }
    return *file && *model ? 0 : dt_seterr("out of memory");
}

/* Rows idx[0..n) of a (m, P) dataset of a model as float (n, P). */
static float *model_rows(hid_t f, const char *file, const char *model, const char *dset, const int *idx, int n, size_t *P)
{
    char path[700];
    snprintf(path, sizeof path, "/models/%s/%s", model, dset);
    int rank;
    hsize_t d[4];
    if (h5_shape(f, path, &rank, d, NULL, NULL) || rank != 2) {
        dt_seterr("%s: no model '%s' (dataset %s)", file, model, path);
        return NULL;
    }
    *P = (size_t)d[1];
    double *row = dt_malloc(*P * sizeof *row);
    float *out = dt_malloc((size_t)n * *P * sizeof *out);
    if (!row || !out) { free(row); free(out); return NULL; }
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || (hsize_t)idx[i] >= d[0] || h5_read_rows(f, path, H5T_NATIVE_DOUBLE, (hsize_t)idx[i], 1, row)) {
            dt_seterr("%s: model %s has no neuron %d", file, model, idx[i]);
            free(row);
            free(out);
            return NULL;
        }
        for (size_t k = 0; k < *P; k++) out[(size_t)i * *P + k] = (float)row[k];
    }
    free(row);
    return out;
}

/* The embedding of a model's readouts: its weights, or its predicted
 * responses to the stimuli of its features file (n, N). */
static float *readout_embedding(const tune_in *t, const char *label, emb_kind kind, size_t *P)
{
    char *file = NULL, *model = NULL, *feat = NULL, *layer = NULL;
    float *W = NULL, *out = NULL, *F = NULL;
    double *b = NULL;
    hid_t f = H5I_INVALID_HID, ff = H5I_INVALID_HID;
    if (model_file(t, label, &file, &model)) goto done;
    f = h5_open_ro(file);
    if (f < 0) goto done;
    W = model_rows(f, file, model, "weights", t->idx, t->n, P);
    if (!W) goto done;
    if (kind == EMB_WEIGHTS) { out = W; W = NULL; goto done; }
    char g[600];
    snprintf(g, sizeof g, "/models/%s", model);
    hid_t gid = H5Gopen2(f, g, H5P_DEFAULT);
    if (gid < 0) { dt_seterr("%s: no model %s", file, model); goto done; }
    feat = h5_attr_get_str(gid, "features");
    layer = h5_attr_get_str(gid, "layer");
    double lags[64];
    size_t nl = 0;
    int lagged = h5_has_attr(gid, "lags") && h5_attr_get_f64v(gid, "lags", 64, lags, &nl) == 0 && (nl > 1 || (nl == 1 && lags[0] != 0));
    H5Gclose(gid);
    if (!feat || !layer) { dt_preerr("%s: model %s", file, model); goto done; }
    if (lagged) { dt_seterr("%s: model %s is lagged; --embed responses needs a model of one image", file, model); goto done; }
    double *intercepts = NULL;
    size_t Pw = *P;
    {
        /* intercepts of the selected neurons */
        char path[700];
        snprintf(path, sizeof path, "/models/%s/intercepts", model);
        int rank;
        hsize_t d[4];
        if (h5_shape(f, path, &rank, d, NULL, NULL) || rank != 1) { dt_seterr("%s: model %s has no intercepts", file, model); goto done; }
        intercepts = dt_malloc((size_t)d[0] * sizeof *intercepts);
        b = dt_malloc((size_t)t->n * sizeof *b);
        if (!intercepts || !b || h5_read(f, path, H5T_NATIVE_DOUBLE, intercepts)) { free(intercepts); goto done; }
        for (int i = 0; i < t->n; i++) {
            if ((hsize_t)t->idx[i] >= d[0]) { free(intercepts); dt_seterr("%s: model %s has no neuron %d", file, model, t->idx[i]); goto done; }
            b[i] = intercepts[t->idx[i]];
        }
        free(intercepts);
    }
    ff = h5_open_ro(feat);
    if (ff < 0) goto done;
    char fpath[700];
    snprintf(fpath, sizeof fpath, "/features/%s", layer);
    int rank;
    hsize_t d[4];
    if (h5_shape(ff, fpath, &rank, d, NULL, NULL)) { dt_preerr("%s", feat); goto done; }
    size_t N = (size_t)d[0], Pf = 1;
    for (int k = 1; k < rank; k++) Pf *= (size_t)d[k];
    if (Pf != Pw) { dt_seterr("%s: layer %s has %zu units but model %s has %zu weights", feat, layer, Pf, model, Pw); goto done; }
    F = dt_malloc(N * Pf * sizeof *F);
    out = dt_malloc((size_t)t->n * N * sizeof *out);
    if (!F || !out || h5_read(ff, fpath, H5T_NATIVE_FLOAT, F)) { free(out); out = NULL; dt_preerr("%s", feat); goto done; }
    /* out (n, N) = W (n, P) F^T (P, N) + b */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->n, (int)N, (int)Pf, 1, W, (int)Pf, F, (int)Pf, 0, out, (int)N);
    for (int i = 0; i < t->n; i++)
        for (size_t s = 0; s < N; s++) out[(size_t)i * N + s] += (float)b[i];
    *P = N;
done:
    if (ff >= 0) H5Fclose(ff);
    if (f >= 0) H5Fclose(f);
    free(file); free(model); free(feat); free(layer); free(W); free(F); free(b);
    return out;
}

/* ---- clustering one embedding ---- */

typedef struct {
    hc_metric metric;
    hc_method method;
    int precision;
    int k;              /* > 0: cut at k */
    double height;      /* used when k == 0 */
} clu_opts;

/* Check the embedding is finite (naming the neuron), then distances,
 * linkage, labels.  D (condensed) is kept when Dkeep is not NULL. */
static int cluster_one(const float *X, const tune_in *t, size_t P, const clu_opts *o, const char *what, double *Z, int *labels,
                       double *Dkeep, int *kout)
{
    size_t n = (size_t)t->n;
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < P; q++)
            if (!isfinite(X[i * P + q]))
                return dt_seterr("%s: the embedding of neuron %d%s%s%s has a non-finite value (unit %zu); check its images or readouts",
                                 what, t->idx[i], *t->ids[i] ? " (" : "", t->ids[i], *t->ids[i] ? ")" : "", q);
    if (o->metric != HC_EUCLIDEAN)
        for (size_t i = 0; i < n; i++) {
            double m = 0, ss = 0;
            const float *x = X + i * P;
            if (o->metric == HC_CORRELATION) {
                for (size_t q = 0; q < P; q++) m += x[q];
                m /= (double)P;
            }
            for (size_t q = 0; q < P; q++) ss += (x[q] - m) * (x[q] - m);
            if (!(ss > 0))
                return dt_seterr("%s: the embedding of neuron %d%s%s%s has %s, so its %s distance is undefined; use --distance euclidean",
                                 what, t->idx[i], *t->ids[i] ? " (" : "", t->ids[i], *t->ids[i] ? ")" : "",
                                 o->metric == HC_COSINE ? "zero length" : "zero variance", hc_metric_name(o->metric));
        }
    size_t N = n * (n - 1) / 2;
    double *D = dt_malloc((N ? N : 1) * sizeof *D);
    if (!D) return -1;
    int rc = -1;
    if (hc_pdist(X, n, P, o->metric, o->precision, D)) {
        dt_preerr("%s", what);
        goto done;
    }
    if (Dkeep) memcpy(Dkeep, D, N * sizeof *D);
    if (hc_linkage(D, n, o->method, Z)) goto done;
    if (o->k > 0) {
        if (hc_cut_k(Z, n, o->k, labels)) goto done;
        *kout = o->k;
    } else {
        int k = hc_cut_height(Z, n, o->height, labels);
        if (k < 0) goto done;
        *kout = k;
    }
    rc = 0;
done:
    free(D);
    return rc;
}

/* Mean over the K inits of variant v's embeddings E (n, V, K, P) -> X (n, P). */
static void mean_over_inits(const float *E, int n, int V, int K, size_t P, int v, float *X)
{
    for (int i = 0; i < n; i++) {
        float *x = X + (size_t)i * P;
        memset(x, 0, P * sizeof *x);
        for (int k = 0; k < K; k++) {
            const float *e = E + (((size_t)i * V + v) * K + k) * P;
            for (size_t q = 0; q < P; q++) x[q] += e[q] / (float)K;
        }
    }
}

static double pearson(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double u = a[i] - ma, v = b[i] - mb;
        sab += u * v; saa += u * u; sbb += v * v;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

typedef struct {
    char *name, *kind;
    int *labels;
} perturbation;

int cmd_cluster(int argc, char **argv)
{
    const char *tune = NULL, *out = NULL, *pngdir = NULL, *embed = "features", *image = NULL, *model = NULL, *ew = NULL,
               *el = NULL, *espec = NULL, *stab_embed = NULL, *dist = "euclidean", *link = "ward", *prec = "single";
    double min_r = -INFINITY, height = NAN;
    int k = 0, stability = 0, force = 0, quiet = 0, threads = 0, png_neuron = -1;
    static const struct option lo[] = {
        {"tune", required_argument, 0, 't'},         {"output", required_argument, 0, 'o'},      {"embed", required_argument, 0, 1},
        {"image", required_argument, 0, 2},          {"model", required_argument, 0, 3},         {"embed-weights", required_argument, 0, 4},
        {"embed-layer", required_argument, 0, 5},    {"embed-spec", required_argument, 0, 6},    {"min-r", required_argument, 0, 7},
        {"distance", required_argument, 0, 8},       {"linkage", required_argument, 0, 9},       {"k", required_argument, 0, 10},
        {"height", required_argument, 0, 11},        {"precision", required_argument, 0, 12},    {"stability", no_argument, 0, 13},
        {"stability-embed", required_argument, 0, 14}, {"png-dir", required_argument, 0, 15},   {"png-neuron", required_argument, 0, 16},
        {"threads", required_argument, 0, 17},       {"force", no_argument, 0, 18},              {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 't': tune = optarg; break;
        case 'o': out = optarg; break;
        case 1: embed = optarg; break;
        case 2: image = optarg; break;
        case 3: model = optarg; break;
        case 4: ew = optarg; break;
        case 5: el = optarg; break;
        case 6: espec = optarg; break;
        case 7: bad = dt_arg_double("--min-r", optarg, &min_r); break;
        case 8: dist = optarg; break;
        case 9: link = optarg; break;
        case 10: if ((bad = dt_arg_int("--k", optarg, &k))) break; if (k < 1) { fprintf(stderr, "error: --k %s: expected a number of clusters >= 1\n", optarg); return 2; } break;
        case 11: if ((bad = dt_arg_double("--height", optarg, &height))) break; if (!(height >= 0)) { fprintf(stderr, "error: --height %s: expected a height >= 0\n", optarg); return 2; } break;
        case 12: prec = optarg; break;
        case 13: stability = 1; break;
        case 14: stab_embed = optarg; break;
        case 15: pngdir = optarg; break;
        case 16: bad = dt_arg_int("--png-neuron", optarg, &png_neuron); break;
        case 17: bad = dt_arg_int("--threads", optarg, &threads); break;
        case 18: force = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
    }
    if (optind < argc) { fprintf(stderr, "error: cluster: unexpected argument '%s'; see deeptune cluster -h\n", argv[optind]); return 2; }
    if (threads < 0 || threads > 256) { fprintf(stderr, "error: --threads %d: expected 1..256, or 0 for all CPUs\n", threads); return 2; }
    if (!tune || !out) { fprintf(stderr, "error: cluster needs --tune and --output; see deeptune cluster -h\n"); return 2; }
    clu_opts co = {0};
    emb_kind kind;
    if (!strcmp(embed, "features")) kind = EMB_FEATURES;
    else if (!strcmp(embed, "pixels")) kind = EMB_PIXELS;
    else if (!strcmp(embed, "weights")) kind = EMB_WEIGHTS;
    else if (!strcmp(embed, "responses")) kind = EMB_RESPONSES;
    else { fprintf(stderr, "error: --embed %s: use features, pixels, weights or responses\n", embed); return 2; }
    int mt = hc_metric_parse(dist), me = hc_method_parse(link);
    if (mt < 0) { fprintf(stderr, "error: --distance %s: use euclidean, cosine or correlation\n", dist); return 2; }
    if (me < 0) { fprintf(stderr, "error: --linkage %s: use ward, average, complete or single\n", link); return 2; }
    if (me == HC_WARD && mt != HC_EUCLIDEAN) {
        fprintf(stderr, "error: --linkage ward needs --distance euclidean (Ward's criterion is a Euclidean variance); use average, complete or single with %s\n", dist);
        return 2;
    }
    if (!strcmp(prec, "single")) co.precision = 1;
    else if (!strcmp(prec, "double")) co.precision = 2;
    else { fprintf(stderr, "error: --precision %s: use single or double\n", prec); return 2; }
    if (k && !isnan(height)) { fprintf(stderr, "error: give --k or --height, not both\n"); return 2; }
    co.metric = (hc_metric)mt;
    co.method = (hc_method)me;
    co.height = height;
    if (stability && !isnan(height)) { fprintf(stderr, "error: --stability compares clusterings at --k clusters; give --k instead of --height\n"); return 2; }
    threads = dt_threads(threads);

    int rc = 1;
    dt_outfile of = {0};
    tune_in t;
    memset(&t, 0, sizeof t);
    embedder E;
    memset(&E, 0, sizeof E);
    float *Emb = NULL, *X = NULL;
    double *Z = NULL, *D = NULL, *coph = NULL;
    int *labels = NULL, *leaves = NULL;
    perturbation *pert = NULL;
    int P_n = 0;
    char *tmpdir = NULL, *stab_list = NULL, *pngbuf = NULL;
    hid_t f = H5I_INVALID_HID;
    size_t P = 0;
    int vref = -1;

    if (dt_out_begin(&of, out, force)) goto done;
    if (pngdir) {
        if (dt_dir_begin(pngdir, force, "--png-dir", &pngbuf, &tmpdir)) goto done;
        pngdir = pngbuf;
    }
    if (tune_read(tune, min_r, &t)) goto done;
    if ((kind == EMB_WEIGHTS || kind == EMB_RESPONSES) && ensemble_check_files(tune, t.readouts, t.readouts_sha)) goto done;
    size_t n = (size_t)t.n;
    if (k == 0 && isnan(height)) k = n < 4 ? (int)n : 4;
    co.k = k;
    if (k > t.n) {
        dt_seterr("--k %d: only %d neurons%s; choose k <= %d", k, t.n, min_r > -INFINITY ? " pass --min-r" : "", t.n);
        goto done;
    }
    if (n < 2) { dt_seterr("%s: only one neuron%s; clustering needs at least two", tune, min_r > -INFINITY ? " after --min-r" : ""); goto done; }
    /* the reference variant */
    for (int v = 0; v < t.V; v++)
        if (image ? !strcmp(t.variants[v], image) : !strcmp(t.variants[v], "consensus")) vref = v;
    if (vref < 0 && !image) vref = 0;
    if (vref < 0) {
        char list[2048] = "";
        for (int v = 0; v < t.V; v++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", v ? ", " : "", t.variants[v]);
        dt_seterr("--image %s: %s has no such variant; it has %s", image, tune, list);
        goto done;
    }
    if (png_neuron >= 0) {
        int found = 0;
        for (int i = 0; i < t.n; i++) found |= t.idx[i] == png_neuron;
        if (!found) { dt_seterr("--png-neuron %d: not among the clustered neurons of %s", png_neuron, tune); goto done; }
    }
    if (!ew) ew = t.emb_weights;
    if (!el) el = t.emb_layer;

    /* embeddings of every (neuron, variant, init) image, or the readouts' */
    size_t px = (size_t)t.h * t.w * t.c, nimg = n * t.V * t.K;
    if (kind == EMB_FEATURES) {
        if (embedder_open(&E, ew, espec, el, t.readouts, t.h, t.w, threads)) goto done;
        P = E.P;
        Emb = dt_malloc(nimg * P * sizeof *Emb);
        if (!Emb || embedder_run(&E, t.img, nimg, t.c, Emb)) goto done;
    } else if (kind == EMB_PIXELS) {
        P = px;
        Emb = t.img;   /* borrowed */
    } else {
        const char *mname = model ? model : t.models[0];
        Emb = readout_embedding(&t, mname, kind, &P);
        if (!Emb) goto done;
    }
    int image_based = kind == EMB_FEATURES || kind == EMB_PIXELS;
    X = dt_malloc(n * P * sizeof *X);
    Z = dt_malloc((n - 1) * 4 * sizeof *Z);
    D = dt_malloc(n * (n - 1) / 2 * sizeof *D);
    coph = dt_malloc(n * (n - 1) / 2 * sizeof *coph);
    labels = dt_malloc(n * sizeof *labels);
    leaves = dt_malloc(n * sizeof *leaves);
    if (!X || !Z || !D || !coph || !labels || !leaves) goto done;
    if (image_based) mean_over_inits(Emb, t.n, t.V, t.K, P, vref, X);
    else memcpy(X, Emb, n * P * sizeof *X);
    int kfound = 0;
    double cc = NAN;
    if (cluster_one(X, &t, P, &co, tune, Z, labels, D, &kfound) || hc_cophenetic(Z, n, D, coph, &cc) || hc_leaves(Z, n, leaves))
        goto done;

    /* stability: recluster every perturbation the inputs offer */
    if (stability) {
        size_t cap = (size_t)t.K + (size_t)t.V + t.M + 1;
        for (const char *q = stab_embed; q && *q; q++) cap += *q == ',';
        cap += stab_embed ? 1 : 0;
        pert = dt_calloc(cap, sizeof *pert);
        if (!pert) goto done;
        float *Xp = dt_malloc(n * P * sizeof *Xp);
        double *Zp = dt_malloc((n - 1) * 4 * sizeof *Zp);
        if (!Xp || !Zp) { free(Xp); free(Zp); goto done; }
        int err = 0;
#define ADD_PERT(nm, kd, XX, PP)                                                                     \
    do {                                                                                          \
        perturbation *pp = &pert[P_n];                                                            \
        pp->name = dt_strdup(nm);                                                                 \
        pp->kind = dt_strdup(kd);                                                                 \
        pp->labels = dt_malloc(n * sizeof(int));                                                  \
        int kk = 0;                                                                               \
        if (!pp->name || !pp->kind || !pp->labels ||                                              \
            cluster_one(XX, &t, PP, &co, pp->name, Zp, pp->labels, NULL, &kk)) err = 1;           \
        P_n++;                                                                                    \
    } while (0)
        if (image_based) {
            /* each initialisation of the reference variant */
            for (int kk = 0; !err && t.K > 1 && kk < t.K; kk++) {
                for (size_t i = 0; i < n; i++)
                    memcpy(Xp + i * P, Emb + ((i * t.V + vref) * t.K + kk) * P, P * sizeof *Xp);
                char nm[64];
                snprintf(nm, sizeof nm, "init %d", kk);
                ADD_PERT(nm, "initialisation", Xp, P);
            }
            /* each single-model image (bootstrap refits are models too) */
            for (int v = 0; !err && v < t.V; v++) {
                if (v == vref || !strcmp(t.variants[v], "consensus")) continue;
                mean_over_inits(Emb, t.n, t.V, t.K, P, v, Xp);
                ADD_PERT(t.variants[v], strstr(t.variants[v], "#b") ? "bootstrap" : "model", Xp, P);
            }
        } else {
            /* the other models' readouts of the tune run, where comparable */
            for (size_t m = 0; !err && m < t.M; m++) {
                const char *mname = model ? model : t.models[0];
                if (!strcmp(t.models[m], mname)) continue;
                size_t Pm = 0;
                float *Xm = readout_embedding(&t, t.models[m], kind, &Pm);
                if (!Xm) { err = 1; break; }
                if (Pm == P || kind == EMB_RESPONSES) ADD_PERT(t.models[m], strstr(t.models[m], "#b") ? "bootstrap" : "model", Xm, Pm);
                free(Xm);
            }
        }
        /* other embedding networks */
        if (!err && stab_embed) {
            if (!image_based) { dt_seterr("--stability-embed needs an image embedding (--embed features)"); err = 1; }
            stab_list = dt_strdup(stab_embed);
            char *save = NULL;
            for (char *it = stab_list ? strtok_r(stab_list, ",", &save) : NULL; !err && it; it = strtok_r(NULL, ",", &save)) {
                char *colon = strrchr(it, ':');
                if (!colon) { dt_seterr("--stability-embed %s: expected WEIGHTS.h5:LAYER", it); err = 1; break; }
                *colon = 0;
                embedder E2;
                if (embedder_open(&E2, it, NULL, colon + 1, t.readouts, t.h, t.w, threads)) { err = 1; break; }
                float *E2emb = dt_malloc(n * t.K * E2.P * sizeof *E2emb), *imgs = dt_malloc(n * t.K * px * sizeof *imgs);
                float *X2 = dt_malloc(n * E2.P * sizeof *X2);
                if (!E2emb || !imgs || !X2) err = 1;
                for (size_t i = 0; !err && i < n; i++)
                    memcpy(imgs + i * t.K * px, t.img + (i * t.V + vref) * t.K * px, t.K * px * sizeof *imgs);
                if (!err && embedder_run(&E2, imgs, n * t.K, t.c, E2emb)) err = 1;
                if (!err) {
                    mean_over_inits(E2emb, t.n, 1, t.K, E2.P, 0, X2);
                    char nm[700];
                    snprintf(nm, sizeof nm, "%s:%s", dt_basename(it), colon + 1);
                    ADD_PERT(nm, "embedding network", X2, E2.P);
                }
                free(E2emb); free(imgs); free(X2);
                embedder_free(&E2);
            }
        }
#undef ADD_PERT
        free(Xp);
        free(Zp);
        if (err) goto done;
        if (P_n == 0) {
            dt_seterr("--stability: %s offers no perturbation (one initialisation, no single-model images); tune with --inits > 1 or "
                      "single-model runs, or pass --stability-embed",
                      tune);
            goto done;
        }
    }

    /* write */
    f = h5_create(of.tmp);
    if (f < 0 || h5_provenance(f, CLUSTER_FORMAT, CLUSTER_VERSION) || h5_attr_str(f, "tune", tune) ||
        h5_attr_str(f, "embedding", embed) || h5_attr_str(f, "image", t.variants[vref]) ||
        (kind == EMB_FEATURES && (h5_attr_str(f, "embedding_weights", ew) || h5_attr_str(f, "embedding_layer", el))) ||
        (!image_based && h5_attr_str(f, "model", model ? model : t.models[0])) || h5_attr_str(f, "distance", dist) ||
        h5_attr_str(f, "linkage", link) || h5_attr_str(f, "precision", prec) || h5_attr_i64(f, "k", kfound) ||
        h5_attr_f64(f, "height", height) || h5_attr_f64(f, "min_r", min_r) || h5_attr_f64(f, "cophenetic_correlation", cc))
        goto done;
    {
        int e2 = h5_write(f, "neurons", H5T_STD_I32LE, H5T_NATIVE_INT, 1, (hsize_t[]){n}, t.idx, 0) ||
                 h5_write_strings(f, "neuron_ids", n, t.ids) ||
                 h5_write(f, "r_test", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){n}, t.r, 0) ||
                 h5_write(f, "embedding", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){n, P}, X, 0) ||
                 h5_write(f, "distances", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){n * (n - 1) / 2}, D, 0) ||
                 h5_write(f, "linkage", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, (hsize_t[]){n - 1, 4}, Z, 0) ||
                 h5_write(f, "cophenetic", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){n * (n - 1) / 2}, coph, 0) ||
                 h5_write(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT, 1, (hsize_t[]){n}, labels, 0) ||
                 h5_write(f, "leaf_order", H5T_STD_I32LE, H5T_NATIVE_INT, 1, (hsize_t[]){n}, leaves, 0);
        if (e2) goto done;
    }
    /* similarity of each neuron's images across models and inits */
    float *co_m = NULL;
    double *sim_models = NULL, *sim_inits = NULL;
    if (image_based) {
        sim_models = dt_malloc(n * t.V * t.V * sizeof *sim_models);
        sim_inits = dt_malloc(n * t.V * t.K * t.K * sizeof *sim_inits);
        float *mv = dt_malloc((size_t)t.V * P * sizeof *mv);
        if (!sim_models || !sim_inits || !mv) { free(mv); free(sim_models); free(sim_inits); goto done; }
        for (size_t i = 0; i < n; i++) {
            for (int v = 0; v < t.V; v++) {
                mean_over_inits(Emb + i * t.V * t.K * P, 1, t.V, t.K, P, v, mv + (size_t)v * P);
                for (int a = 0; a < t.K; a++)
                    for (int b = 0; b < t.K; b++)
                        sim_inits[((i * t.V + v) * t.K + a) * t.K + b] =
                            pearson(Emb + ((i * t.V + v) * t.K + a) * P, Emb + ((i * t.V + v) * t.K + b) * P, P);
            }
            for (int a = 0; a < t.V; a++)
                for (int b = 0; b < t.V; b++) sim_models[(i * t.V + a) * t.V + b] = pearson(mv + (size_t)a * P, mv + (size_t)b * P, P);
        }
        free(mv);
        int e2 = h5_write_strings(f, "variants", (size_t)t.V, t.variants) ||
                 h5_write(f, "similarity_models", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, (hsize_t[]){n, t.V, t.V}, sim_models, 0) ||
                 h5_write(f, "similarity_inits", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, (hsize_t[]){n, t.V, t.K, t.K}, sim_inits, 0);
        if (e2) { free(sim_models); free(sim_inits); goto done; }
    }
    double *jac = NULL, *jmean = NULL, *ari = NULL, *arim = NULL;
    if (stability) {
        const int **lp = dt_malloc((size_t)(P_n + 1) * sizeof *lp);
        int *lab_all = dt_malloc((size_t)P_n * n * sizeof *lab_all);
        char **names = dt_malloc((size_t)P_n * sizeof *names), **kinds = dt_malloc((size_t)P_n * sizeof *kinds);
        co_m = dt_malloc(n * n * sizeof *co_m);
        jac = dt_malloc((size_t)P_n * kfound * sizeof *jac);
        jmean = dt_malloc((size_t)kfound * sizeof *jmean);
        ari = dt_malloc((size_t)P_n * sizeof *ari);
        arim = dt_malloc((size_t)(P_n + 1) * (P_n + 1) * sizeof *arim);
        int e2 = !lp || !lab_all || !names || !kinds || !co_m || !jac || !jmean || !ari || !arim;
        if (!e2) {
            for (int p = 0; p < P_n; p++) {
                lp[p] = pert[p].labels;
                names[p] = pert[p].name;
                kinds[p] = pert[p].kind;
                memcpy(lab_all + (size_t)p * n, pert[p].labels, n * sizeof(int));
                ari[p] = hc_ari(labels, pert[p].labels, n);
            }
            hc_coassign(lp, P_n, n, co_m);
            e2 = hc_jaccard(labels, kfound, lp, P_n, n, jac, jmean);
            lp[P_n] = labels;   /* the reference last in the ARI matrix */
            for (int a = 0; a <= P_n; a++)
                for (int b = 0; b <= P_n; b++) arim[a * (P_n + 1) + b] = hc_ari(lp[a], lp[b], n);
        }
        e2 = e2 || h5_write_strings(f, "stability/perturbations", (size_t)P_n, names) ||
             h5_write_strings(f, "stability/kinds", (size_t)P_n, kinds) ||
             h5_write(f, "stability/labels", H5T_STD_I32LE, H5T_NATIVE_INT, 2, (hsize_t[]){(hsize_t)P_n, n}, lab_all, 0) ||
             h5_write(f, "stability/coassignment", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){n, n}, co_m, 0) ||
             h5_write(f, "stability/jaccard", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, (hsize_t[]){(hsize_t)P_n, (hsize_t)kfound}, jac, 0) ||
             h5_write(f, "stability/jaccard_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){(hsize_t)kfound}, jmean, 0) ||
             h5_write(f, "stability/ari", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){(hsize_t)P_n}, ari, 0) ||
             h5_write(f, "stability/ari_matrix", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, (hsize_t[]){(hsize_t)P_n + 1, (hsize_t)P_n + 1}, arim, 0);
        free(lp); free(lab_all); free(names); free(kinds);
        if (e2) { free(co_m); free(jac); free(jmean); free(ari); free(arim); free(sim_models); free(sim_inits); goto done; }
    }
    if (H5Fclose(f) < 0) { f = H5I_INVALID_HID; dt_seterr("%s: error closing", out); goto done; }
    f = H5I_INVALID_HID;

    /* pictures */
    int e3 = 0;
    if (pngdir) {
        {
            /* thumbnails: the reference variant's first initialisation */
            float *thumbs = NULL;
            if (image_based) {
                thumbs = dt_malloc(n * px * sizeof *thumbs);
                if (!thumbs) e3 = 1;
                for (size_t i = 0; !e3 && i < n; i++) memcpy(thumbs + i * px, t.img + (i * t.V + vref) * t.K * px, px * sizeof *thumbs);
            }
            clusterplot_tree tr = {n, Z, labels, kfound, leaves, t.idx, (const char *const *)t.ids, thumbs, t.h, t.w, t.c};
            char path[4096];
            snprintf(path, sizeof path, "%s/dendrogram", tmpdir);
            e3 = e3 || clusterplot_dendrogram(&tr, path);
            if (!e3 && stability) {
                snprintf(path, sizeof path, "%s/coassignment.png", tmpdir);
                char **lab = dt_malloc(n * sizeof *lab);
                for (size_t i = 0; lab && i < n; i++) {
                    lab[i] = dt_malloc(strlen(t.ids[i]) + 16);
                    if (lab[i]) {
                        if (*t.ids[i]) snprintf(lab[i], strlen(t.ids[i]) + 16, "%s", t.ids[i]);
                        else snprintf(lab[i], 16, "n%d", t.idx[i]);
                    }
                }
                e3 = !lab || clusterplot_matrix(co_m, (int)n, leaves, 0, 1, path, (const char *const *)lab);
                for (size_t i = 0; lab && i < n; i++) free(lab[i]);
                free(lab);
            }
            if (!e3 && image_based) {
                int pi = 0;
                for (int i = 0; i < t.n; i++)
                    if (t.idx[i] == png_neuron) pi = i;
                snprintf(path, sizeof path, "%s/similarity-n%d.png", tmpdir, t.idx[pi]);
                float *sm = dt_malloc((size_t)t.V * t.V * sizeof *sm);
                if (!sm) e3 = 1;
                for (int a = 0; !e3 && a < t.V * t.V; a++) sm[a] = (float)sim_models[(size_t)pi * t.V * t.V + a];
                e3 = e3 || clusterplot_matrix(sm, t.V, NULL, -1, 1, path, (const char *const *)t.variants);
                free(sm);
            }
            free(thumbs);
        }
    }
    if (!quiet && !e3) {
        fprintf(stderr, "cluster: %zu neurons, %s embedding (%zu dims), %s distance, %s linkage, %d clusters, cophenetic r %.3f\n", n,
                embed, P, dist, link, kfound, cc);
        if (stability) {
            double ma = 0;
            for (int p = 0; p < P_n; p++) ma += ari[p] / P_n;
            fprintf(stderr, "cluster: %d perturbations, mean ARI to the reference %.3f; Jaccard per cluster:", P_n, ma);
            for (int q = 0; q < kfound; q++) fprintf(stderr, " %.2f", jmean[q]);
            fputc('\n', stderr);
        }
    }
    free(co_m); free(jac); free(jmean); free(ari); free(arim); free(sim_models); free(sim_inits);
    if (e3) goto done;
    if (dt_commit_with_dir(&of, &tmpdir, pngdir)) goto done; /* the pictures go with the file */
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (f >= 0) H5Fclose(f);
    if (rc) dt_out_abort(&of);
    dt_dir_abort(tmpdir);
    if (Emb != t.img) free(Emb);
    tune_in_free(&t);
    embedder_free(&E);
    free(X); free(Z); free(D); free(coph); free(labels); free(leaves); free(stab_list); free(pngbuf);
    for (int p = 0; pert && p < P_n; p++) { free(pert[p].name); free(pert[p].kind); free(pert[p].labels); }
    free(pert);
    return rc;
}
