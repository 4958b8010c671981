/* test_cnn.c — every shipped architecture against the PyTorch reference
 * fixtures of scripts/make-cnn-fixtures.py: the activations of every layer
 * for two real photos, and input gradients for several upstream gradients
 * at once (pool2/conv5, inception_4a/output, ...).
 *
 * The real-weight networks (both AlexNets, GoogLeNet) load their weights
 * from ../shared/data/weights; torchvision AlexNet and VGG-16 get the seeded
 * generated weights the fixture script used (written to an HDF5 weight file
 * here, so the loader is exercised too). */
#include "harness.h"
#include "h5io.h"
#include "net.h"
#include "util.h"

#include <float.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/cnn/"

/* ---- the fixture script's generator: fnv1a64 + splitmix64 ---- */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}
static void generate(float *out, size_t n, const char *path, uint64_t seed, double scale, double *first3)
{
    uint64_t s = fnv1a(path) ^ seed;
    for (size_t i = 0; i < n; i++) {
        s += 0x9E3779B97F4A7C15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) * 0x1.0p-53, v = (2 * u - 1) * scale;
        if (first3 && i < 3) first3[i] = v;
        out[i] = (float)v;
    }
}

static void check_generator(hid_t f)
{
    size_t n;
    char **paths = h5_read_strings(f, "/", &n); /* not a dataset: expect NULL */
    dt_strv_free(paths, n);
    hid_t a = H5Aopen(f, "generator_test_path", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *p[3] = {0};
    double seed[3], scale[3], want[9];
    size_t got;
    int ok = a >= 0 && H5Aread(a, t, p) >= 0 && !h5_attr_get_f64v(f, "generator_test_seed", 3, seed, &got) &&
             !h5_attr_get_f64v(f, "generator_test_scale", 3, scale, &got) &&
             !h5_attr_get_f64v(f, "generator_test_value", 9, want, &got);
    CHECK(ok, "generator test vectors readable");
    for (int i = 0; ok && i < 3; i++) {
        double v[3];
        float tmp[3];
        uint64_t sd = i == 2 ? 12345u : 20181218u; /* doubles cannot carry 64-bit seeds exactly; these are small */
        CHECK((double)sd == seed[i], "seed %d", i);
        generate(tmp, 3, p[i], sd, scale[i], v);
        for (int j = 0; j < 3; j++) CHECK(v[j] == want[3 * i + j], "generator %s[%d]: %.17g vs %.17g", p[i], j, v[j], want[3 * i + j]);
        free(p[i]);
    }
    H5Tclose(t);
    if (a >= 0) H5Aclose(a);
}

/* Write generated weights for every conv/fc layer of net to path. */
static int write_generated(const dt_net *net, const char *path, const char *arch, uint64_t seed)
{
    hid_t f = h5_create(path);
    if (f < 0) return -1;
    h5_attr_str(f, "architecture", arch);
    for (int i = 0; i < net->n; i++) {
        const dt_layer *l = &net->L[i];
        if (l->kind != L_CONV && l->kind != L_FC) continue;
        const dt_layer *a = &net->L[l->in[0]];
        size_t fan = l->kind == L_CONV ? (size_t)(a->c / l->groups) * l->kh * l->kw : (size_t)a->c * a->h * a->w;
        size_t nw = (size_t)l->out * fan;
        float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)l->out * sizeof(float));
        char p[160];
        snprintf(p, sizeof p, "%s/weight", l->name);
        generate(w, nw, p, seed, sqrt(6.0 / (double)fan), NULL);
        snprintf(p, sizeof p, "%s/bias", l->name);
        generate(b, (size_t)l->out, p, seed, 0.1, NULL);
        hsize_t wd[4] = {(hsize_t)l->out, 0, 0, 0}, bd = (hsize_t)l->out;
        int wr = 2;
        if (l->kind == L_CONV) { wd[1] = (hsize_t)(a->c / l->groups); wd[2] = (hsize_t)l->kh; wd[3] = (hsize_t)l->kw; wr = 4; }
        else wd[1] = (hsize_t)fan;
        snprintf(p, sizeof p, "%s/weight", l->name);
        h5_write(f, p, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, wr, wd, w, 0);
        snprintf(p, sizeof p, "%s/bias", l->name);
        h5_write(f, p, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &bd, b, 0);
        free(w);
        free(b);
    }
    H5Fclose(f);
    return 0;
}

