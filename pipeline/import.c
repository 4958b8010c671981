/* import.c — `deeptune import`: stimuli from a directory or .zip plus
 * responses (and optionally trials) from .npy/.csv/.h5 into one dataset
 * file.  Everything is checked before the output is written; the output
 * appears under its final name only when complete. */
#include "array.h"
#include "dataset.h"
#include "h5io.h"
#include "imgsrc.h"
#include "stages.h"
#include "utf8.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
    const char *images, *responses, *trials, *out, *split, *neuron_ids, *units;
    const char *layout, *trials_layout, *color;
    int resize_w, resize_h;   /* 0: no resizing */
    int force, quiet;
} import_opts;

static const import_opts defaults = {
    .layout = "auto", .trials_layout = "auto", .color = "keep", .units = "unspecified",
};

static void usage(FILE *fp)
{
    const import_opts *o = &defaults;
    fprintf(fp,
            "usage: deeptune import -i IMAGES -r RESPONSES [options] -o OUT.h5\n"
            "\n"
            "Make a dataset file from stimulus images and neural responses.\n"
            "\n"
            "  -i, --images PATH        directory or .zip of PNG/JPEG files, taken in natural\n"
            "                           name order (image2 before image10)\n"
            "  -r, --responses FILE     .npy, .csv, or FILE.h5:DATASET; NaN = not recorded\n"
            "      --layout L           responses are neurons-x-stimuli, stimuli-x-neurons,\n"
            "                           or auto (from the image count) [%s]\n"
            "  -t, --trials FILE        single-trial responses (N x M x R, NaN-padded) as .npy\n"
            "                           or FILE.h5:DATASET, or a .csv of rows\n"
            "                           'stimulus,neuron,response' (0-based indices)\n"
            "      --trials-layout L    neurons-stimuli-repeats, stimuli-neurons-repeats,\n"
            "                           or auto [%s]\n"
            "      --resize WxH|S       resize every image to W x H (or S x S); without it\n"
            "                           images of different sizes are an error\n"
            "      --color C            keep, gray or rgb [%s]\n"
            "      --split FILE         per stimulus: 0/train or 1/test (text, one per line,\n"
            "                           or .npy)\n"
            "      --neuron-ids FILE    one neuron id per line\n"
            "      --units TEXT         response units, recorded as an attribute [%s]\n"
            "  -o, --output OUT.h5      output dataset file\n"
            "      --force              replace OUT.h5 if it exists (only once complete)\n"
            "  -q, --quiet              no progress\n"
            "  -h, --help               this help\n"
            "\n"
            "Without --responses, responses are the mean of the trials over repeats.\n",
            o->layout, o->trials_layout, o->color, o->units);
}

/* Read a text file of one token per line; *n receives the count. */
static char **read_lines(const char *path, size_t *n)
{
    uint8_t *buf;
    size_t len;
    *n = 0;
    if (dt_read_file(path, &buf, &len)) return NULL;
    char *text = dt_malloc(len + 1);
    if (!text) { free(buf); return NULL; }
    memcpy(text, buf, len);
    text[len] = 0;
    free(buf);
    size_t cap = 64, k = 0;
    char **v = dt_malloc(cap * sizeof *v);
    for (char *line = strtok(text, "\r\n"); v && line; line = strtok(NULL, "\r\n")) {
        while (*line == ' ' || *line == '\t') line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!*line) continue;
        if (k == cap) {
            cap *= 2;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) { dt_strv_free(v, k); v = NULL; break; }
            v = nv;
        }
        v[k++] = dt_strdup(line);
    }
    free(text);
    if (v) *n = k;
    else dt_seterr("%s: out of memory", path);
    return v;
}

