/* inspect.c — `deeptune inspect FILE`: what a deeptune HDF5 file holds,
 * validated against its format.  Each file kind has a printer; unknown or
 * malformed files exit non-zero with the reason. */
#include "dataset.h"
#include "h5io.h"
#include "stages.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_root_attrs(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return;
    static const char *keys[] = {"format", "deeptune_version", "command_line", "source_images", "source_images_sha256",
                                 "source_responses", "source_responses_sha256", "source_trials", "source_split",
                                 "response_units", "color_conversion", "resize"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *v = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (v) printf("  %-24s %s\n", keys[i], v);
        free(v);
    }
    int64_t ver;
    if (h5_attr_get_i64(f, "format_version", &ver) == 0) printf("  %-24s %lld\n", "format_version", (long long)ver);
    H5Fclose(f);
}

static int inspect_dataset(const char *path, int per_neuron)
{
    dt_dataset d;
    if (dataset_read(path, &d, 1)) return -1;
    printf("%s: deeptune dataset\n", path);
    print_root_attrs(path);
    size_t per = (size_t)d.h * (size_t)d.w * (size_t)d.c;
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (size_t i = 0; i < d.n * per; i++) {
        double v = d.stim ? d.stim[i] : d.stimf[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    printf("stimuli     %zu x %d x %d%s %s (%s), values %g..%g, mean %.2f\n", d.n, d.h, d.w, d.c == 3 ? " x 3" : "",
           d.stim ? "uint8" : "float32", d.c == 3 ? "RGB" : "gray", lo, hi, sum / (double)(d.n * per));
    if (d.stim_names) printf("names       %s .. %s\n", d.stim_names[0], d.stim_names[d.n - 1]);
    size_t nan = 0;
    for (size_t i = 0; i < d.n * d.m; i++) nan += isnan(d.resp[i]);
    printf("responses   %zu stimuli x %zu neurons float64, %zu NaN (%.1f%%)\n", d.n, d.m, nan,
           100.0 * (double)nan / (double)(d.n * d.m));
    if (d.trials) {
        size_t tn = 0, cells = 0, reps = 0;
        for (size_t i = 0; i < d.n * d.m; i++) {
            size_t k = 0;
            for (size_t j = 0; j < d.r; j++) k += !isnan(d.trials[i * d.r + j]);
            tn += d.r - k;
            reps += k;
            cells += k > 0;
        }
        printf("trials      %zu x %zu x %zu float64, %zu NaN, %.1f repeats per recorded cell\n", d.n, d.m, d.r, tn,
               cells ? (double)reps / (double)cells : 0.0);
    } else {
        printf("trials      none (no noise ceiling possible)\n");
    }
    if (d.split) {
        size_t t = 0;
        for (size_t i = 0; i < d.n; i++) t += d.split[i];
        printf("split       %zu train, %zu test\n", d.n - t, t);
    } else {
        printf("split       none\n");
    }
    if (per_neuron) {
        printf("\n%-12s %8s %6s %10s %10s %10s %10s\n", "neuron", "recorded", "NaN", "mean", "sd", "min", "max");
        for (size_t j = 0; j < d.m; j++) {
            double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
            size_t k = 0;
            for (size_t i = 0; i < d.n; i++) {
                double v = d.resp[i * d.m + j];
                if (isnan(v)) continue;
                s += v;
                k++;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            double mean = k ? s / (double)k : NAN;
            for (size_t i = 0; i < d.n; i++) {
                double v = d.resp[i * d.m + j];
                if (!isnan(v)) s2 += (v - mean) * (v - mean);
            }
            char id[32];
            snprintf(id, sizeof id, "%zu", j);
            printf("%-12s %8zu %6zu %10.4g %10.4g %10.4g %10.4g\n", d.neuron_ids ? d.neuron_ids[j] : id, k, d.n - k, mean,
                   k > 1 ? sqrt(s2 / (double)(k - 1)) : NAN, k ? mn : NAN, k ? mx : NAN);
        }
    }
    dataset_free(&d);
    return 0;
}

/* deeptune-features: provenance, then per layer its shape and statistics,
 * read a block of stimuli at a time. */
static int inspect_features(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    char *layers = NULL;
    float *buf = NULL;
    int64_t n;
    if (h5_check_version(f, path, "deeptune-features", DT_FEATURES_VERSION)) goto done;
    if (h5_attr_get_i64(f, "n_stimuli", &n) || !(layers = h5_attr_get_str(f, "layers"))) {
        dt_seterr("%s: features file without n_stimuli/layers attributes", path);
        goto done;
    }
    printf("%s: deeptune features\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "network", "weights", "weights_sha256", "dataset",
                                 "dataset_sha256", "preprocessing"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *v = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (v) printf("  %-24s %s\n", keys[i], v);
        free(v);
    }
    int64_t ih = 0, iw = 0;
    h5_attr_get_i64(f, "input_height", &ih);
    h5_attr_get_i64(f, "input_width", &iw);
    printf("  %-24s %lldx%lld\n", "input", (long long)iw, (long long)ih);
    char *save = NULL;
    for (char *l = strtok_r(layers, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
        char ds[256];
        snprintf(ds, sizeof ds, "/features/%s", l);
        int rank;
        hsize_t d[4];
        H5T_class_t cls;
        if (h5_shape(f, ds, &rank, d, &cls, NULL)) { dt_preerr("%s", path); goto done; }
        if ((rank != 2 && rank != 4) || cls != H5T_FLOAT || (int64_t)d[0] != n) {
            dt_seterr("%s: %s must be float (%lld stimuli, ...) with 2 or 4 dimensions", path, ds, (long long)n);
            goto done;
        }
        size_t per = 1;
        for (int k = 1; k < rank; k++) per *= d[k];
        if (!per) {
            dt_seterr("%s: %s has a dimension of length 0; the features file is damaged: make it again with deeptune features", path, ds);
            goto done;
        }
        size_t rows = per < (1u << 22) ? (1u << 22) / per : 1;
        free(buf);
        buf = dt_malloc(rows * per * sizeof(float));
        if (!buf) goto done;
        hid_t dset = H5Dopen2(f, ds, H5P_DEFAULT), fs = H5Dget_space(dset);
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        size_t zero = 0, nan = 0;
        int bad = 0;
        for (hsize_t r0 = 0; r0 < d[0] && !bad; r0 += rows) {
            hsize_t cnt[4] = {d[0] - r0 < rows ? d[0] - r0 : rows, d[1], rank == 4 ? d[2] : 0, rank == 4 ? d[3] : 0};
            hsize_t st[4] = {r0, 0, 0, 0};
            hid_t ms = H5Screate_simple(rank, cnt, NULL);
            bad = H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, cnt, NULL) < 0 ||
                  H5Dread(dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) < 0;
            H5Sclose(ms);
            for (size_t i = 0; !bad && i < cnt[0] * per; i++) {
                float v = buf[i];
                if (isnan(v)) { nan++; continue; }
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                sum += v;
                zero += v == 0;
            }
        }
        H5Sclose(fs);
        H5Dclose(dset);
        if (bad) { dt_seterr("%s: cannot read %s", path, ds); goto done; }
        size_t tot = (size_t)d[0] * per;
        if (rank == 4)
            printf("features    %-24s %llu x %llu x %llu x %llu float32", l, (unsigned long long)d[0], (unsigned long long)d[1],
                   (unsigned long long)d[2], (unsigned long long)d[3]);
        else
            printf("features    %-24s %llu x %llu float32", l, (unsigned long long)d[0], (unsigned long long)d[1]);
        printf(", range %.4g..%.4g, mean %.4g, %.1f%% zero, %zu NaN\n", lo, hi, sum / (double)(tot - nan),
               100.0 * (double)zero / (double)tot, nan);
        if (nan) { dt_seterr("%s: %s holds %zu NaN values", path, ds, nan); goto done; }
    }
    rc = 0;
done:
    free(buf);
    free(layers);
    H5Fclose(f);
    return rc;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The checks below go through h5_read_expect, so every message names the
 * file, the dataset, its shape and the expected one; `why` says what the
 * expected shape is. */
static int need(hid_t loc, const char *name, hid_t type, int rank, hsize_t *dims, const char *why, const char *fix)
{
    return h5_read_expect(loc, name, type, rank, dims, why, fix, NULL);
}

/* the same for a dataset that may be absent */
static int maybe(hid_t loc, const char *name, hid_t type, int rank, hsize_t *dims, const char *why, const char *fix)
{
    return h5_exists(loc, name) ? need(loc, name, type, rank, dims, why, fix) : 0;
}

/* The names of a group's members, in name order. */
typedef struct { char **v; size_t n; } names_t;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    (void)g; (void)info;
    names_t *l = op;
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    if (!(l->v[l->n] = dt_strdup(name))) return -1;
    l->n++;
    return 0;
}

/* The members of group `name`; an error (naming path and fix) when it is
 * missing or not a group. */
static int group_names(hid_t f, const char *path, const char *name, const char *fix, names_t *out)
{
    memset(out, 0, sizeof *out);
    hid_t o = h5_exists(f, name) ? H5Oopen(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
    int isgroup = o >= 0 && H5Iget_type(o) == H5I_GROUP;
    if (o >= 0) H5Oclose(o);
    if (!isgroup) return dt_seterr("%s: group '%s' is missing%s; %s", path, name, o >= 0 ? " (not a group)" : "", fix);
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    herr_t it = g >= 0 ? H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect, out) : -1;
    if (g >= 0) H5Gclose(g);
    if (it < 0) {
        dt_strv_free(out->v, out->n);
        memset(out, 0, sizeof *out);
        return dt_seterr("%s: cannot list group '%s'", path, name);
    }
    return 0;
}

/* A group member that must itself be a group. */
static hid_t open_group(hid_t f, const char *path, const char *name, const char *what, const char *fix)
{
    hid_t o = H5Oopen(f, name, H5P_DEFAULT);
    int isgroup = o >= 0 && H5Iget_type(o) == H5I_GROUP;
    if (o >= 0) H5Oclose(o);
    hid_t g = isgroup ? H5Gopen2(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (g < 0) dt_seterr("%s: '%s' is not a group (%s); %s", path, name, what, fix);
    return g;
}

static char *need_str_attr(hid_t loc, const char *path, const char *where, const char *name, const char *fix)
{
    char *s = h5_has_attr(loc, name) ? h5_attr_get_str(loc, name) : NULL;
    if (!s) dt_seterr("%s: %s: attribute '%s' is missing or not a string; %s", path, where, name, fix);
    return s;
}

#define FIX_READOUTS "make the readouts again with deeptune fit"
#define FIX_TUNE "the tune file is damaged: make it again with deeptune tune"
#define FIX_CLUSTER "the cluster file is damaged: make it again with deeptune cluster"

/* One model group of a readouts file against docs/formats.md.  *M (neurons)
 * and *N (stimuli) are H5_ANY for the first model and then hold for all. */
static int check_model(hid_t f, const char *path, const char *name, hsize_t *M, hsize_t *N)
{
    char g[600], where[640];
    snprintf(g, sizeof g, "/models/%s", name);
    snprintf(where, sizeof where, "model %s", name);
    hid_t gr = open_group(f, path, g, "a model", FIX_READOUTS);
    if (gr < 0) return -1;
    int rc = -1;
    char *method = need_str_attr(gr, path, where, "method", FIX_READOUTS), *layer = need_str_attr(gr, path, where, "layer", FIX_READOUTS);
    int *st = NULL;
    if (!method || !layer) goto done;
    int64_t boot = 0;
    if (h5_has_attr(gr, "bootstrap") && h5_attr_get_i64(gr, "bootstrap", &boot)) { dt_preerr("%s: %s", path, where); goto done; }
    /* P = C*H*W of one lag times the lags, when the model records them */
    hsize_t wd[2] = {*M, H5_ANY};
    double fs[3], lags[64];
    size_t nfs = 0, nl = 1;
    if (h5_has_attr(gr, "feature_shape") && h5_attr_get_f64v(gr, "feature_shape", 3, fs, &nfs) == 0 && nfs == 3 &&
        (!h5_has_attr(gr, "lags") || h5_attr_get_f64v(gr, "lags", 64, lags, &nl) == 0) && fs[0] >= 1 && fs[1] >= 1 && fs[2] >= 1) {
        /* a product beyond 2^53 is no real layer (and would not convert exactly) */
        if (!(fs[0] * fs[1] * fs[2] * (double)nl < 0x1p53)) {
            dt_seterr("%s: %s: attribute 'feature_shape' (%g x %g x %g) is out of range; %s", path, where, fs[0], fs[1], fs[2], FIX_READOUTS);
            goto done;
        }
        wd[1] = (hsize_t)(fs[0] * fs[1] * fs[2]) * nl;
    }
    const char *wwhy = *M == H5_ANY ? "neurons, feature_shape x lags" : "neurons, feature_shape x lags as the file's other models";
    if (need(gr, "weights", H5T_NATIVE_DOUBLE, 2, wd, wwhy, FIX_READOUTS)) goto done;
    *M = wd[0];
    hsize_t m = *M, G = H5_ANY;
    static const char *per_neuron[] = {"intercepts", "lambda", "r_test", "r2_test"};
    const char *row = "one per neuron, as the rows of weights";
    for (size_t k = 0; k < sizeof per_neuron / sizeof *per_neuron; k++)
        if (need(gr, per_neuron[k], H5T_NATIVE_DOUBLE, 1, &m, row, FIX_READOUTS)) goto done;
    st = dt_malloc((size_t)(m ? m : 1) * sizeof *st);
    if (!st || h5_read_expect(gr, "status", H5T_NATIVE_INT, 1, &m, row, FIX_READOUTS, st)) goto done;
    for (hsize_t j = 0; j < m; j++)
        if (st[j] < 0 || st[j] > 3) { /* 3: the fit gave non-finite values (fit.c) */
            dt_seterr("%s: dataset '%s/status' holds %d for neuron %llu (codes are 0 to 3); %s", path, g, st[j], (unsigned long long)j, FIX_READOUTS);
            goto done;
        }
    if (maybe(gr, "r2_noise_corrected", H5T_NATIVE_DOUBLE, 1, &m, row, FIX_READOUTS)) goto done;
    /* the CV curve: in every model but the bootstrap refits; cv_se and
     * nonzero for Lasso and elastic net */
    int lasso = strcmp(method, "ridge") != 0;
    hsize_t gd[2] = {m, H5_ANY};
    if ((boot ? maybe : need)(gr, "lambda_grid", H5T_NATIVE_DOUBLE, 2, gd, "neurons, grid", FIX_READOUTS)) goto done;
    G = gd[1];
    if ((boot ? maybe : need)(gr, "cv_mse", H5T_NATIVE_DOUBLE, 2, gd, "neurons, grid as lambda_grid", FIX_READOUTS)) goto done;
    gd[1] = G;
    if ((boot || !lasso ? maybe : need)(gr, "cv_se", H5T_NATIVE_DOUBLE, 2, gd, "neurons, grid as lambda_grid", FIX_READOUTS)) goto done;
    if ((boot || !lasso ? maybe : need)(gr, "nonzero", H5T_NATIVE_INT, 1, &m, row, FIX_READOUTS)) goto done;
    const char *stim = *N == H5_ANY ? "one per stimulus" : "one per stimulus, as in the file's other models";
    if (need(gr, "test_stimuli", H5T_NATIVE_UINT8, 1, N, stim, FIX_READOUTS)) goto done;
    if ((boot ? need : maybe)(gr, "resample_counts", H5T_NATIVE_INT, 1, N, "one per stimulus, as test_stimuli", FIX_READOUTS)) goto done;
    rc = 0;
done:
    free(st);
    free(method);
    free(layer);
    H5Gclose(gr);
    return rc;
}

/* deeptune-readouts: every model group (the refits too) checked first,
 * then per model of the `models` attribute its shape, lambda range,
 * skipped neurons and held-out r. */
static int inspect_readouts(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    char *models = NULL;
    double *v = NULL;
    int *st = NULL;
    names_t L = {0};
    hsize_t M = H5_ANY, N = H5_ANY;
    if (h5_check_version(f, path, "deeptune-readouts", DT_READOUTS_VERSION)) goto done;
    if (!(models = need_str_attr(f, path, "root", "models", FIX_READOUTS))) goto done;
    if (group_names(f, path, "/models", FIX_READOUTS, &L)) goto done;
    if (!L.n) { dt_seterr("%s: group '/models' holds no model; %s", path, FIX_READOUTS); goto done; }
    for (size_t i = 0; i < L.n; i++)
        if (check_model(f, path, L.v[i], &M, &N)) goto done;
    if (maybe(f, "neuron_ids", H5T_C_S1, 1, &M, "one per neuron, as the rows of weights", FIX_READOUTS)) goto done;
    {
        /* every listed model is there */
        char *list = dt_strdup(models), *save = NULL;
        if (!list) goto done;
        int bad = 0;
        for (char *mname = strtok_r(list, ",", &save); mname && !bad; mname = strtok_r(NULL, ",", &save)) {
            size_t i = 0;
            while (i < L.n && strcmp(L.v[i], mname)) i++;
            if (i == L.n)
                bad = dt_seterr("%s: the 'models' attribute names %s, but there is no group /models/%s; %s", path, mname, mname,
                                FIX_READOUTS);
        }
        free(list);
        if (bad) goto done;
    }

    printf("%s: deeptune readouts\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "dataset", "dataset_sha256", "features", "features_sha256",
                                 "weights", "weights_sha256"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    size_t m = (size_t)M;
    v = dt_malloc(2 * (m ? m : 1) * sizeof(double));
    st = dt_malloc((m ? m : 1) * sizeof *st);
    if (!v || !st) goto done;
    char *save = NULL;
    for (char *mname = strtok_r(models, ",", &save); mname; mname = strtok_r(NULL, ",", &save)) {
        char g[512];
        snprintf(g, sizeof g, "/models/%s", mname);
        hid_t gr = H5Gopen2(f, g, H5P_DEFAULT);
        double *lam = v, *r = v + m;
        hsize_t md = M, wd[2] = {M, H5_ANY};
        int e = gr < 0 || h5_read_expect(gr, "weights", H5T_NATIVE_DOUBLE, 2, wd, NULL, FIX_READOUTS, NULL) ||
                h5_read_expect(gr, "lambda", H5T_NATIVE_DOUBLE, 1, &md, NULL, FIX_READOUTS, lam) ||
                h5_read_expect(gr, "r_test", H5T_NATIVE_DOUBLE, 1, &md, NULL, FIX_READOUTS, r) ||
                h5_read_expect(gr, "status", H5T_NATIVE_INT, 1, &md, NULL, FIX_READOUTS, st);
        char *method = e ? NULL : h5_attr_get_str(gr, "method"), *layer = e ? NULL : h5_attr_get_str(gr, "layer");
        char *feat = !e && h5_has_attr(gr, "features") ? h5_attr_get_str(gr, "features") : NULL;
        if (gr >= 0) H5Gclose(gr);
        if (e) { free(method); free(layer); free(feat); goto done; }
        size_t skipped = 0, k = 0;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < m; j++) {
            skipped += st[j] != 0;
            if (st[j] == 0) { lo = fmin(lo, lam[j]); hi = fmax(hi, lam[j]); }
            if (!isnan(r[j])) r[k++] = r[j];
        }
        qsort(r, k, sizeof *r, cmp_dbl);
        printf("model       %s: %s on %s, %zu neurons x %llu features, %zu skipped, lambda %.3g..%.3g\n", mname,
               method ? method : "?", layer ? layer : "?", m, (unsigned long long)wd[1], skipped, lo, hi);
        if (k)
            printf("            held-out r: median %.3f, quartiles %.3f..%.3f, range %.3f..%.3f\n",
                   k % 2 ? r[k / 2] : 0.5 * (r[k / 2 - 1] + r[k / 2]), r[k / 4], r[(3 * k) / 4 < k ? (3 * k) / 4 : k - 1], r[0], r[k - 1]);
        if (feat) printf("            features %s\n", feat);
        free(feat);
        int nb = 0;
        for (;; nb++) {
            snprintf(g, sizeof g, "/models/%s#b%d", mname, nb + 1);
            if (!h5_exists(f, g)) break;
        }
        if (nb) printf("            %d bootstrap refits %s#b1..%d\n", nb, mname, nb);
        free(method);
        free(layer);
    }
    rc = 0;
done:
    free(v);
    free(st);
    free(models);
    dt_strv_free(L.v, L.n);
    H5Fclose(f);
    return rc;
}

/* One /neurons/<j> group of a tune file.  V and M come from /variants and
 * /models; *K and *S from the root attributes inits and steps, or else,
 * like *h, *w and *c, are H5_ANY for the first neuron and then hold for
 * all. */
static int check_tuned_neuron(hid_t f, const char *path, const char *name, hsize_t V, hsize_t M, hsize_t *K, hsize_t *S,
                              int consensus, hsize_t *h, hsize_t *w, hsize_t *c)
{
    char g[300], where[320], canon[32];
    char *end;
    long j = strtol(name, &end, 10);
    snprintf(canon, sizeof canon, "%ld", j);
    if (*end || j < 0 || j > 0x7fffffff || strcmp(canon, name))
        return dt_seterr("%s: /neurons/%s is not named by a neuron number; %s", path, name, FIX_TUNE);
    snprintf(g, sizeof g, "/neurons/%s", name);
    snprintf(where, sizeof where, "group %s", g);
    hid_t gr = open_group(f, path, g, "a tuned neuron", FIX_TUNE);
    if (gr < 0) return -1;
    int rc = -1;
    char *id = NULL;
    double *r = dt_malloc((size_t)(M ? M : 1) * sizeof *r);
    size_t got = 0;
    int64_t jj = -1;
    if (!r) goto done;
    if (!h5_has_attr(gr, "neuron") || h5_attr_get_i64(gr, "neuron", &jj) || jj != j) {
        dt_seterr("%s: %s: attribute 'neuron' is missing or not %ld; %s", path, where, j, FIX_TUNE);
        goto done;
    }
    if (!(id = need_str_attr(gr, path, where, "neuron_id", FIX_TUNE))) goto done;
    if (!h5_has_attr(gr, "r_test")) { dt_seterr("%s: %s: attribute 'r_test' is missing; %s", path, where, FIX_TUNE); goto done; }
    if (h5_attr_get_f64v(gr, "r_test", (size_t)M, r, &got) || got != M) {
        if (!got) dt_seterr("%s: %s: attribute 'r_test' is not numeric; %s", path, where, FIX_TUNE);
        else dt_seterr("%s: %s: attribute 'r_test' has %zu values, expected %llu (one per model of /models); %s", path, where, got,
                       (unsigned long long)M, FIX_TUNE);
        goto done;
    }
    const char *same = *h == H5_ANY ? "variants, inits, h, w, c" : "variants, inits, h, w, c as the other neurons'";
    hsize_t di[5] = {V, *K, *h, *w, *c};
    if (need(gr, "images", H5T_NATIVE_FLOAT, 5, di, same, FIX_TUNE)) goto done;
    if (di[4] != 1 && di[4] != 3) {
        dt_seterr("%s: dataset '%s/images' has %llu channels, expected 1 or 3; %s", path, g, (unsigned long long)di[4], FIX_TUNE);
        goto done;
    }
    *K = di[1]; *h = di[2]; *w = di[3]; *c = di[4];
    hsize_t dp[3] = {V, *K, M}, dt3[3] = {V, *K, *S}, da[3] = {*K, *h, *w}, dv = V, dk = *K, dk2 = *K;
    if (need(gr, "predicted", H5T_NATIVE_DOUBLE, 3, dp, "variants, inits, models", FIX_TUNE) ||
        need(gr, "trace", H5T_NATIVE_DOUBLE, 3, dt3, "variants, inits, steps", FIX_TUNE))
        goto done;
    *S = dt3[2];
    if ((consensus ? need : maybe)(gr, "agreement", H5T_NATIVE_FLOAT, 3, da, "inits, h, w of the consensus", FIX_TUNE) ||
        need(gr, "stability_inits_pixels", H5T_NATIVE_DOUBLE, 1, &dv, "one per variant", FIX_TUNE) ||
        need(gr, "stability_inits_features", H5T_NATIVE_DOUBLE, 1, &dv, "one per variant", FIX_TUNE) ||
        maybe(gr, "stability_models_pixels", H5T_NATIVE_DOUBLE, 1, &dk, "one per initialisation", FIX_TUNE) ||
        maybe(gr, "stability_models_features", H5T_NATIVE_DOUBLE, 1, &dk2, "one per initialisation", FIX_TUNE))
        goto done;
    if (h5_exists(gr, "stability_models_pixels") != h5_exists(gr, "stability_models_features")) {
        dt_seterr("%s: %s has one of stability_models_pixels and stability_models_features without the other; %s", path, where, FIX_TUNE);
        goto done;
    }
    rc = 0;
done:
    free(id);
    free(r);
    H5Gclose(gr);
    return rc;
}

/* deeptune-tune: every dataset checked, then the settings, models and
 * neuron count. */
static int inspect_tune(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    size_t nm = 0, nv = 0;
    char **models = NULL, **variants = NULL;
    names_t L = {0};
    hsize_t M = H5_ANY, V = H5_ANY, K = H5_ANY, S = H5_ANY, h = H5_ANY, w = H5_ANY, c = H5_ANY;
    int64_t a;
    if (h5_check_version(f, path, "deeptune-tune", DT_TUNE_VERSION)) goto done;
    if (need(f, "models", H5T_C_S1, 1, &M, "models", FIX_TUNE) || need(f, "variants", H5T_C_S1, 1, &V, "variants", FIX_TUNE)) goto done;
    if (!(models = h5_read_strings(f, "models", &nm)) || !(variants = h5_read_strings(f, "variants", &nv))) {
        dt_preerr("%s", path);
        goto done;
    }
    if (!nm || !nv) { dt_seterr("%s: /%s is empty; %s", path, nm ? "variants" : "models", FIX_TUNE); goto done; }
    if (h5_has_attr(f, "inits")) {
        if (h5_attr_get_i64(f, "inits", &a) || a < 1) {
            dt_seterr("%s: attribute 'inits' is not a positive number; %s", path, FIX_TUNE);
            goto done;
        }
        K = (hsize_t)a;
    }
    if (h5_has_attr(f, "steps")) {
        if (h5_attr_get_i64(f, "steps", &a) || a < 0) {
            dt_seterr("%s: attribute 'steps' is not a number of steps; %s", path, FIX_TUNE);
            goto done;
        }
        S = (hsize_t)a;
    }
    if (group_names(f, path, "/neurons", FIX_TUNE, &L)) goto done;
    int consensus = !strcmp(variants[nv - 1], "consensus");
    for (size_t i = 0; i < L.n; i++)
        if (check_tuned_neuron(f, path, L.v[i], V, M, &K, &S, consensus, &h, &w, &c)) goto done;

    printf("%s: deeptune tune\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "readouts", "dataset", "consensus_rule", "init", "embedding_layer"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    for (size_t i = 0; i < nm; i++) printf("model       %s\n", models[i]);
    printf("neurons     %zu tuned, %zu variants each (%s)\n", L.n, nv, consensus ? "single-model and consensus" : "single-model");
    rc = 0;
done:
    dt_strv_free(models, nm);
    dt_strv_free(variants, nv);
    dt_strv_free(L.v, L.n);
    H5Fclose(f);
    return rc;
}

/* Integer dataset values in lo..hi. */
static int int_range(const char *path, const char *name, const int *v, size_t n, long lo, long hi, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi)
            return dt_seterr("%s: dataset '/%s' holds %d at %zu, but %s are %ld..%ld; %s", path, name, v[i], i, what, lo, hi, FIX_CLUSTER);
    return 0;
}

/* deeptune-cluster: every dataset checked first, then the settings,
 * cluster sizes and, with stability, the perturbations' agreement with the
 * reference clustering. */
static int inspect_cluster(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    int64_t k = 0;
    double cc = NAN;
    int *lab = NULL, *ord = NULL, *slab = NULL;
    double *ari = NULL, *jm = NULL;
    char *emb = NULL;
    hsize_t n = H5_ANY, Q = H5_ANY;
    if (h5_check_version(f, path, "deeptune-cluster", DT_CLUSTER_VERSION)) goto done;
    size_t got = 0;
    if (!h5_has_attr(f, "k") || h5_attr_get_i64(f, "k", &k) || k < 1) {
        dt_seterr("%s: attribute 'k' is missing or not a positive number; %s", path, FIX_CLUSTER);
        goto done;
    }
    if (!h5_has_attr(f, "cophenetic_correlation") || h5_attr_get_f64v(f, "cophenetic_correlation", 1, &cc, &got) || got != 1) {
        dt_seterr("%s: attribute 'cophenetic_correlation' is missing or not one number; %s", path, FIX_CLUSTER);
        goto done;
    }
    if (!(emb = need_str_attr(f, path, "root", "embedding", FIX_CLUSTER))) goto done;
    const char *per = "one per neuron, as /neurons";
    if (need(f, "neurons", H5T_NATIVE_INT, 1, &n, "neurons", FIX_CLUSTER)) goto done;
    if (n < 1 || (hsize_t)k > n) {
        dt_seterr("%s: %llu neurons in %lld clusters (attribute k); %s", path, (unsigned long long)n, (long long)k, FIX_CLUSTER);
        goto done;
    }
    hsize_t pairs = n * (n - 1) / 2, nn = n, d2[2] = {n, H5_ANY}, dl[2] = {n - 1, 4};
    if (need(f, "neuron_ids", H5T_C_S1, 1, &nn, per, FIX_CLUSTER) || need(f, "r_test", H5T_NATIVE_DOUBLE, 1, &nn, per, FIX_CLUSTER) ||
        need(f, "embedding", H5T_NATIVE_FLOAT, 2, d2, "neurons, dimensions", FIX_CLUSTER) ||
        need(f, "distances", H5T_NATIVE_DOUBLE, 1, &pairs, "one per pair of neurons", FIX_CLUSTER) ||
        need(f, "cophenetic", H5T_NATIVE_DOUBLE, 1, &pairs, "one per pair of neurons", FIX_CLUSTER) ||
        need(f, "linkage", H5T_NATIVE_DOUBLE, 2, dl, "neurons - 1, 4", FIX_CLUSTER))
        goto done;
    lab = dt_malloc((size_t)n * sizeof *lab);
    ord = dt_malloc((size_t)n * sizeof *ord);
    if (!lab || !ord || h5_read_expect(f, "labels", H5T_NATIVE_INT, 1, &nn, "one per neuron, as /neurons", FIX_CLUSTER, lab) ||
        h5_read_expect(f, "leaf_order", H5T_NATIVE_INT, 1, &nn, "one per neuron, as /neurons", FIX_CLUSTER, ord) ||
        int_range(path, "labels", lab, (size_t)n, 0, (long)k - 1, "the clusters (attribute k)") ||
        int_range(path, "leaf_order", ord, (size_t)n, 0, (long)n - 1, "the neurons"))
        goto done;
    /* image embeddings: the variants and the similarity of each neuron's images */
    int image = !strcmp(emb, "features") || !strcmp(emb, "pixels");
    hsize_t V = H5_ANY;
    if ((image ? need : maybe)(f, "variants", H5T_C_S1, 1, &V, "variants", FIX_CLUSTER)) goto done;
    hsize_t dm[3] = {n, V, V}, di[4] = {n, V, H5_ANY, H5_ANY};
    if ((image ? need : maybe)(f, "similarity_models", H5T_NATIVE_DOUBLE, 3, dm, "neurons, variants, variants", FIX_CLUSTER) ||
        (image ? need : maybe)(f, "similarity_inits", H5T_NATIVE_DOUBLE, 4, di, "neurons, variants, inits, inits", FIX_CLUSTER))
        goto done;
    if (h5_exists(f, "similarity_inits")) { /* inits x inits */
        hsize_t dii[4] = {n, di[1], di[2], di[2]};
        if (need(f, "similarity_inits", H5T_NATIVE_DOUBLE, 4, dii, "neurons, variants, inits, inits", FIX_CLUSTER)) goto done;
    }
    int stab = h5_exists(f, "stability");
    if (stab) {
        names_t L;
        if (group_names(f, path, "/stability", FIX_CLUSTER, &L)) goto done;
        dt_strv_free(L.v, L.n);
        const char *pq = "one per perturbation, as stability/perturbations";
        if (need(f, "stability/perturbations", H5T_C_S1, 1, &Q, "perturbations", FIX_CLUSTER)) goto done;
        hsize_t q = Q, dlab[2] = {Q, n}, dco[2] = {n, n}, dj[2] = {Q, (hsize_t)k}, dk = (hsize_t)k, da[2] = {Q + 1, Q + 1};
        if (need(f, "stability/kinds", H5T_C_S1, 1, &q, pq, FIX_CLUSTER) ||
            need(f, "stability/labels", H5T_NATIVE_INT, 2, dlab, "perturbations, neurons", FIX_CLUSTER) ||
            need(f, "stability/coassignment", H5T_NATIVE_FLOAT, 2, dco, "neurons, neurons", FIX_CLUSTER) ||
            need(f, "stability/jaccard", H5T_NATIVE_DOUBLE, 2, dj, "perturbations, k", FIX_CLUSTER) ||
            need(f, "stability/ari_matrix", H5T_NATIVE_DOUBLE, 2, da, "perturbations + 1, perturbations + 1", FIX_CLUSTER))
            goto done;
        ari = dt_malloc((size_t)(Q ? Q : 1) * sizeof *ari);
        jm = dt_malloc((size_t)k * sizeof *jm);
        slab = dt_malloc((size_t)(Q ? Q : 1) * (size_t)n * sizeof *slab);
        if (!ari || !jm || !slab || h5_read_expect(f, "stability/ari", H5T_NATIVE_DOUBLE, 1, &q, pq, FIX_CLUSTER, ari) ||
            h5_read_expect(f, "stability/jaccard_mean", H5T_NATIVE_DOUBLE, 1, &dk, "one per cluster, attribute k", FIX_CLUSTER, jm) ||
            h5_read_expect(f, "stability/labels", H5T_NATIVE_INT, 2, dlab, NULL, FIX_CLUSTER, slab) ||
            int_range(path, "stability/labels", slab, (size_t)(Q * n), 0, (long)n - 1, "cluster numbers"))
            goto done;
    }

    printf("%s: deeptune cluster\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "tune", "embedding", "image", "embedding_weights", "embedding_layer",
                                 "model", "distance", "linkage"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    printf("neurons     %llu in %lld clusters, sizes", (unsigned long long)n, (long long)k);
    for (int64_t cl = 0; cl < k; cl++) {
        size_t sz = 0;
        for (size_t i = 0; i < (size_t)n; i++) sz += lab[i] == cl;
        printf(" %zu", sz);
    }
    printf("; cophenetic correlation %.3f\n", cc);
    if (stab) {
        double m = 0;
        for (hsize_t p = 0; p < Q; p++) m += ari[p] / (double)Q;
        printf("stability   %llu perturbations, mean ARI %.2f; Jaccard per cluster", (unsigned long long)Q, m);
        for (int64_t cl = 0; cl < k; cl++) printf(" %.2f", jm[cl]);
        printf("\n");
    }
    rc = 0;
done:
    free(lab);
    free(ord);
    free(slab);
    free(ari);
    free(jm);
    free(emb);
    H5Fclose(f);
    return rc;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: deeptune inspect [--brief] FILE...\n"
                "\n"
                "Print what deeptune files hold and check them against their format.\n"
                "  --brief     no per-neuron table\n"
                "  -h, --help  this help\n");
}

int cmd_inspect(int argc, char **argv)
{
    int brief = 0, nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--brief")) brief = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "error: inspect: unknown option %s\n", argv[i]); usage(stderr); return 2; }
        else nfiles++;
    }
    if (!nfiles) { usage(stderr); return 2; }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        const char *path = argv[i];
        hid_t f = h5_open_ro(path);
        char *fmt = NULL;
        if (f < 0) goto bad;
        fmt = h5_has_attr(f, "format") ? h5_attr_get_str(f, "format") : NULL;
        H5Fclose(f);
        if (!fmt) { dt_seterr("%s: not a deeptune file (no 'format' attribute)", path); goto bad; }
        if (!strcmp(fmt, DT_DATASET_FORMAT)) {
            if (inspect_dataset(path, !brief)) goto bad;
        } else if (!strcmp(fmt, "deeptune-features")) {
            if (inspect_features(path)) goto bad;
        } else if (!strcmp(fmt, "deeptune-tune")) {
            if (inspect_tune(path)) goto bad;
        } else if (!strcmp(fmt, "deeptune-readouts")) {
            if (inspect_readouts(path)) goto bad;
        } else if (!strcmp(fmt, "deeptune-cluster")) {
            if (inspect_cluster(path)) goto bad;
        } else {
            dt_seterr("%s: unknown deeptune file kind '%s'; this deeptune (%s) knows: %s, deeptune-features, deeptune-readouts, deeptune-tune, deeptune-cluster",
                      path, fmt, DEEPTUNE_VERSION, DT_DATASET_FORMAT);
            goto bad;
        }
        free(fmt);
        continue;
    bad:
        free(fmt);
        if (strncmp(dt_lasterr(), path, strlen(path))) dt_preerr("%s", path); /* every message names its file */
        fprintf(stderr, "error: %s\n", dt_lasterr());
        rc = 1;
    }
    return rc;
}