/* (N, C, H, W) -> (C, N, H, W) */
static void to_lanes(float *dst, const float *src, int N, int C, size_t hw)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) memcpy(dst + ((size_t)c * N + n) * hw, src + ((size_t)n * C + c) * hw, hw * sizeof(float));
}

/* Compare a (C, K, H, W) tensor's lane k with a fixture's sampled values
 * (flat (C, H, W) indices).  Returns the worst error relative to max|ref|. */
static size_t n_outliers; /* elements beyond 1e-4 of max in the last compare() */

static double compare(const float *ours, int C, int K, size_t hw, int k, const int64_t *idx, const float *ref, size_t n,
                      const uint8_t *skip, double max_abs, double *sumsq)
{
    double worst = 0;
    n_outliers = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        size_t c = (size_t)idx[i] / hw, p = (size_t)idx[i] % hw;
        double d = fabs(ours[(c * K + (size_t)k) * hw + p] - ref[i]) / max_abs;
        worst = d > worst ? d : worst;
        n_outliers += d > 1e-4;
    }
    double s = 0;
    for (size_t c = 0; c < (size_t)C; c++)
        for (size_t p = 0; p < hw; p++) {
            double v = ours[(c * K + (size_t)k) * hw + p];
            s += v * v;
        }
    *sumsq = s;
    return worst;
}

/* ---- near ties: where two correct float32 forward passes may route a
 * gradient differently ----
 * Two correct float32 evaluations of a sum of n products (another BLAS
 * kernel, another tiling, PyTorch) differ by rounding, a random walk of n
 * steps of relative size u = 2^-24: about u * sqrt(n) of the layer's
 * magnitudes.  So with n the longest accumulation at or below a layer
 * (conv: cin/groups * kh * kw; fc: its inputs) and tau = u * sqrt(n) * max|z|
 * of the gate's input z (per lane):
 *   - a ReLU whose input has |z| <= tau may pass or block;
 *   - a max-pool window whose two largest inputs are within 2 tau of each
 *     other may route to either (windows of exact zeros, a ReLU's output,
 *     tie in every implementation and route alike).
 * In a copy of the forward state every such unit is flipped (the ReLU's
 * output set to 0 or to the smallest positive float, the pool's argmax to
 * the runner-up), the backward is run again, and the input-gradient
 * elements that move by more than FLIP_TOL of max|g| are those a near tie
 * can change: exactly these are excluded from the comparison, and counted. */
#define FLIP_TOL 5e-5 /* half of GRAD_TOL: an element a flip moves by less must still match within GRAD_TOL */
#define GRAD_TOL 1e-4

/* nacc[i]: the longest accumulation at or below layer i */
static void accumulation_lengths(const dt_net *net, double *nacc)
{
    for (int i = 0; i < net->n; i++) {
        const dt_layer *l = &net->L[i];
        double m = 0;
        for (int j = 0; j < l->nin && i > 0; j++) m = fmax(m, nacc[l->in[j]]);
        if (l->kind == L_CONV) m = fmax(m, (double)(l->cs.cin / l->groups) * l->kh * l->kw);
        if (l->kind == L_FC) m = fmax(m, (double)net->L[l->in[0]].c * net->L[l->in[0]].h * net->L[l->in[0]].w);
        nacc[i] = m;
    }
}

static void lane_max(const float *x, int c, int K, size_t hw, double *mx)
{
    for (int k = 0; k < K; k++) mx[k] = 0;
    for (int ch = 0; ch < c; ch++)
        for (int k = 0; k < K; k++)
            for (size_t p = 0; p < hw; p++) mx[k] = fmax(mx[k], fabs(x[((size_t)ch * K + k) * hw + p]));
}