static int load_split(const char *path, size_t n, uint8_t **out)
{
    *out = NULL;
    uint8_t *s = dt_malloc(n);
    if (!s) return -1;
    if (dt_has_suffix(path, ".npy")) {
        dt_array a;
        if (npy_read(path, &a)) { free(s); return -1; }
        size_t k = dt_array_count(&a);
        if (k != n) {
            dt_array_free(&a);
            free(s);
            return dt_seterr("%s: %zu split values for %zu stimuli", path, k, n);
        }
        for (size_t i = 0; i < n; i++) {
            if (a.v[i] != 0 && a.v[i] != 1) {
                dt_seterr("%s: split value %g at stimulus %zu; use 0 (train) or 1 (test)", path, a.v[i], i);
                dt_array_free(&a); /* only after the message has read a.v[i] */
                free(s);
                return -1;
            }
            s[i] = (uint8_t)a.v[i];
        }
        dt_array_free(&a);
    } else {
        size_t k;
        char **v = read_lines(path, &k);
        if (!v) { free(s); return -1; }
        int rc = 0;
        if (k != n) rc = dt_seterr("%s: %zu split values for %zu stimuli", path, k, n);
        for (size_t i = 0; !rc && i < n; i++) {
            if (!strcmp(v[i], "0") || !strcasecmp(v[i], "train")) s[i] = 0;
            else if (!strcmp(v[i], "1") || !strcasecmp(v[i], "test")) s[i] = 1;
            else rc = dt_seterr("%s: line %zu is '%s'; use 0/train or 1/test", path, i + 1, v[i]);
        }
        dt_strv_free(v, k);
        if (rc) { free(s); return -1; }
    }
    *out = s;
    return 0;
}

/* Orient a 2-D response table to (n stimuli, m neurons). */
static int orient_responses(const char *file, const char *imgpath, dt_array *a, size_t n, const char *layout,
                            double **out, size_t *m)
{
    size_t r0, r1;
    if (a->rank == 1) { r0 = a->dim[0]; r1 = 1; }
    else if (a->rank == 2) { r0 = a->dim[0]; r1 = a->dim[1]; }
    else return dt_seterr("%s: responses must be 2-D (neurons x stimuli or stimuli x neurons), found %d-D", file, a->rank);
    int sxn; /* 1: stored stimuli x neurons */
    if (!strcmp(layout, "stimuli-x-neurons")) sxn = 1;
    else if (!strcmp(layout, "neurons-x-stimuli")) sxn = 0;
    else if (a->rank == 1) sxn = 1;
    else if (r0 == n && r1 != n) sxn = 1;
    else if (r1 == n && r0 != n) sxn = 0;
    else if (r0 == n && r1 == n)
        return dt_seterr("%s: %zu x %zu is square, so the orientation is ambiguous; pass --layout neurons-x-stimuli or stimuli-x-neurons",
                         file, r0, r1);
    else
        return dt_seterr("%s: %zu x %zu responses, but %s has %zu images; neither dimension matches", file, r0, r1, imgpath, n);
    size_t ns = sxn ? r0 : r1;
    if (ns != n)
        return dt_seterr("%s: --layout %s gives %zu stimuli, but %s has %zu images", file, layout, ns, imgpath, n);
    *m = sxn ? r1 : r0;
    double *v = dt_malloc(n * *m * sizeof(double));
    if (!v) return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < *m; j++) v[i * *m + j] = sxn ? a->v[i * *m + j] : a->v[j * n + i];
    *out = v;
    return 0;
}

