/* stimuli.c — `deeptune stimuli`: stimulus sets for the next closed-loop
 * experiment from a tune.h5: the DeepTune images, apertures around their
 * most important region (by gradient mass) at several sizes, random
 * apertures, recombinations of two images' important regions, and controls
 * matched in mean and contrast (phase-scrambled: the same power spectrum;
 * pixel-shuffled: the same histogram).  Every stimulus is a PNG at the
 * stimulus size; manifest.csv lists file,neuron,kind,parameters and the
 * predicted response of every stimulus under every model of the tune run.
 * The directory is written under a temporary name and renamed when
 * complete. */
#define _XOPEN_SOURCE 700
#include "ensemble.h"
#include "fft2.h"
#include "h5io.h"
#include "image.h"
#include "stages.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: deeptune stimuli -t TUNE.h5 -o DIR [options]\n"
            "\n"
            "Closed-loop stimulus sets from DeepTune images: the images, apertures around\n"
            "their most important region (gradient mass) at several sizes, random apertures,\n"
            "recombinations, and phase-scrambled and pixel-shuffled controls matched in mean\n"
            "and contrast; PNGs at the stimulus size and DIR/manifest.csv\n"
            "(file,neuron,kind,parameters, then the predicted response under every model).\n"
            "\n"
            "  -t, --tune FILE          tune.h5 from 'deeptune tune'\n"
            "      --variants V         consensus or all (every single-model image too) [consensus]\n"
            "      --sizes F,F,...      aperture sizes as fractions of the side [0.25,0.5,0.75]\n"
            "      --random N           random apertures per image [2]\n"
            "      --recombine N        recombinations per neuron [2]\n"
            "      --scrambles N        phase-scrambled and pixel-shuffled controls per image [1]\n"
            "      --seed S             [1]\n"
            "      --threads N          worker threads [all CPUs]\n"
            "  -o, --output DIR         output directory\n"
            "      --force              replace DIR if it exists (only once complete)\n");
}


/* mean and standard deviation of n values */
static void moments(const float *x, size_t n, double *m, double *sd)
{
    double s = 0, v = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *m = s / (double)n;
    for (size_t i = 0; i < n; i++) v += (x[i] - *m) * (x[i] - *m);
    *sd = sqrt(v / (double)n);
}

