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
    int64_t ver, n;
    if (h5_attr_get_i64(f, "format_version", &ver) || ver != 1) { dt_seterr("%s: unsupported features format_version", path); goto done; }
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

/* deeptune-readouts: provenance, then per model its shape, lambda range,
 * skipped neurons and held-out r. */
static int inspect_readouts(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    char *models = h5_has_attr(f, "models") ? h5_attr_get_str(f, "models") : NULL;
    double *v = NULL;
    if (!models) { dt_seterr("%s: readouts file without a 'models' attribute", path); goto done; }
    printf("%s: deeptune readouts\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "dataset", "dataset_sha256", "features", "features_sha256",
                                 "weights", "weights_sha256"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    char *save = NULL;
    for (char *mname = strtok_r(models, ",", &save); mname; mname = strtok_r(NULL, ",", &save)) {
        char g[512], ds[600];
        snprintf(g, sizeof g, "/models/%s", mname);
        int rank;
        hsize_t wd[4], d1[4];
        snprintf(ds, sizeof ds, "%s/weights", g);
        if (h5_shape(f, ds, &rank, wd, NULL, NULL) || rank != 2) { dt_seterr("%s: model %s has no (M, P) weights", path, mname); goto done; }
        size_t m = wd[0];
        const char *need[] = {"intercepts", "lambda", "status", "r_test", "r2_test"};
        for (size_t k = 0; k < sizeof need / sizeof *need; k++) {
            snprintf(ds, sizeof ds, "%s/%s", g, need[k]);
            if (h5_shape(f, ds, &rank, d1, NULL, NULL) || rank != 1 || d1[0] != m) {
                dt_seterr("%s: model %s: %s missing or not of length %zu", path, mname, need[k], m);
                goto done;
            }
        }
        free(v);
        v = dt_malloc(3 * m * sizeof(double));
        if (!v) goto done;
        double *lam = v, *r = v + m, *st = v + 2 * m;
        snprintf(ds, sizeof ds, "%s/lambda", g);
        h5_read(f, ds, H5T_NATIVE_DOUBLE, lam);
        snprintf(ds, sizeof ds, "%s/r_test", g);
        h5_read(f, ds, H5T_NATIVE_DOUBLE, r);
        snprintf(ds, sizeof ds, "%s/status", g);
        h5_read(f, ds, H5T_NATIVE_DOUBLE, st);
        hid_t gr = H5Gopen2(f, g, H5P_DEFAULT);
        char *method = h5_attr_get_str(gr, "method"), *layer = h5_attr_get_str(gr, "layer");
        H5Gclose(gr);
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
        gr = H5Gopen2(f, g, H5P_DEFAULT);
        char *feat = h5_has_attr(gr, "features") ? h5_attr_get_str(gr, "features") : NULL;
        H5Gclose(gr);
        if (feat) printf("            features %s\n", feat);
        free(feat);
        int nb = 0;
        for (;; nb++) {
            snprintf(ds, sizeof ds, "%s#b%d", g, nb + 1);
            if (!h5_exists(f, ds)) break;
        }
        if (nb) printf("            %d bootstrap refits %s#b1..%d\n", nb, mname, nb);
        free(method);
        free(layer);
    }
    rc = 0;
done:
    free(v);
    free(models);
    H5Fclose(f);
    return rc;
}

/* deeptune-tune: settings, models, and per neuron the consensus images'
 * lowest predicted response and their stability across initialisations. */
static int inspect_tune(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    printf("%s: deeptune tune\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "readouts", "dataset", "consensus_rule", "init", "embedding_layer"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    size_t nm = 0, nv = 0;
    char **models = h5_read_strings(f, "models", &nm), **variants = h5_read_strings(f, "variants", &nv);
    int rc = -1;
    if (!models || !variants) { dt_seterr("%s: a tune file without its model and variant lists", path); goto done; }
    for (size_t i = 0; i < nm; i++) printf("model       %s\n", models[i]);
    hid_t g = H5Gopen2(f, "/neurons", H5P_DEFAULT);
    hsize_t nn = 0;
    if (g >= 0) { H5Gget_num_objs(g, &nn); H5Gclose(g); }
    printf("neurons     %llu tuned, %zu variants each (%s)\n", (unsigned long long)nn, nv, nv && !strcmp(variants[nv - 1], "consensus") ? "single-model and consensus" : "single-model");
    rc = 0;
done:
    dt_strv_free(models, nm);
    dt_strv_free(variants, nv);
    H5Fclose(f);
    return rc;
}

/* deeptune-cluster: settings, cluster sizes and, with stability, the
 * perturbations' agreement with the reference clustering. */
static int inspect_cluster(const char *path)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    printf("%s: deeptune cluster\n", path);
    static const char *keys[] = {"deeptune_version", "command_line", "tune", "embedding", "image", "embedding_weights", "embedding_layer",
                                 "model", "distance", "linkage"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *s = h5_has_attr(f, keys[i]) ? h5_attr_get_str(f, keys[i]) : NULL;
        if (s) printf("  %-24s %s\n", keys[i], s);
        free(s);
    }
    int rc = -1, rank;
    hsize_t d[4];
    int64_t k = 0;
    double cc = NAN;
    int *lab = NULL;
    if (h5_shape(f, "labels", &rank, d, NULL, NULL) || rank != 1 || h5_attr_get_i64(f, "k", &k) || k < 1 || (hsize_t)k > d[0] ||
        h5_attr_get_f64v(f, "cophenetic_correlation", 1, &cc, NULL) || !h5_exists(f, "linkage") || !h5_exists(f, "embedding")) {
        dt_seterr("%s: a cluster file without its labels, k, linkage, embedding or cophenetic correlation", path);
        goto done;
    }
    size_t n = (size_t)d[0];
    lab = dt_malloc(n * sizeof *lab);
    if (!lab || h5_read(f, "labels", H5T_NATIVE_INT, lab)) goto done;
    printf("neurons     %zu in %lld clusters, sizes", n, (long long)k);
    for (int c = 0; c < k; c++) {
        size_t s = 0;
        for (size_t i = 0; i < n; i++) s += lab[i] == c;
        printf(" %zu", s);
    }
    printf("; cophenetic correlation %.3f\n", cc);
    if (h5_exists(f, "stability/ari")) {
        h5_shape(f, "stability/ari", &rank, d, NULL, NULL);
        double *ari = dt_malloc((size_t)d[0] * sizeof *ari), *jm = dt_malloc((size_t)k * sizeof *jm);
        if (ari && jm && !h5_read(f, "stability/ari", H5T_NATIVE_DOUBLE, ari) && !h5_read(f, "stability/jaccard_mean", H5T_NATIVE_DOUBLE, jm)) {
            double m = 0;
            for (hsize_t p = 0; p < d[0]; p++) m += ari[p] / (double)d[0];
            printf("stability   %llu perturbations, mean ARI %.2f; Jaccard per cluster", (unsigned long long)d[0], m);
            for (int c = 0; c < k; c++) printf(" %.2f", jm[c]);
            printf("\n");
        }
        free(ari);
        free(jm);
    }
    rc = 0;
done:
    free(lab);
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
        fprintf(stderr, "error: %s\n", dt_lasterr());
        rc = 1;
    }
    return rc;
}