/* Bring trials to (n, m, r).  m = 0 means "not known yet". */
static int orient_trials(const char *file, const char *imgpath, dt_array *a, size_t n, size_t m, const char *layout,
                         double **out, size_t *mout, size_t *rout)
{
    if (a->rank == 2 && a->dim[1] == 3) {
        /* long format: stimulus, neuron, response; repeats in row order */
        size_t rows = a->dim[0], mm = 0;
        for (size_t k = 0; k < rows; k++) {
            double s = a->v[3 * k], u = a->v[3 * k + 1];
            if (!(s >= 0 && s < (double)n && s == floor(s)))
                return dt_seterr("%s: row %zu has stimulus index %g; expected 0..%zu", file, k + 1, s, n - 1);
            if (!(u >= 0 && u == floor(u) && u < 1e7))
                return dt_seterr("%s: row %zu has neuron index %g; expected a non-negative integer", file, k + 1, u);
            if ((size_t)u + 1 > mm) mm = (size_t)u + 1;
        }
        if (m && mm > m) return dt_seterr("%s: neuron index %zu, but the responses have %zu neurons", file, mm - 1, m);
        if (m) mm = m;
        size_t *cnt = dt_calloc(n * mm, sizeof *cnt), r = 0;
        if (!cnt) return -1;
        for (size_t k = 0; k < rows; k++) {
            size_t c = ++cnt[(size_t)a->v[3 * k] * mm + (size_t)a->v[3 * k + 1]];
            if (c > r) r = c;
        }
        double *v = dt_malloc(n * mm * r * sizeof(double));
        if (!v) { free(cnt); return -1; }
        for (size_t i = 0; i < n * mm * r; i++) v[i] = NAN;
        memset(cnt, 0, n * mm * sizeof *cnt);
        for (size_t k = 0; k < rows; k++) {
            size_t cell = (size_t)a->v[3 * k] * mm + (size_t)a->v[3 * k + 1];
            v[cell * r + cnt[cell]++] = a->v[3 * k + 2];
        }
        free(cnt);
        *out = v;
        *mout = mm;
        *rout = r;
        return 0;
    }
    if (a->rank != 3)
        return dt_seterr("%s: trials must be 3-D (neurons x stimuli x repeats or stimuli x neurons x repeats), or a CSV of 'stimulus,neuron,response' rows; found %d-D",
                         file, a->rank);
    size_t d0 = a->dim[0], d1 = a->dim[1], r = a->dim[2];
    int snr;
    if (!strcmp(layout, "stimuli-neurons-repeats")) snr = 1;
    else if (!strcmp(layout, "neurons-stimuli-repeats")) snr = 0;
    else if (d0 == n && d1 != n) snr = 1;
    else if (d1 == n && d0 != n) snr = 0;
    else if (d0 == n && d1 == n) {
        if (m && m != n) snr = 1;
        else return dt_seterr("%s: %zu x %zu x %zu is ambiguous; pass --trials-layout", file, d0, d1, r);
    } else
        return dt_seterr("%s: %zu x %zu x %zu trials, but %s has %zu images; neither of the first two dimensions matches",
                         file, d0, d1, r, imgpath, n);
    size_t ns = snr ? d0 : d1, mm = snr ? d1 : d0;
    if (ns != n) return dt_seterr("%s: --trials-layout %s gives %zu stimuli, but %s has %zu images", file, layout, ns, imgpath, n);
    if (m && mm != m) return dt_seterr("%s: trials have %zu neurons, responses have %zu", file, mm, m);
    double *v = dt_malloc(n * mm * r * sizeof(double));
    if (!v) return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < mm; j++)
            for (size_t k = 0; k < r; k++)
                v[(i * mm + j) * r + k] = snr ? a->v[(i * mm + j) * r + k] : a->v[(j * n + i) * r + k];
    *out = v;
    *mout = mm;
    *rout = r;
    return 0;
}