static void match(float *y, size_t n, double m, double sd)
{
    double my, sy;
    moments(y, n, &my, &sy);
    for (size_t i = 0; i < n; i++) {
        double v = m + (sy > 0 ? (y[i] - my) * sd / sy : 0);
        y[i] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* The same amplitude spectrum per channel with a random phase shared by the
 * channels: the phase of a real white-noise image, which keeps the result
 * real. */
static int phase_scramble(const float *x, float *y, int h, int w, int c, uint64_t *rng)
{
    size_t n = (size_t)h * w;
    double *a = malloc(2 * n * sizeof(double)), *ph = malloc(n * sizeof(double));
    dt_fft2 f;
    int rc = -1, fok = fft2_init(&f, h, w) == 0;
    if (!a || !ph || !fok) { dt_seterr("out of memory in the phase scramble"); goto done; }
    for (size_t i = 0; i < n; i++) { a[2 * i] = dt_unif(rng) - 0.5; a[2 * i + 1] = 0; }
    fft2_run(&f, a, 0);
    for (size_t i = 0; i < n; i++) ph[i] = atan2(a[2 * i + 1], a[2 * i]);
    for (int ch = 0; ch < c; ch++) {
        for (size_t i = 0; i < n; i++) { a[2 * i] = x[i * c + ch]; a[2 * i + 1] = 0; }
        fft2_run(&f, a, 0);
        for (size_t i = 1; i < n; i++) { /* keep the mean (DC) */
            double amp = hypot(a[2 * i], a[2 * i + 1]), p = atan2(a[2 * i + 1], a[2 * i]) + ph[i];
            a[2 * i] = amp * cos(p);
            a[2 * i + 1] = amp * sin(p);
        }
        fft2_run(&f, a, 1);
        for (size_t i = 0; i < n; i++) y[i * c + ch] = (float)a[2 * i];
    }
    rc = 0;
done:
    free(a); free(ph);
    if (fok) fft2_free(&f);
    return rc;
}

/* The s x s window with the largest saliency mass (integral image). */
static void best_window(const double *sal, int h, int w, int sy, int sx, int *y0, int *x0)
{
    double *I = calloc((size_t)(h + 1) * (w + 1), sizeof(double)), best = -1;
    *y0 = *x0 = 0;
    if (!I) return;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            I[(size_t)(y + 1) * (w + 1) + x + 1] = sal[(size_t)y * w + x] + I[(size_t)y * (w + 1) + x + 1] + I[(size_t)(y + 1) * (w + 1) + x] -
                                                   I[(size_t)y * (w + 1) + x];
    for (int y = 0; y + sy <= h; y++)
        for (int x = 0; x + sx <= w; x++) {
            double m = I[(size_t)(y + sy) * (w + 1) + x + sx] - I[(size_t)y * (w + 1) + x + sx] - I[(size_t)(y + sy) * (w + 1) + x] +
                       I[(size_t)y * (w + 1) + x];
            if (m > best) { best = m; *y0 = y; *x0 = x; }
        }
    free(I);
}

/* dst = mid-gray with src's window (y0, x0, sy, sx) pasted at (ty, tx) */
static void aperture(float *dst, const float *src, int h, int w, int c, int y0, int x0, int sy, int sx, int ty, int tx, int clear)
{
    if (clear)
        for (size_t i = 0; i < (size_t)h * w * c; i++) dst[i] = 128;
    for (int y = 0; y < sy; y++)
        for (int x = 0; x < sx; x++)
            for (int ch = 0; ch < c; ch++)
                dst[((size_t)(ty + y) * w + tx + x) * c + ch] = src[((size_t)(y0 + y) * w + x0 + x) * c + ch];
}

typedef struct {
    int h, w, c;
    float *px;        /* (n, h, w, c) */
    char **file, **kind, **param;
    int *neuron;
    size_t n, cap;
} stimset;

static float *stim_add(stimset *s, size_t per, int neuron, const char *kind, const char *param)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        float *px = realloc(s->px, cap * per * sizeof(float));
        char **f = realloc(s->file, cap * sizeof(char *)), **k = f ? realloc(s->kind, cap * sizeof(char *)) : NULL;
        char **p = k ? realloc(s->param, cap * sizeof(char *)) : NULL;
        int *nr = p ? realloc(s->neuron, cap * sizeof(int)) : NULL;
        if (px) s->px = px;
        if (f) s->file = f;
        if (k) s->kind = k;
        if (p) s->param = p;
        if (nr) s->neuron = nr;
        if (!px || !f || !k || !p || !nr) { dt_seterr("out of memory for the stimuli"); return NULL; }
        s->cap = cap;
    }
    char name[256];
    snprintf(name, sizeof name, "n%d-%04zu-%s.png", neuron, s->n, kind);
    s->file[s->n] = dt_strdup(name);
    s->kind[s->n] = dt_strdup(kind);
    s->param[s->n] = dt_strdup(param);
    s->neuron[s->n] = neuron;
    return s->px + (s->n++) * per;
}