/* Flip the near ties below layer t in st (which & 1: ReLUs, which & 2:
 * max-pools); counts into *nrelu, *npool. */
static void flip_near_ties(const dt_net *net, dt_state *st, int t, const uint8_t *need, int which, size_t *nrelu, size_t *npool)
{
    int K = st->K;
    double mx[64], *nacc = malloc((size_t)net->n * sizeof(double));
    accumulation_lengths(net, nacc);
    *nrelu = *npool = 0;
    for (int i = 1; i <= t; i++) {
        if (!need[i]) continue;
        const dt_layer *l = &net->L[i];
        const dt_layer *a = &net->L[l->in[0]];
        const float *x = st->out[l->in[0]];
        double rel = 0x1p-24 * sqrt(nacc[l->in[0]]); /* tau / max|z| */
        if (l->kind == L_RELU && (which & 1)) {
            size_t hw = (size_t)l->h * l->w;
            lane_max(x, l->c, K, hw, mx);
            for (int ch = 0; ch < l->c; ch++)
                for (int k = 0; k < K; k++)
                    for (size_t p = 0; p < hw; p++) {
                        size_t e = ((size_t)ch * K + k) * hw + p;
                        if (fabs(x[e]) > rel * mx[k]) continue;
                        st->out[i][e] = st->out[i][e] > 0 ? 0 : FLT_MIN;
                        (*nrelu)++;
                    }
        } else if (l->kind == L_MAXPOOL && (which & 2)) {
            const dt_pool_shape *ps = &l->ps;
            size_t ihw = (size_t)ps->h * ps->w, ohw = (size_t)ps->ho * ps->wo;
            lane_max(x, a->c, K, ihw, mx);
            for (int ch = 0; ch < ps->c; ch++)
                for (int k = 0; k < K; k++) {
                    const float *xp = x + ((size_t)ch * K + k) * ihw;
                    int32_t *am = st->argmax[i] + ((size_t)ch * K + k) * ohw;
                    for (int oy = 0; oy < ps->ho; oy++)
                        for (int ox = 0; ox < ps->wo; ox++) {
                            int best = am[oy * ps->wo + ox], second = -1;
                            for (int iy = oy * ps->sh - ps->ph; iy < oy * ps->sh - ps->ph + ps->kh; iy++)
                                for (int ix = ox * ps->sw - ps->pw; ix < ox * ps->sw - ps->pw + ps->kw; ix++) {
                                    if (iy < 0 || iy >= ps->h || ix < 0 || ix >= ps->w || iy * ps->w + ix == best) continue;
                                    if (second < 0 || xp[iy * ps->w + ix] > xp[second]) second = iy * ps->w + ix;
                                }
                            if (second >= 0 && xp[best] != 0 && xp[best] - xp[second] <= 2 * rel * mx[k]) {
                                am[oy * ps->wo + ox] = second;
                                (*npool)++;
                            }
                        }
                }
        }
    }
    free(nacc);
}