/* Load, check and convert all images into d (stimuli, names, h, w, c). */
static int load_images(const import_opts *o, dt_dataset *d)
{
    dt_imgsrc src;
    if (imgsrc_open(&src, o->images)) return -1;
    int rc = -1, tty = !o->quiet && isatty(2);
    dt_image *ims = dt_calloc(src.n, sizeof *ims);
    if (!ims) goto done;
    int want_c = !strcmp(o->color, "gray") ? 1 : !strcmp(o->color, "rgb") ? 3 : 0;
    int any_rgb = 0;
    for (size_t i = 0; i < src.n; i++) {
        if (imgsrc_load(&src, i, &ims[i])) goto done;
        dt_image *im = &ims[i];
        if (o->resize_w) {
            if (im->w != o->resize_w || im->h != o->resize_h) {
                dt_image r;
                if (image_resize_u8(im, o->resize_w, o->resize_h, &r)) goto done;
                image_free(im);
                *im = r;
            }
        } else if (im->w != ims[0].w || im->h != ims[0].h) {
            dt_seterr("%s: %s is %dx%d but %s is %dx%d; pass --resize WxH to import images of different sizes",
                      o->images, src.names[i], im->w, im->h, src.names[0], ims[0].w, ims[0].h);
            goto done;
        }
        if (want_c && image_convert(im, want_c)) goto done;
        any_rgb |= im->c == 3;
        if (tty && (i % 50 == 0 || i + 1 == src.n)) fprintf(stderr, "\rimport: %zu/%zu images", i + 1, src.n);
    }
    if (tty) fputc('\n', stderr);
    d->n = src.n;
    d->w = ims[0].w;
    d->h = ims[0].h;
    d->c = want_c ? want_c : any_rgb ? 3 : 1;
    size_t per = (size_t)d->w * (size_t)d->h * (size_t)d->c;
    d->stim = dt_malloc(d->n * per);
    d->stim_names = dt_calloc(d->n, sizeof *d->stim_names);
    if (!d->stim || !d->stim_names) goto done;
    for (size_t i = 0; i < d->n; i++) {
        if (image_convert(&ims[i], d->c)) goto done;   /* gray among RGB: replicate */
        memcpy(d->stim + i * per, ims[i].px, per);
        d->stim_names[i] = src.names[i];
        src.names[i] = NULL;
    }
    rc = 0;
done:
    for (size_t i = 0; ims && i < src.n; i++) image_free(&ims[i]);
    free(ims);
    imgsrc_close(&src);
    return rc;
}

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (*end == 'x' || *end == 'X') b = strtol(end + 1, &end, 10);
    if (*end || a < 1 || b < 1 || a > 16384 || b > 16384) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

/* sha256 of the file part of a FILE or FILE.h5:DATASET spec. */
static int source_sha256(const char *spec, char hex[65])
{
    char file[4096];
    snprintf(file, sizeof file, "%s", spec);
    char *colon = strrchr(file, ':');
    if (colon && (strstr(file, ".h5:") || strstr(file, ".hdf5:") || strstr(file, ".hdf:"))) *colon = 0;
    return dt_sha256_file(file, hex);
}

/* Write the dataset into the temporary file of `out` and rename it into
 * place; on failure the temporary file is removed. */
static int write_output(const import_opts *o, const dt_dataset *d, dt_outfile *out)
{
    hid_t f = h5_create(out->tmp);
    int rc = -1;
    char hex[65];
    if (f < 0) { dt_seterr("%s: cannot create output", o->out); goto done; }
    if (h5_provenance(f, DT_DATASET_FORMAT, DT_DATASET_VERSION)) goto done;
    if (h5_attr_str(f, "source_images", o->images)) goto done;
    if (dt_has_suffix(o->images, ".zip") && (dt_sha256_file(o->images, hex) || h5_attr_str(f, "source_images_sha256", hex)))
        goto done;
    if (o->responses && (h5_attr_str(f, "source_responses", o->responses) ||
                         (source_sha256(o->responses, hex) == 0 && h5_attr_str(f, "source_responses_sha256", hex))))
        goto done;
    if (o->trials && (h5_attr_str(f, "source_trials", o->trials) ||
                      (source_sha256(o->trials, hex) == 0 && h5_attr_str(f, "source_trials_sha256", hex))))
        goto done;
    if (o->split && h5_attr_str(f, "source_split", o->split)) goto done;
    if (h5_attr_str(f, "response_units", o->units) || h5_attr_str(f, "color_conversion", o->color)) goto done;
    if (o->resize_w) {
        char sz[32];
        snprintf(sz, sizeof sz, "%dx%d", o->resize_w, o->resize_h);
        if (h5_attr_str(f, "resize", sz)) goto done;
    }
    if (dataset_write(f, d)) goto done;
    rc = 0;
done:
    if (f >= 0 && H5Fclose(f) < 0 && !rc) rc = dt_seterr("%s: error closing HDF5 file", o->out);
    if (rc) {
        dt_preerr("%s", o->out);
        dt_out_abort(out);
        return -1;
    }
    return dt_out_commit(out);
}