int cmd_stimuli(int argc, char **argv)
{
    const char *tune = NULL, *out = NULL, *variants = "consensus", *sizes_s = "0.25,0.5,0.75";
    int nrand = 2, nrec = 2, nscr = 1, force = 0, threads = 0;
    uint64_t seed = 1;
    static const struct option lo[] = {{"tune", required_argument, 0, 't'},      {"output", required_argument, 0, 'o'},
                                       {"variants", required_argument, 0, 1},    {"sizes", required_argument, 0, 2},
                                       {"random", required_argument, 0, 3},      {"recombine", required_argument, 0, 4},
                                       {"scrambles", required_argument, 0, 5},   {"seed", required_argument, 0, 6},
                                       {"threads", required_argument, 0, 7},     {"force", no_argument, 0, 8},
                                       {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:o:h", lo, NULL)) != -1) {
        switch (c) {
        case 't': tune = optarg; break;
        case 'o': out = optarg; break;
        case 1: variants = optarg; break;
        case 2: sizes_s = optarg; break;
        case 3: bad = dt_arg_int("--random", optarg, &nrand); break;
        case 4: bad = dt_arg_int("--recombine", optarg, &nrec); break;
        case 5: bad = dt_arg_int("--scrambles", optarg, &nscr); break;
        case 6: bad = dt_arg_u64("--seed", optarg, &seed); break;
        case 7: bad = dt_arg_int("--threads", optarg, &threads); break;
        case 8: force = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
    }
    if (optind < argc || !tune || !out) { fprintf(stderr, "error: stimuli needs --tune and --output; see deeptune stimuli -h\n"); return 2; }
    if (threads < 0 || threads > 256) { fprintf(stderr, "error: --threads %d: expected 1..256, or 0 for all CPUs\n", threads); return 2; }
    if (strcmp(variants, "consensus") && strcmp(variants, "all")) { fprintf(stderr, "error: --variants %s: use consensus or all\n", variants); return 2; }
    if (nrand < 0 || nrec < 0 || nscr < 0 || nrand > 1000 || nrec > 1000 || nscr > 1000) {
        fprintf(stderr, "error: --random, --recombine and --scrambles take counts 0..1000\n");
        return 2;
    }
    double *sizes = NULL;
    int nsizes = 0;
    if (dt_arg_doubles("--sizes", sizes_s, &sizes, &nsizes)) {
        fprintf(stderr, "error: %s\n", dt_lasterr());
        return 2;
    }
    int sizes_ok = nsizes <= 16;
    for (int i = 0; i < nsizes; i++) sizes_ok &= sizes[i] > 0 && sizes[i] <= 1;
    if (!sizes_ok) {
        fprintf(stderr, "error: --sizes %s: expected at most 16 fractions in (0, 1], e.g. 0.25,0.5\n", sizes_s);
        free(sizes);
        return 2;
    }
    int rc = 1;
    char *tmp = NULL, *readouts = NULL, *outbuf = NULL;
    char **models = NULL, **vnames = NULL;
    size_t nm = 0, nv = 0;
    dt_ensemble e;
    memset(&e, 0, sizeof e);
    stimset S = {0};
    hid_t f = H5I_INVALID_HID;
    float *img = NULL, *grads = NULL;
    double *sal = NULL, *vals = NULL;
    int *sel = NULL;
    if (dt_dir_begin(out, force, "name", &outbuf, &tmp)) {
        fprintf(stderr, "error: %s\n", dt_lasterr());
        free(sizes);
        return 1;
    }
    out = outbuf;
    f = h5_open_ro(tune);
    if (f < 0) goto done;
    if (!h5_is_format(f, "deeptune-tune")) { dt_seterr("%s: not a deeptune tune file; make one with deeptune tune", tune); goto done; }
    readouts = h5_attr_get_str(f, "readouts");
    models = h5_read_strings(f, "models", &nm);
    vnames = h5_read_strings(f, "variants", &nv);
    if (!readouts || !models || !vnames) { dt_preerr("%s", tune); goto done; }
    if (!nv) { dt_seterr("%s: /variants is empty; is it a complete deeptune tune output?", tune); goto done; }
    {
        char *rsha = h5_has_attr(f, "readouts_sha256") ? h5_attr_get_str(f, "readouts_sha256") : NULL;
        int e2 = ensemble_check_files(tune, readouts, rsha);
        free(rsha);
        if (e2) goto done;
    }
    if (strcmp(variants, "all") && strcmp(vnames[nv - 1], "consensus")) {
        dt_seterr("%s: the tune run made no consensus images (--consensus none); pass --variants all to use its single-model images", tune);
        goto done;
    }
    /* the tune run's models, found by their labels */
    {
        /* with one readouts file the labels are the model names: load only those */
        char *list = NULL;
        if (!strchr(readouts, ',')) {
            size_t len = 1;
            for (size_t i = 0; i < nm; i++) len += strlen(models[i]) + 1;
            if (!(list = dt_malloc(len))) goto done;
            list[0] = 0;
            for (size_t i = 0; i < nm; i++) { if (i) strcat(list, ","); strcat(list, models[i]); }
        }
        int e2 = ensemble_load(&e, readouts, list ? list : "all", dt_threads(threads));
        free(list);
        if (e2) { dt_preerr("%s", tune); goto done; }
    }
    {
        char *tds = h5_attr_get_str(f, "dataset");
        int same = tds && !strcmp(tds, e.dataset);
        if (!same) dt_seterr("%s: made from dataset %s, but %s was fitted on %s; use the readouts the tune run was made with", tune,
                             tds ? tds : "(not recorded)", readouts, e.dataset);
        free(tds);
        if (!same) goto done;
    }
    int M = (int)nm;
    sel = dt_malloc((size_t)(M > 0 ? M : 1) * sizeof(int));
    if (!sel) goto done;
    for (int i = 0; i < M; i++) {
        sel[i] = -1;
        for (int q = 0; q < e.nmodels; q++)
            if (!strcmp(e.models[q].label, models[i])) sel[i] = q;
        if (sel[i] < 0) { dt_seterr("%s: model %s of the tune run is not in %s any more", tune, models[i], readouts); goto done; }
    }
    hid_t g = H5Gopen2(f, "/neurons", H5P_DEFAULT);
    hsize_t nn = 0;
    if (g >= 0) { H5Gget_num_objs(g, &nn); H5Gclose(g); }
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 12345;
    for (int j = 0; j < e.m; j++) {
        char gp[64], ds[96];
        snprintf(gp, sizeof gp, "/neurons/%d", j);
        if (!h5_exists(f, gp)) continue;
        int rank = 0;
        hsize_t d[8];
        snprintf(ds, sizeof ds, "%s/images", gp);
        hid_t dset = H5Dopen2(f, ds, H5P_DEFAULT);
        if (dset >= 0) {
            hid_t sp = H5Dget_space(dset);
            rank = H5Sget_simple_extent_ndims(sp);
            if (rank == 5) H5Sget_simple_extent_dims(sp, d, NULL);
            H5Sclose(sp);
            H5Dclose(dset);
        }
        if (rank != 5) { dt_seterr("%s: %s is missing or not (variants, inits, h, w, c)", tune, ds); goto done; }
        int V = (int)d[0], K = (int)d[1], h = (int)d[2], w = (int)d[3], cc = (int)d[4];
        size_t per = (size_t)h * w * cc;
        if (V != (int)nv) { dt_seterr("%s: %s holds %d variants but /variants names %zu", tune, ds, V, nv); goto done; }
        if (h != e.h || w != e.w || (cc != e.c && cc != 1)) {
            dt_seterr("%s: %s is %dx%dx%d but the models of %s take %dx%dx%d stimuli; use the readouts the tune run was made with", tune,
                      ds, h, w, cc, readouts, e.h, e.w, e.c);
            goto done;
        }
        if (S.n && (S.h != h || S.w != w || S.c != cc)) { dt_seterr("%s: neuron %d's images differ in size from the others", tune, j); goto done; }
        S.h = h; S.w = w; S.c = cc;
        free(img);
        img = dt_malloc((size_t)V * K * per * sizeof(float));
        if (!img || h5_read(f, ds, H5T_NATIVE_FLOAT, img)) { dt_preerr("%s", tune); goto done; }
        int v0 = strcmp(variants, "all") ? V - 1 : 0; /* the consensus is the last variant (checked above) */
        free(grads); free(sal); free(vals);
        grads = dt_malloc((size_t)M * per * sizeof(float));
        sal = dt_malloc((size_t)h * w * sizeof(double));
        vals = dt_malloc((size_t)M * sizeof(double));
        if (!grads || !sal || !vals) goto done;
        int bwy[64], bwx[64], bws[64], nb = 0; /* the important windows, for recombinations */
        for (int v = v0; v < V; v++)
            for (int k = 0; k < K; k++) {
                const float *x = img + ((size_t)v * K + k) * per;
                char prm[160];
                snprintf(prm, sizeof prm, "variant=%s;init=%d", vnames[v], k);
                float *o = stim_add(&S, per, j, "deeptune", prm);
                if (!o) goto done;
                memcpy(o, x, per * sizeof(float));
                /* saliency: every model's gradient mass, each at unit RMS */
                if (ensemble_eval(&e, j, sel, M, x, 1, cc, 0, vals, grads)) goto done;
                memset(sal, 0, (size_t)h * w * sizeof(double));
                for (int m = 0; m < M; m++) {
                    const float *gm = grads + (size_t)m * per;
                    double ss = 0;
                    for (size_t i = 0; i < per; i++) ss += (double)gm[i] * gm[i];
                    ss = ss > 0 ? sqrt(ss / (double)per) : 1;
                    for (size_t i = 0; i < per; i++) sal[i / cc] += fabs(gm[i]) / ss;
                }
                double mean, sd;
                moments(x, per, &mean, &sd);
                for (int q = 0; q < nsizes; q++) {
                    int sy = (int)(sizes[q] * h + 0.5), sx = (int)(sizes[q] * w + 0.5), y0, x0;
                    sy = sy < 1 ? 1 : sy; sx = sx < 1 ? 1 : sx;
                    best_window(sal, h, w, sy, sx, &y0, &x0);
                    snprintf(prm, sizeof prm, "variant=%s;init=%d;size=%g;y=%d;x=%d", vnames[v], k, sizes[q], y0, x0);
                    if (!(o = stim_add(&S, per, j, "crop", prm))) goto done;
                    aperture(o, x, h, w, cc, y0, x0, sy, sx, y0, x0, 1);
                    if (nb < 64) { bwy[nb] = y0; bwx[nb] = x0; bws[nb] = (int)(((size_t)v * K + k) * 100 + q); nb++; }
                }
                for (int q = 0; q < nrand; q++) {
                    double fr = 0.25 + 0.5 * dt_unif(&rng);
                    int sy = (int)(fr * h + 0.5), sx = (int)(fr * w + 0.5);
                    int y0 = (int)(dt_unif(&rng) * (h - sy + 1)), x0 = (int)(dt_unif(&rng) * (w - sx + 1));
                    snprintf(prm, sizeof prm, "variant=%s;init=%d;size=%.3f;y=%d;x=%d", vnames[v], k, fr, y0, x0);
                    if (!(o = stim_add(&S, per, j, "random_crop", prm))) goto done;
                    aperture(o, x, h, w, cc, y0, x0, sy, sx, y0, x0, 1);
                }
                for (int q = 0; q < nscr; q++) {
                    snprintf(prm, sizeof prm, "variant=%s;init=%d;seed=%d", vnames[v], k, q);
                    if (!(o = stim_add(&S, per, j, "phase_scrambled", prm))) goto done;
                    if (phase_scramble(x, o, h, w, cc, &rng)) goto done;
                    match(o, per, mean, sd);
                    if (!(o = stim_add(&S, per, j, "pixel_shuffled", prm))) goto done;
                    memcpy(o, x, per * sizeof(float));
                    for (size_t p = (size_t)h * w - 1; p > 0; p--) { /* shuffle whole pixels */
                        size_t r = (size_t)(dt_splitmix(&rng) % (p + 1));
                        for (int ch = 0; ch < cc; ch++) { float t = o[p * cc + ch]; o[p * cc + ch] = o[r * cc + ch]; o[r * cc + ch] = t; }
                    }
                }
            }
        /* recombinations: the important windows of two images side by side */
        for (int q = 0; q < nrec && nb >= 2; q++) {
            /* the second window from another image */
            int a = (int)(dt_splitmix(&rng) % (uint64_t)nb), nother = 0, b = -1;
            for (int i = 0; i < nb; i++) nother += bws[i] / 100 != bws[a] / 100;
            if (!nother) break; /* one image only */
            for (int i = 0, r = (int)(dt_splitmix(&rng) % (uint64_t)nother); b < 0; i++)
                if (bws[i] / 100 != bws[a] / 100 && r-- == 0) b = i;
            int ia = bws[a] / 100, ib = bws[b] / 100, qa = bws[a] % 100, qb = bws[b] % 100;
            int sya = (int)(sizes[qa] * h + 0.5), sxa = (int)(sizes[qa] * w + 0.5) / 2, syb = (int)(sizes[qb] * h + 0.5),
                sxb = (int)(sizes[qb] * w + 0.5) / 2;
            sxa = sxa < 1 ? 1 : sxa; sxb = sxb < 1 ? 1 : sxb;
            char prm[160];
            snprintf(prm, sizeof prm, "left=%s/init%d/size%g;right=%s/init%d/size%g", vnames[ia / K], ia % K, sizes[qa], vnames[ib / K],
                     ib % K, sizes[qb]);
            float *o = stim_add(&S, per, j, "recombination", prm);
            if (!o) goto done;
            int xa = bwx[a] + (int)(sizes[qa] * w + 0.5) / 4, xb = bwx[b] + (int)(sizes[qb] * w + 0.5) / 4;
            aperture(o, img + (size_t)ia * per, h, w, cc, bwy[a], xa, sya, sxa, (h - sya) / 2, w / 2 - sxa, 1);
            aperture(o, img + (size_t)ib * per, h, w, cc, bwy[b], xb, syb, sxb, (h - syb) / 2, w / 2, 0);
        }
    }
    /* PNGs, and every stimulus under every model */
    {
        char path[4200];
        size_t per = (size_t)S.h * S.w * S.c;
        uint8_t *u = dt_malloc(per ? per : 1);
        double *pv = dt_malloc((size_t)(M > 0 ? M : 1) * 64 * sizeof(double));
        if (!u || !pv) { free(u); free(pv); goto done; }
        snprintf(path, sizeof path, "%s/manifest.csv", tmp);
        FILE *mf = fopen(path, "w");
        if (!mf) { free(u); free(pv); dt_seterr("%s: cannot write", path); goto done; }
        fprintf(mf, "file,neuron,kind,parameters");
        for (int m = 0; m < M; m++) fprintf(mf, ",predicted:%s", models[m]);
        fputc('\n', mf);
        int bad = 0;
        /* the predictions are of the 8-bit pixels the PNGs hold */
        for (size_t q = 0; q < S.n * per; q++) {
            float v = S.px[q];
            S.px[q] = (float)(uint8_t)((!(v >= 0) ? 0 : v > 255 ? 255 : v) + 0.5f);
        }
        for (size_t i0 = 0; !bad && i0 < S.n;) {
            size_t i1 = i0; /* a batch of one neuron's stimuli */
            while (i1 < S.n && i1 - i0 < 64 && S.neuron[i1] == S.neuron[i0]) i1++;
            bad = ensemble_eval(&e, S.neuron[i0], sel, M, S.px + i0 * per, (int)(i1 - i0), S.c, 0, pv, NULL);
            for (size_t i = i0; !bad && i < i1; i++) {
                for (size_t q = 0; q < per; q++) u[q] = (uint8_t)S.px[i * per + q];
                snprintf(path, sizeof path, "%s/%s", tmp, S.file[i]);
                bad = png_write(path, u, S.w, S.h, S.c);
                fprintf(mf, "%s,%d,%s,%s", S.file[i], S.neuron[i], S.kind[i], S.param[i]);
                for (int m = 0; m < M; m++) fprintf(mf, ",%.6g", pv[(i - i0) * (size_t)M + m]);
                fputc('\n', mf);
            }
            i0 = i1;
        }
        free(u);
        free(pv);
        if (fclose(mf) != 0 && !bad) bad = dt_seterr("%s: write error", path);
        if (bad) goto done;
        if (dt_dir_commit(tmp, out)) goto done;
        free(tmp);
        tmp = NULL;
        fprintf(stderr, "stimuli: %s: %zu stimuli for %d models\n", out, S.n, M);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (f >= 0) H5Fclose(f);
    dt_dir_abort(tmp);
    ensemble_free(&e);
    for (size_t i = 0; i < S.n; i++) { free(S.file[i]); free(S.kind[i]); free(S.param[i]); }
    free(S.px); free(S.file); free(S.kind); free(S.param); free(S.neuron);
    dt_strv_free(models, nm);
    dt_strv_free(vnames, nv);
    free(readouts); free(img); free(grads); free(sal); free(vals); free(sel); free(outbuf); free(sizes);
    return rc;
}