static void test_net(const char *fixture, const char *spec, const char *weights, uint64_t gen_seed,
                     const char *const *grad_layers, int ngrad)
{
    printf("%s (spec %s):\n", fixture, spec);
    char path[512];
    snprintf(path, sizeof path, FIX "%s.h5", fixture);
    hid_t f = h5_open_ro(path);
    CHECK(f >= 0, "%s: %s", path, dt_lasterr());
    if (f < 0) return;
    if (gen_seed) check_generator(f);
    int rank;
    hsize_t d[4];
    h5_shape(f, "input", &rank, d, NULL, NULL);
    int N = (int)d[0], H = (int)d[2], W = (int)d[3];
    size_t hw0 = (size_t)H * W;
    float *in = malloc((size_t)N * 3 * hw0 * sizeof(float)), *lanes = malloc((size_t)N * 3 * hw0 * sizeof(float));
    h5_read(f, "input", H5T_NATIVE_FLOAT, in);
    to_lanes(lanes, in, N, 3, hw0);

    dt_net net;
    CHECK(net_parse(&net, net_builtin_text(spec), spec) == 0, "parse %s: %s", spec, dt_lasterr());
    CHECK(net_plan(&net, H, W) == 0, "plan: %s", dt_lasterr());
    char wpath[512];
    if (gen_seed) {
        snprintf(wpath, sizeof wpath, "/tmp/deeptune-test-%s-%d.h5", fixture, (int)getpid());
        write_generated(&net, wpath, net.arch, gen_seed);
    } else {
        snprintf(wpath, sizeof wpath, "%s", weights);
    }
    int rc = net_load_weights(&net, wpath, -1);
    CHECK(rc == 0, "weights %s: %s", wpath, dt_lasterr());
    if (gen_seed) unlink(wpath);
    if (rc) { net_free(&net); H5Fclose(f); free(in); free(lanes); return; }

    size_t nl;
    char **names = h5_read_strings(f, "layer_names", &nl);
    /* every fixture layer that this weight file supports */
    int last = 0;
    for (size_t i = 0; i < nl; i++) {
        int j = net_find(&net, names[i]);
        CHECK(j >= 0, "fixture layer %s is not in spec %s", names[i], spec);
        if (j >= 0 && j < net.nweights && j > last) last = j;
    }
    uint8_t *need = calloc((size_t)net.n, 1);
    net_ancestors(&net, last, need);
    dt_state st;
    CHECK(state_alloc(&st, &net, N, need) == 0, "state");
    CHECK(net_forward(&net, &st, lanes) == 0, "forward: %s", dt_lasterr());
    double worst_all = 0;
    int compared = 0;
    for (size_t i = 0; i < nl; i++) {
        int j = net_find(&net, names[i]);
        if (j < 0 || j > last) continue;
        const dt_layer *l = &net.L[j];
        char g[256];
        snprintf(g, sizeof g, "act/%s", names[i]);
        hid_t grp = H5Gopen2(f, g, H5P_DEFAULT);
        double shape[3] = {0, 1, 1}, maxabs[2], ssq[2];
        size_t ns;
        h5_attr_get_f64v(grp, "shape", 3, shape, &ns);
        size_t srank = ns;
        h5_attr_get_f64v(grp, "max_abs", 2, maxabs, &ns);
        h5_attr_get_f64v(grp, "sumsq", 2, ssq, &ns);
        /* torchvision flattens before classifier.0: compare element counts
         * there (the flattening order is (c, h, w), as ours) */
        if (srank == 1) CHECK(shape[0] == (double)l->c * l->h * l->w, "%s: %g elements vs ours %dx%dx%d", names[i], shape[0], l->c, l->h, l->w);
        else CHECK(shape[0] == l->c && shape[1] == l->h && shape[2] == l->w, "%s: shape %gx%gx%g vs ours %dx%dx%d", names[i],
                   shape[0], shape[1], shape[2], l->c, l->h, l->w);
        int r;
        hsize_t dd[4];
        h5_shape(grp, "index", &r, dd, NULL, NULL);
        size_t n = dd[0];
        int64_t *idx = malloc(n * sizeof(int64_t));
        float *val = malloc(2 * n * sizeof(float));
        h5_read(grp, "index", H5T_NATIVE_INT64, idx);
        h5_read(grp, "value", H5T_NATIVE_FLOAT, val);
        for (int k = 0; k < N; k++) {
            double s2, e = compare(st.out[j], l->c, N, (size_t)l->h * l->w, k, idx, val + k * n, n, NULL,
                                   maxabs[k] > 0 ? maxabs[k] : 1, &s2);
            /* Float32 on both sides, different summation orders: conv sums
             * of up to 4608 products give relative errors ~ sqrt(n) * 6e-8,
             * compounded over up to ~60 layers in GoogLeNet; 1e-4 of the
             * layer's largest magnitude bounds that with margin. */
            CHECK(e <= 1e-4, "%s image %d: worst error %.3g of max|a|", names[i], k, e);
            CHECK(fabs(s2 - ssq[k]) <= 1e-4 * ssq[k] + 1e-12, "%s image %d: sum of squares %.9g vs %.9g", names[i], k, s2, ssq[k]);
            worst_all = e > worst_all ? e : worst_all;
        }
        compared++;
        free(idx);
        free(val);
        H5Gclose(grp);
    }
    printf("  %d layers, worst activation error %.2e of the layer's max|a|\n", compared, worst_all);

    /* gradients: lanes (image, k) = image * K + k over a 2-lane forward */
    for (int gi = 0; gi < ngrad; gi++) {
        int t = net_find(&net, grad_layers[gi]);
        char g[256];
        snprintf(g, sizeof g, "grad/%s", grad_layers[gi]);
        if (t < 0 || t > last) { CHECK(0, "gradient layer %s unavailable", grad_layers[gi]); continue; }
        const dt_layer *l = &net.L[t];
        hid_t grp = H5Gopen2(f, g, H5P_DEFAULT);
        int64_t K;
        h5_attr_get_i64(grp, "K", &K);
        size_t hw = (size_t)l->h * l->w, per = (size_t)l->c * hw;
        int KG = N * (int)K;
        float *up = malloc(per * (size_t)KG * sizeof(float)), *tmp = malloc(per * sizeof(float));
        for (int img = 0; img < N; img++)
            for (int k = 0; k < K; k++) {
                char p[256];
                snprintf(p, sizeof p, "upstream/%s/%d/%d", grad_layers[gi], k, img);
                generate(tmp, per, p, 20181218u, 1.0, NULL);
                int lane = img * (int)K + k;
                for (int c = 0; c < l->c; c++) memcpy(up + ((size_t)c * KG + lane) * hw, tmp + (size_t)c * hw, hw * sizeof(float));
            }
        float *din = malloc(3 * hw0 * (size_t)KG * sizeof(float));
        dt_gradws ws;
        gradws_init(&ws);
        CHECK(net_backward(&net, &st, t, up, KG, din, &ws) == 0, "backward: %s", dt_lasterr());
        int r;
        hsize_t dd[4];
        h5_shape(grp, "index", &r, dd, NULL, NULL);
        size_t n = dd[0];
        int64_t *idx = malloc(n * sizeof(int64_t));
        float *val = malloc((size_t)N * K * n * sizeof(float));
        uint8_t *uns = malloc((size_t)N * K * n);
        double maxabs[16], ssq[16];
        size_t ns;
        h5_read(grp, "index", H5T_NATIVE_INT64, idx);
        h5_read(grp, "value", H5T_NATIVE_FLOAT, val);
        h5_read(grp, "unstable", H5T_NATIVE_UINT8, uns);
        h5_attr_get_f64v(grp, "max_abs", 16, maxabs, &ns);
        h5_attr_get_f64v(grp, "sumsq", 16, ssq, &ns);
        /* the near ties of our forward, flipped: which elements can move.
         * Three passes (ReLUs, max-pools, both), so that flips whose effects
         * cancel in one pass still show in another. */
        float *dflip = malloc(3 * hw0 * (size_t)KG * sizeof(float));
        uint8_t *moves = calloc(3 * hw0 * (size_t)KG, 1);
        size_t nrelu = 0, npool = 0;
        for (int which = 1; which <= 3; which++) {
            dt_state sf;
            dt_gradws wf;
            size_t nr, np;
            gradws_init(&wf);
            CHECK(state_alloc(&sf, &net, N, need) == 0, "state");
            CHECK(net_forward(&net, &sf, lanes) == 0, "forward");
            flip_near_ties(&net, &sf, t, need, which, &nr, &np);
            nrelu = nr > nrelu ? nr : nrelu;
            npool = np > npool ? np : npool;
            CHECK(net_backward(&net, &sf, t, up, KG, dflip, &wf) == 0, "flipped backward: %s", dt_lasterr());
            for (size_t c = 0; c < 3; c++)
                for (int lane = 0; lane < KG; lane++)
                    for (size_t p = 0; p < hw0; p++) {
                        size_t at = (c * KG + (size_t)lane) * hw0 + p;
                        moves[at] |= fabs(dflip[at] - din[at]) > FLIP_TOL * maxabs[lane];
                    }
            gradws_free(&wf, &net);
            state_free(&sf, &net);
        }
        double worst = 0;
        size_t most_excl = 0, total_excl = 0;
        uint8_t *skip = malloc(n);
        for (int img = 0; img < N; img++)
            for (int k = 0; k < K; k++) {
                int lane = img * (int)K + k;
                double s2;
                size_t excl = 0;
                for (size_t e = 0; e < n; e++) {
                    size_t c = (size_t)idx[e] / hw0, p = (size_t)idx[e] % hw0, at = (c * KG + (size_t)lane) * hw0 + p;
                    excl += moves[at];
                    /* also skipped: elements the fixture flags as unstable in
                     * PyTorch itself (float32 and float64 disagree there) */
                    skip[e] = moves[at] || uns[(size_t)lane * n + e];
                }
                double e = compare(din, 3, KG, hw0, lane, idx, val + (size_t)lane * n, n, skip, maxabs[lane], &s2);
                /* every element no near tie can move matches to GRAD_TOL of
                 * max|g| (float32 on both sides, different summation orders
                 * through the layers below t) */
                CHECK(e <= GRAD_TOL, "%s grad image %d k %d: worst error %.3g of max|g| outside the %zu elements a near tie can move",
                      grad_layers[gi], img, k, e, excl);
                /* deep layers' near ties reach much of the image (measured:
                 * up to 82% of it at torchvision AlexNet's features.12), but
                 * at least a tenth of it must still be compared */
                CHECK(excl <= n * 9 / 10, "%s grad image %d k %d: %zu of %zu elements excluded as near-tie routed", grad_layers[gi], img,
                      k, excl, n);
                /* the sum of squares covers every element: compared where
                 * no near tie can move any sampled one */
                if (!excl)
                    CHECK(fabs(s2 - ssq[lane]) <= 1e-3 * ssq[lane], "%s grad image %d k %d: sumsq %.6g vs %.6g", grad_layers[gi],
                          img, k, s2, ssq[lane]);
                worst = e > worst ? e : worst;
                most_excl = excl > most_excl ? excl : most_excl;
                total_excl += excl;
            }
        printf("  input gradient at %-20s %d upstream gradients at once: worst %.2e of max|g|; near ties: %zu ReLU inputs, %zu "
               "pool windows, excluding %zu of %zu sampled elements (at most %zu in a lane)\n",
               grad_layers[gi], KG, worst, nrelu, npool, total_excl, n * (size_t)KG, most_excl);
        free(skip);
        free(dflip);
        free(moves);
        /* the threaded paths give the same gradients: the lane split (over a
         * one-image forward) and the convolution split (one lane) */
        {
            dt_state s1;
            dt_gradws w2, w3;
            gradws_init(&w2);
            gradws_init(&w3);
            w2.nthreads = 2;
            w3.nthreads = 3;
            float *one = malloc(3 * hw0 * sizeof(float)), *g2 = malloc(3 * hw0 * K * sizeof(float)),
                  *g3 = malloc(3 * hw0 * sizeof(float)), *up1 = malloc(per * K * sizeof(float));
            for (int c = 0; c < 3; c++) memcpy(one + c * hw0, lanes + (size_t)c * N * hw0, hw0 * sizeof(float));
            for (int c = 0; c < l->c; c++)
                for (int k = 0; k < K; k++) memcpy(up1 + ((size_t)c * K + k) * hw, up + ((size_t)c * KG + k) * hw, hw * sizeof(float));
            CHECK(state_alloc(&s1, &net, 1, need) == 0, "state");
            s1.nthreads = 3;
            CHECK(net_forward(&net, &s1, one) == 0, "threaded forward");
            /* the forward split over 3 threads (convolutions by output
             * channels, ReLU, max-pool and LRN by channels) computes the
             * serial 2-image forward's first image: float rounding of the
             * GEMMs' different blocking only, relative to each layer's max */
            {
                double ef = 0;
                for (int i = 1; i <= t; i++) {
                    if (!s1.out[i] || !st.out[i]) continue;
                    const dt_layer *li = &net.L[i];
                    size_t hwi = (size_t)li->h * li->w;
                    double e = 0, m = 0;
                    for (size_t c = 0; c < (size_t)li->c; c++)
                        for (size_t q = 0; q < hwi; q++) {
                            double ref = st.out[i][c * N * hwi + q];
                            e = fmax(e, fabs(s1.out[i][c * hwi + q] - ref));
                            m = fmax(m, fabs(ref));
                        }
                    ef = fmax(ef, e / (m > 0 ? m : 1));
                }
                CHECK(ef <= 1e-5, "%s threaded forward differs from the serial one by %.3g of max|a|", grad_layers[gi], ef);
            }
            double e2 = 0, e3 = 0, mx = 0;
            CHECK(net_backward(&net, &s1, t, up1, (int)K, g2, &w2) == 0, "lane-split backward");
            float *up0 = malloc(per * sizeof(float)); /* lane 0 alone */
            for (int c = 0; c < l->c; c++) memcpy(up0 + (size_t)c * hw, up + (size_t)c * KG * hw, hw * sizeof(float));
            CHECK(net_backward(&net, &s1, t, up0, 1, g3, &w3) == 0, "conv-split backward");
            free(up0);
            for (size_t c = 0; c < 3; c++)
                for (size_t p = 0; p < hw0; p++) {
                    for (int k = 0; k < K; k++) {
                        double ref = din[(c * KG + (size_t)k) * hw0 + p];
                        mx = fmax(mx, fabs(ref));
                        e2 = fmax(e2, fabs(g2[(c * K + (size_t)k) * hw0 + p] - ref));
                    }
                    e3 = fmax(e3, fabs(g3[c * hw0 + p] - din[(c * KG) * hw0 + p]));
                }
            /* same arithmetic up to GEMM blocking: float rounding only */
            CHECK(e2 <= 1e-5 * mx && e3 <= 1e-5 * mx, "%s threaded backward differs: %.3g, %.3g of %.3g", grad_layers[gi], e2, e3, mx);
            state_free(&s1, &net);
            gradws_free(&w2, &net);
            gradws_free(&w3, &net);
            free(one); free(g2); free(g3); free(up1);
        }
        gradws_free(&ws, &net);
        free(up); free(tmp); free(din); free(idx); free(val); free(uns);
        H5Gclose(grp);
    }
    state_free(&st, &net);
    free(need);
    dt_strv_free(names, nl);
    net_free(&net);
    H5Fclose(f);
    free(in);
    free(lanes);
}

int main(void)
{
    h5_quiet();
    const char *tv_grads[] = {"features.5", "features.12"}, *vgg_grads[] = {"features.9", "features.16"};
    test_net("torchvision-alexnet", "alexnet-torchvision", NULL, 20181218u, tv_grads, 2);
    test_net("vgg16", "vgg16", NULL, 20181218u, vgg_grads, 2);
    const char *data = th_data("CNN fixtures with the shared pretrained weights");
    if (data) {
        char w[512];
        const char *ax_grads[] = {"pool2", "conv5"}, *g_grads[] = {"inception_4a/output"};
        snprintf(w, sizeof w, "%s/weights/alexnet-bvlc-int8.h5", data);
        test_net("alexnet-bvlc", "alexnet-caffe", w, 0, ax_grads, 2);
        snprintf(w, sizeof w, "%s/weights/alexnet-uoguelph.h5", data);
        test_net("alexnet-uoguelph", "alexnet-uoguelph", w, 0, ax_grads, 2);
        snprintf(w, sizeof w, "%s/weights/googlenet-bvlc.h5", data);
        test_net("googlenet-bvlc", "googlenet-bvlc", w, 0, g_grads, 1);
    }
    return th_summary("test_cnn");
}