int cmd_import(int argc, char **argv)
{
    import_opts o = defaults;
    static const struct option lo[] = {
        {"images", required_argument, 0, 'i'}, {"responses", required_argument, 0, 'r'},
        {"trials", required_argument, 0, 't'}, {"output", required_argument, 0, 'o'},
        {"layout", required_argument, 0, 1},   {"trials-layout", required_argument, 0, 2},
        {"resize", required_argument, 0, 3},   {"color", required_argument, 0, 4},
        {"split", required_argument, 0, 5},    {"neuron-ids", required_argument, 0, 6},
        {"units", required_argument, 0, 7},    {"force", no_argument, 0, 8},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:r:t:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'i': o.images = optarg; break;
        case 'r': o.responses = optarg; break;
        case 't': o.trials = optarg; break;
        case 'o': o.out = optarg; break;
        case 1: o.layout = optarg; break;
        case 2: o.trials_layout = optarg; break;
        case 3:
            if (parse_size(optarg, &o.resize_w, &o.resize_h)) {
                fprintf(stderr, "error: --resize %s: expected WxH or S, e.g. --resize 112x112\n", optarg);
                return 2;
            }
            break;
        case 4: o.color = optarg; break;
        case 5: o.split = optarg; break;
        case 6: o.neuron_ids = optarg; break;
        case 7: o.units = optarg; break;
        case 8: o.force = 1; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "error: import: unexpected argument '%s'; see deeptune import -h\n", argv[optind]); return 2; }
    if (!o.images || !o.out || (!o.responses && !o.trials)) {
        fprintf(stderr, "error: import needs --images, --responses (or --trials) and --output; see deeptune import -h\n");
        return 2;
    }
    if (strcmp(o.layout, "auto") && strcmp(o.layout, "neurons-x-stimuli") && strcmp(o.layout, "stimuli-x-neurons")) {
        fprintf(stderr, "error: --layout %s: use auto, neurons-x-stimuli or stimuli-x-neurons\n", o.layout);
        return 2;
    }
    if (strcmp(o.trials_layout, "auto") && strcmp(o.trials_layout, "neurons-stimuli-repeats") &&
        strcmp(o.trials_layout, "stimuli-neurons-repeats")) {
        fprintf(stderr, "error: --trials-layout %s: use auto, neurons-stimuli-repeats or stimuli-neurons-repeats\n", o.trials_layout);
        return 2;
    }
    if (strcmp(o.color, "keep") && strcmp(o.color, "gray") && strcmp(o.color, "rgb")) {
        fprintf(stderr, "error: --color %s: use keep, gray or rgb\n", o.color);
        return 2;
    }
    if (!dt_utf8_valid(o.units)) {
        char esc[600];
        dt_escape(o.units, esc, sizeof esc);
        fprintf(stderr, "error: --units '%s': not valid UTF-8; give the units as UTF-8 text\n", esc);
        return 2;
    }
    /* Reserve the output first: an unwritable path or an existing file is
     * reported before any work is done. */
    dt_outfile out;
    if (dt_out_begin(&out, o.out, o.force)) {
        fprintf(stderr, "error: %s\n", dt_lasterr());
        return 1;
    }
    dt_dataset d;
    memset(&d, 0, sizeof d);
    dt_array ra = {0}, ta = {0};
    int rc = 1;
    if (load_images(&o, &d)) goto done;
    if (o.responses) {
        if (dt_array_load(o.responses, "responses", &ra)) goto done;
        if (orient_responses(o.responses, o.images, &ra, d.n, o.layout, &d.resp, &d.m)) goto done;
        for (size_t i = 0; i < d.n * d.m; i++)
            if (isinf(d.resp[i])) {
                dt_seterr("%s: infinite value for stimulus %zu, neuron %zu; mark missing values as NaN", o.responses,
                          i / d.m, i % d.m);
                goto done;
            }
    }
    if (o.trials) {
        size_t m = 0;
        if (dt_array_load(o.trials, "trials", &ta)) goto done;
        if (orient_trials(o.trials, o.images, &ta, d.n, d.m, o.trials_layout, &d.trials, &m, &d.r)) goto done;
        for (size_t i = 0; i < d.n * m * d.r; i++)
            if (isinf(d.trials[i])) {
                dt_seterr("%s: infinite value for stimulus %zu, neuron %zu; mark missing values as NaN", o.trials,
                          i / (m * d.r), i / d.r % m);
                goto done;
            }
        if (!d.resp) {
            d.m = m;
            d.resp = dt_malloc(d.n * d.m * sizeof(double));
            if (!d.resp) goto done;
            for (size_t i = 0; i < d.n * d.m; i++) {
                double s = 0;
                size_t k = 0;
                for (size_t j = 0; j < d.r; j++)
                    if (!isnan(d.trials[i * d.r + j])) { s += d.trials[i * d.r + j]; k++; }
                d.resp[i] = k ? s / (double)k : NAN;
            }
        } else {
            double worst = 0;
            for (size_t i = 0; i < d.n * d.m; i++) {
                double s = 0;
                size_t k = 0;
                for (size_t j = 0; j < d.r; j++)
                    if (!isnan(d.trials[i * d.r + j])) { s += d.trials[i * d.r + j]; k++; }
                if (k && !isnan(d.resp[i]) && fabs(s / (double)k - d.resp[i]) > worst) worst = fabs(s / (double)k - d.resp[i]);
            }
            if (worst > 1e-6)
                fprintf(stderr, "warning: %s: responses differ from the trial means by up to %g; check --trials-layout\n",
                        o.responses, worst);
        }
    }
    if (o.split && load_split(o.split, d.n, &d.split)) goto done;
    if (o.neuron_ids) {
        size_t k;
        d.neuron_ids = read_lines(o.neuron_ids, &k);
        if (!d.neuron_ids) goto done;
        if (k != d.m) {
            dt_strv_free(d.neuron_ids, k);
            d.neuron_ids = NULL;
            dt_seterr("%s: %zu neuron ids for %zu neurons", o.neuron_ids, k, d.m);
            goto done;
        }
        for (size_t j = 0; j < k; j++)
            if (!dt_utf8_valid(d.neuron_ids[j])) {
                char esc[600];
                dt_escape(d.neuron_ids[j], esc, sizeof esc);
                dt_seterr("%s: neuron id %zu ('%s') is not valid UTF-8; save the --neuron-ids file as UTF-8", o.neuron_ids, j, esc);
                goto done;
            }
    }
    if (dataset_check(&d, o.out)) goto done;
    if (write_output(&o, &d, &out)) goto done;
    if (!o.quiet)
        fprintf(stderr, "import: %s: %zu stimuli (%dx%d %s), %zu neurons%s\n", o.out, d.n, d.w, d.h,
                d.c == 3 ? "RGB" : "gray", d.m, d.trials ? ", with trials" : "");
    rc = 0;
done:
    if (rc) {
        dt_out_abort(&out);   /* no-op once committed or aborted */
        fprintf(stderr, "error: %s\n", dt_lasterr());
    }
    dt_array_free(&ra);
    dt_array_free(&ta);
    dataset_free(&d);
    return rc;
}
