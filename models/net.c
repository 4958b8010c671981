/* net.c — spec parsing, shape planning, weight loading, and the forward and
 * backward passes of a network (see net.h). */
#include "net.h"
#include "h5io.h"
#include "util.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void net_free(dt_net *net)
{
    if (!net) return;
    for (int i = 0; i < net->n; i++) {
        free(net->L[i].W);
        free(net->L[i].b);
    }
    free(net->L);
    memset(net, 0, sizeof *net);
}

int net_find(const dt_net *net, const char *name)
{
    for (int i = 0; i < net->n; i++)
        if (!strcmp(net->L[i].name, name)) return i;
    return -1;
}

char *net_layer_list(const dt_net *net, int upto)
{
    size_t len = 1;
    if (upto < 0 || upto >= net->n) upto = net->n - 1;
    for (int i = 1; i <= upto; i++) len += strlen(net->L[i].name) + 2;
    char *s = dt_malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 1; i <= upto; i++) {
        if (i > 1) strcat(s, ", ");
        strcat(s, net->L[i].name);
    }
    return s;
}

static const struct { const char *word; dt_kind kind; } kinds[] = {
    {"input", L_INPUT},  {"conv", L_CONV},       {"relu", L_RELU},       {"maxpool", L_MAXPOOL},
    {"avgpool", L_AVGPOOL}, {"adaptiveavgpool", L_ADAPTAVG}, {"lrn", L_LRN}, {"concat", L_CONCAT},
    {"fc", L_FC},        {"softmax", L_SOFTMAX}, {"dropout", L_DROPOUT},
};

static int parse_pair(const char *v, int *a, int *b)
{
    char *end;
    long x = strtol(v, &end, 10), y = x;
    if (*end == 'x') y = strtol(end + 1, &end, 10);
    if (*end || x < 0 || y < 0 || x > 100000 || y > 100000) return -1;
    *a = (int)x;
    *b = (int)y;
    return 0;
}

int net_parse(dt_net *net, const char *text, const char *src)
{
    memset(net, 0, sizeof *net);
    char *buf = dt_strdup(text);
    if (!buf) return -1;
    int cap = 64, lineno = 0;
    net->L = dt_calloc((size_t)cap, sizeof *net->L);
    if (!net->L) { free(buf); return -1; }
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *tok[32];
        int nt = 0;
        char *ts = NULL;
        for (char *t = strtok_r(line, " \t\r", &ts); t && nt < 32; t = strtok_r(NULL, " \t\r", &ts)) tok[nt++] = t;
        if (nt == 0) continue;
        if (!strcmp(tok[0], "network")) {
            if (nt < 2) goto bad;
            snprintf(net->name, sizeof net->name, "%s", tok[1]);
            continue;
        }
        if (!strcmp(tok[0], "architecture")) {
            /* the rest of the line, spaces kept */
            net->arch[0] = 0;
            for (int i = 1; i < nt; i++) {
                if (i > 1) strncat(net->arch, " ", sizeof net->arch - strlen(net->arch) - 1);
                strncat(net->arch, tok[i], sizeof net->arch - strlen(net->arch) - 1);
            }
            continue;
        }
        if (nt < 2) goto bad;
        if (net->n == cap) {
            cap *= 2;
            dt_layer *nl = realloc(net->L, (size_t)cap * sizeof *nl);
            if (!nl) { free(buf); net_free(net); return dt_seterr("%s: out of memory", src); }
            net->L = nl;
        }
        dt_layer *l = &net->L[net->n];
        memset(l, 0, sizeof *l);
        int found = 0;
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
            if (!strcmp(tok[0], kinds[k].word)) { l->kind = kinds[k].kind; found = 1; }
        if (!found) {
            dt_seterr("%s:%d: unknown layer kind '%s'", src, lineno, tok[0]);
            goto fail;
        }
        if (strlen(tok[1]) >= sizeof l->name) goto bad;
        strcpy(l->name, tok[1]);
        if (net_find(net, l->name) >= 0) { dt_seterr("%s:%d: layer '%s' defined twice", src, lineno, l->name); goto fail; }
        l->sh = l->sw = 1;
        l->groups = 1;
        l->lrn_n = 5;
        l->alpha = 1e-4f;
        l->beta = 0.75f;
        l->lrn_k = 1;
        int have_from = 0;
        for (int i = 2; i < nt; i++) {
            char *eq = strchr(tok[i], '=');
            if (!eq) {
                if (!strcmp(tok[i], "ceil")) { l->ceil_mode = 1; continue; }
                goto bad;
            }
            *eq = 0;
            const char *k = tok[i], *v = eq + 1;
            int a, b;
            if (!strcmp(k, "from")) {
                have_from = 1;
                char *fs = NULL, *vv = (char *)v;
                for (char *f = strtok_r(vv, ",", &fs); f; f = strtok_r(NULL, ",", &fs)) {
                    int j = net_find(net, f);
                    if (j < 0) { dt_seterr("%s:%d: layer '%s' takes input from unknown layer '%s'", src, lineno, l->name, f); goto fail; }
                    if (l->nin == DT_MAXIN) goto bad;
                    l->in[l->nin++] = j;
                }
            } else if (!strcmp(k, "out")) {
                if (parse_pair(v, &a, &b)) goto bad;
                l->out = a;
                l->aho = a;
                l->awo = b;
            } else if (!strcmp(k, "c") && l->kind == L_INPUT) {
                l->out = atoi(v);
            } else if (!strcmp(k, "k") && l->kind == L_LRN) {
                l->lrn_k = strtof(v, NULL);
            } else if (!strcmp(k, "k")) {
                if (parse_pair(v, &l->kh, &l->kw)) goto bad;
            } else if (!strcmp(k, "s")) {
                if (parse_pair(v, &l->sh, &l->sw) || l->sh < 1 || l->sw < 1) goto bad;
            } else if (!strcmp(k, "p")) {
                if (parse_pair(v, &l->ph, &l->pw)) goto bad;
            } else if (!strcmp(k, "g")) {
                l->groups = atoi(v);
                if (l->groups < 1) goto bad;
            } else if (!strcmp(k, "n")) {
                l->lrn_n = atoi(v);
            } else if (!strcmp(k, "alpha")) {
                l->alpha = strtof(v, NULL);
            } else if (!strcmp(k, "beta")) {
                l->beta = strtof(v, NULL);
            } else {
                dt_seterr("%s:%d: unknown parameter '%s'", src, lineno, k);
                goto fail;
            }
        }
        if (l->kind == L_INPUT) {
            if (net->n != 0) { dt_seterr("%s:%d: the input must be the first layer", src, lineno); goto fail; }
            if (l->out != 1 && l->out != 3) { dt_seterr("%s:%d: input needs c=1 or c=3", src, lineno); goto fail; }
        } else {
            if (net->n == 0) { dt_seterr("%s:%d: the first layer must be 'input'", src, lineno); goto fail; }
            if (!have_from) { l->in[0] = net->n - 1; l->nin = 1; }
            /* an empty from= leaves no input: a concat of nothing has no channels */
            if (l->nin < 1) { dt_seterr("%s:%d: layer '%s' has an empty from=; name its input layers", src, lineno, l->name); goto fail; }
            if (l->kind != L_CONCAT && l->nin != 1) { dt_seterr("%s:%d: layer '%s' takes exactly one input", src, lineno, l->name); goto fail; }
            if ((l->kind == L_CONV || l->kind == L_FC) && l->out < 1) { dt_seterr("%s:%d: layer '%s' needs out=", src, lineno, l->name); goto fail; }
            if ((l->kind == L_CONV || l->kind == L_MAXPOOL || l->kind == L_AVGPOOL) && (l->kh < 1 || l->kw < 1)) {
                dt_seterr("%s:%d: layer '%s' needs k=", src, lineno, l->name);
                goto fail;
            }
            if (l->kind == L_ADAPTAVG && (l->aho < 1 || l->awo < 1)) { dt_seterr("%s:%d: adaptiveavgpool needs out=HxW", src, lineno); goto fail; }
        }
        net->n++;
        continue;
    bad:
        dt_seterr("%s:%d: cannot parse this line", src, lineno);
        goto fail;
    }
    free(buf);
    if (net->n < 2) { net_free(net); return dt_seterr("%s: no layers", src); }
    if (!net->name[0]) snprintf(net->name, sizeof net->name, "%s", dt_basename(src));
    return 0;
fail:
    free(buf);
    net_free(net);
    return -1;
}

/* Plan shapes; returns the index of the first layer that cannot be planned
 * (with a message), or -1 when all are fine. */
static int plan(dt_net *net, int H, int W)
{
    for (int i = 0; i < net->n; i++) {
        dt_layer *l = &net->L[i];
        if (l->kind == L_INPUT) {
            l->c = l->out;
            l->h = H;
            l->w = W;
            continue;
        }
        const dt_layer *a = &net->L[l->in[0]];
        l->c = a->c;
        l->h = a->h;
        l->w = a->w;
        switch (l->kind) {
        case L_CONV:
            if (a->c % l->groups || l->out % l->groups) {
                dt_seterr("layer %s: %d input and %d output channels do not divide into %d groups", l->name, a->c, l->out, l->groups);
                return i;
            }
            l->cs = (dt_conv_shape){a->c, a->h, a->w, l->out, dt_conv_out(a->h, l->kh, l->sh, l->ph),
                                    dt_conv_out(a->w, l->kw, l->sw, l->pw), l->kh, l->kw, l->sh, l->sw, l->ph, l->pw,
                                    l->groups};
            l->c = l->out;
            l->h = a->h + 2 * l->ph < l->kh ? 0 : l->cs.ho;
            l->w = a->w + 2 * l->pw < l->kw ? 0 : l->cs.wo;
            break;
        case L_MAXPOOL:
        case L_AVGPOOL:
            l->ps = (dt_pool_shape){a->c, a->h, a->w, dt_pool_out(a->h, l->kh, l->sh, l->ph, l->ceil_mode),
                                    dt_pool_out(a->w, l->kw, l->sw, l->pw, l->ceil_mode), l->kh, l->kw, l->sh, l->sw, l->ph, l->pw};
            l->h = a->h + 2 * l->ph < l->kh ? 0 : l->ps.ho;
            l->w = a->w + 2 * l->pw < l->kw ? 0 : l->ps.wo;
            break;
        case L_ADAPTAVG:
            l->h = l->aho;
            l->w = l->awo;
            break;
        case L_CONCAT:
            l->c = 0;
            for (int j = 0; j < l->nin; j++) {
                const dt_layer *b = &net->L[l->in[j]];
                if (b->h != a->h || b->w != a->w) {
                    dt_seterr("layer %s: inputs %s (%dx%d) and %s (%dx%d) differ in size", l->name, a->name, a->h, a->w,
                              b->name, b->h, b->w);
                    return i;
                }
                l->c += b->c;
            }
            break;
        case L_FC:
            l->c = l->out;
            l->h = l->w = 1;
            break;
        default:
            break;
        }
        if (l->h < 1 || l->w < 1 || (l->kind == L_ADAPTAVG && (a->h < 1 || a->w < 1))) {
            dt_seterr("layer %s would be empty", l->name);
            return i;
        }
    }
    return -1;
}

int net_plan(dt_net *net, int H, int W)
{
    int bad = plan(net, H, W);
    if (bad < 0) {
        net->H = H;
        net->W = W;
        return 0;
    }
    char why[512];
    snprintf(why, sizeof why, "%s", dt_lasterr());
    /* smallest square input that works, for the message */
    int s = 1;
    while (s < 4096 && plan(net, s, s) >= 0) s++;
    plan(net, net->H ? net->H : s, net->W ? net->W : s);
    if (s < 4096)
        return dt_seterr("input %dx%d is too small for %s (%s); the smallest input is %dx%d", W, H, net->name, why, s, s);
    return dt_seterr("input %dx%d does not fit %s (%s)", W, H, net->name, why);
}

void net_ancestors(const dt_net *net, int t, uint8_t *need)
{
    need[t] = 1;
    for (int i = t; i >= 0; i--)
        if (need[i])
            for (int j = 0; j < net->L[i].nin; j++) need[net->L[i].in[j]] = 1;
}

static int read_param(hid_t f, const char *path, const char *layer, const char *what, int rank, const hsize_t *want,
                      float **out)
{
    char ds[256];
    snprintf(ds, sizeof ds, "%s/%s", layer, what);
    int r;
    hsize_t d[4];
    H5T_class_t cls;
    if (!h5_exists(f, ds)) return dt_seterr("%s: layer %s has no '%s' dataset", path, layer, what);
    if (h5_shape(f, ds, &r, d, &cls, NULL)) return dt_preerr("%s", path);
    int same = r == rank && cls == H5T_FLOAT;
    for (int i = 0; same && i < rank; i++) same = d[i] == want[i];
    if (!same) {
        char a[96] = "", b[96] = "";
        for (int i = 0; i < rank; i++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%llu", i ? "x" : "", (unsigned long long)want[i]);
        for (int i = 0; i < r; i++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%llu", i ? "x" : "", (unsigned long long)d[i]);
        return dt_seterr("%s: layer %s: %s should be %s for this architecture but is %s%s; are these weights for another network?",
                         path, layer, what, a, b, cls == H5T_FLOAT ? "" : " (not float)");
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= want[i];
    float *v = dt_malloc(n * sizeof(float));
    if (!v) return -1;
    if (h5_read(f, ds, H5T_NATIVE_FLOAT, v)) { free(v); return dt_preerr("%s", path); }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            const char *kind = isnan(v[i]) ? "NaN" : "Inf";
            free(v);
            return dt_seterr("%s: layer %s: %s has a non-finite value (%s) at element %zu; the weight file is corrupt",
                             path, layer, what, kind, i);
        }
    *out = v;
    return 0;
}

int net_load_weights(dt_net *net, const char *path, int last)
{
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1, upto = last < 0 ? net->n - 1 : last;
    net->nweights = 0;
    int i;
    for (i = 0; i <= upto; i++) {
        dt_layer *l = &net->L[i];
        if (l->kind != L_CONV && l->kind != L_FC) continue;
        if (!h5_exists(f, l->name)) {
            if (last < 0) break;
            /* usable up to the layer before the first one without weights */
            int j = 0;
            while (j < net->n && ((net->L[j].kind != L_CONV && net->L[j].kind != L_FC) || h5_exists(f, net->L[j].name))) j++;
            dt_seterr("%s: no weights for layer %s, which %s needs; this file supports layers up to %s", path, l->name,
                      net->L[last].name, j > 1 ? net->L[j - 1].name : "(none)");
            goto done;
        }
        free(l->W);
        free(l->b);
        l->W = l->b = NULL;
        const dt_layer *a = &net->L[l->in[0]];
        hsize_t wd[4], bd[1] = {(hsize_t)l->out};
        int wr;
        if (l->kind == L_CONV) {
            wd[0] = (hsize_t)l->out; wd[1] = (hsize_t)(a->c / l->groups); wd[2] = (hsize_t)l->kh; wd[3] = (hsize_t)l->kw;
            wr = 4;
        } else {
            wd[0] = (hsize_t)l->out; wd[1] = (hsize_t)a->c * (hsize_t)a->h * (hsize_t)a->w;
            wr = 2;
        }
        if (read_param(f, path, l->name, "weight", wr, wd, &l->W)) goto done;
        if (read_param(f, path, l->name, "bias", 1, bd, &l->b)) goto done;
    }
    /* layers before the first conv/fc without weights are usable */
    for (net->nweights = 0; net->nweights < net->n; net->nweights++) {
        const dt_layer *l = &net->L[net->nweights];
        if ((l->kind == L_CONV || l->kind == L_FC) && !l->W) break;
    }
    rc = 0;
done:
    H5Fclose(f);
    return rc;
}

/* ---- forward ---- */

static size_t layer_size(const dt_layer *l, int K) { return (size_t)l->c * (size_t)K * (size_t)l->h * (size_t)l->w; }

/* Scratch a layer needs on nt threads: the convolution's im2col blocks, the
 * fully connected layer's gathered lane, the LRN backward's ring. */
static size_t layer_scratch(const dt_net *net, const dt_layer *l, int K, int nt, int backward)
{
    if (l->kind == L_CONV) return conv_scratch_f32(&l->cs, nt);
    if (l->kind == L_FC) return layer_size(&net->L[l->in[0]], 1) + (size_t)l->out;
    if (backward && l->kind == L_LRN) return lrn_backward_scratch(l->lrn_n, K, (size_t)l->h * l->w);
    return 0;
}

static size_t scratch_need(const dt_net *net, int K, int nt, const uint8_t *need)
{
    size_t s = 0;
    for (int i = 0; i < net->n; i++) {
        if (need && !need[i]) continue;
        size_t x = layer_scratch(net, &net->L[i], K, nt, 0);
        s = x > s ? x : s;
    }
    return s;
}

void state_free(dt_state *st, const dt_net *net)
{
    if (!st || !st->out) return;
    for (int i = 0; i < net->n; i++) {
        if (!st->alias[i]) free(st->out[i]);
        free(st->argmax[i]);
        free(st->aux[i]);
    }
    free(st->out);
    free(st->alias);
    free(st->argmax);
    free(st->aux);
    free(st->scratch);
    free(st->need);
    memset(st, 0, sizeof *st);
}

int state_alloc(dt_state *st, const dt_net *net, int K, const uint8_t *need)
{
    memset(st, 0, sizeof *st);
    st->K = K;
    st->out = dt_calloc((size_t)net->n, sizeof *st->out);
    st->alias = dt_calloc((size_t)net->n, 1);
    st->argmax = dt_calloc((size_t)net->n, sizeof *st->argmax);
    st->aux = dt_calloc((size_t)net->n, sizeof *st->aux);
    if (!st->out || !st->alias || !st->argmax || !st->aux) goto oom;
    for (int i = 0; i < net->n; i++) {
        if (need && !need[i]) continue;
        const dt_layer *l = &net->L[i];
        if (l->kind == L_DROPOUT) {
            st->alias[i] = 1;
            continue;
        }
        st->out[i] = malloc(layer_size(l, K) * sizeof(float));
        if (!st->out[i]) goto oom;
        if (l->kind == L_MAXPOOL && !(st->argmax[i] = malloc(layer_size(l, K) * sizeof(int32_t)))) goto oom;
        if (l->kind == L_LRN && !(st->aux[i] = malloc(2 * layer_size(l, K) * sizeof(float)))) goto oom;
    }
    st->nscratch = scratch_need(net, K, 1, need);
    st->scratch = malloc((st->nscratch ? st->nscratch : 1) * sizeof(float));
    if (!st->scratch) goto oom;
    st->need = dt_malloc((size_t)net->n);
    if (!st->need) goto oom;
    for (int i = 0; i < net->n; i++) st->need[i] = !need || need[i];
    return 0;
oom:
    st->out && (state_free(st, net), 0);
    return dt_seterr("out of memory allocating activations for %d images", K);
}

/* The forward of a ReLU, max-pool or LRN layer split over threads by
 * channels (ReLU: by elements), for a one-image forward whose convolutions
 * are split too: run serially, these layers would leave the other threads
 * waiting. */
typedef struct {
    const dt_layer *l;
    dt_state *st;
    int i, K, T;
    const float *x;
    float *y;
} fwd_part;

static void fwd_part_run(void *ctx, int t)
{
    fwd_part *p = ctx;
    const dt_layer *l = p->l;
    int K = p->K;
    size_t hw = (size_t)l->h * l->w;
    if (l->kind == L_RELU) {
        size_t n = layer_size(l, K), a = n * (size_t)t / (size_t)p->T, b = n * (size_t)(t + 1) / (size_t)p->T;
        relu_forward_f32(p->y + a, p->x + a, b - a);
        return;
    }
    int cb = (int)((long)l->c * t / p->T), ce = (int)((long)l->c * (t + 1) / p->T);
    if (ce <= cb) return;
    if (l->kind == L_LRN) {
        lrn_forward_ch_f32(p->y, p->st->aux[p->i], p->x, l->c, K, hw, l->lrn_n, l->alpha, l->beta, l->lrn_k, cb, ce);
        return;
    }
    dt_pool_shape s = l->ps; /* max-pool: channels [cb, ce) are planes of their own */
    size_t ihw = (size_t)s.h * s.w;
    s.c = ce - cb;
    maxpool_forward_f32(p->y + (size_t)cb * K * hw, p->st->argmax[p->i] + (size_t)cb * K * hw, p->x + (size_t)cb * K * ihw, &s, K);
}

int net_forward(const dt_net *net, dt_state *st, const float *in)
{
    int K = st->K;
    /* the threaded convolutions need a scratch block per thread */
    size_t sn = scratch_need(net, K, st->nthreads, st->need);
    if (sn > st->nscratch) {
        float *p = malloc(sn * sizeof(float));
        if (!p) return dt_seterr("out of memory for %zu MB of convolution scratch on %d threads (use fewer --threads)", sn * sizeof(float) >> 20, st->nthreads);
        free(st->scratch);
        st->scratch = p;
        st->nscratch = sn;
    }
    for (int i = 0; i < net->n; i++) {
        const dt_layer *l = &net->L[i];
        if (!st->out[i] && !st->alias[i]) continue;
        if (i > 0 && (l->kind == L_CONV || l->kind == L_FC) && i >= net->nweights)
            return dt_seterr("layer %s has no weights loaded", l->name);
        const float *x = i > 0 ? st->out[l->in[0]] : in;
        float *y = st->out[i];
        size_t hw = (size_t)l->h * l->w;
        if (st->nthreads > 1 && (l->kind == L_RELU || l->kind == L_MAXPOOL || l->kind == L_LRN) && layer_size(l, K) >= (1u << 15)) {
            fwd_part p = {l, st, i, K, st->nthreads, x, y};
            dt_parallel(st->nthreads, fwd_part_run, &p);
            continue;
        }
        switch (l->kind) {
        case L_INPUT: memcpy(y, in, layer_size(l, K) * sizeof(float)); break;
        case L_CONV:
            if (st->nthreads > 1) conv_forward_par_f32(y, x, l->W, l->b, &l->cs, K, st->scratch, st->nthreads, dt_parallel_units);
            else conv_forward_f32(y, x, l->W, l->b, &l->cs, K, st->scratch);
            break;
        case L_RELU: relu_forward_f32(y, x, layer_size(l, K)); break;
        case L_MAXPOOL: maxpool_forward_f32(y, st->argmax[i], x, &l->ps, K); break;
        case L_AVGPOOL: avgpool_forward_f32(y, x, &l->ps, K); break;
        case L_ADAPTAVG: {
            const dt_layer *a = &net->L[l->in[0]];
            adaptavg_forward_f32(y, x, l->c, a->h, a->w, l->h, l->w, K);
            break;
        }
        case L_LRN: lrn_forward_f32(y, st->aux[i], x, l->c, K, hw, l->lrn_n, l->alpha, l->beta, l->lrn_k); break;
        case L_CONCAT: {
            size_t off = 0;
            for (int j = 0; j < l->nin; j++) {
                size_t n = layer_size(&net->L[l->in[j]], K);
                memcpy(y + off, st->out[l->in[j]], n * sizeof(float));
                off += n;
            }
            break;
        }
        case L_FC: {
            const dt_layer *a = &net->L[l->in[0]];
            fc_forward_f32(y, x, l->W, l->b, l->out, a->c, (size_t)a->h * a->w, K, st->scratch);
            break;
        }
        case L_SOFTMAX: softmax_forward_f32(y, x, l->c, K, hw); break;
        case L_DROPOUT: st->out[i] = (float *)x; break; /* identity at inference */
        }
    }
    return 0;
}

/* ---- backward ---- */

void gradws_init(dt_gradws *ws) { memset(ws, 0, sizeof *ws); }

void gradws_free(dt_gradws *ws, const dt_net *net)
{
    if (!ws) return;
    for (int t = 0; ws->sub && t < ws->nthreads; t++) gradws_free(&ws->sub[t], net);
    free(ws->sub);
    free(ws->lanebuf);
    for (int i = 0; ws->g && i < net->n; i++) free(ws->g[i]);
    free(ws->g);
    free(ws->cap);
    free(ws->scratch);
    memset(ws, 0, sizeof *ws);
}

static int backward_one(const dt_net *net, const dt_state *st, int t, const float *dt, int K, float *din, dt_gradws *ws)
{
    int Kf = st->K;
    if (K % Kf) return dt_seterr("backward: %d gradients over %d forward lanes", K, Kf);
    if (!ws->g) {
        ws->g = dt_calloc((size_t)net->n, sizeof *ws->g);
        ws->cap = dt_calloc((size_t)net->n, sizeof *ws->cap);
        if (!ws->g || !ws->cap) return -1;
    }
    uint8_t *need = dt_calloc((size_t)net->n, 1);
    if (!need) return -1;
    net_ancestors(net, t, need);
    for (int i = 0; i <= t; i++) {
        if (!need[i]) continue;
        if (!st->out[i] && !st->alias[i]) { free(need); return dt_seterr("backward: layer %s was not computed", net->L[i].name); }
        if (i == 0 || i == t) continue; /* the caller's din and dt stand in for these (below) */
        size_t n = layer_size(&net->L[i], K);
        if (ws->cap[i] < n) {
            free(ws->g[i]);
            ws->g[i] = malloc(n * sizeof(float));
            if (!ws->g[i]) { ws->cap[i] = 0; free(need); return dt_seterr("out of memory for gradients"); }
            ws->cap[i] = n;
        }
    }
    /* A gradient buffer needs zeroing unless its only writer is a ReLU, LRN,
     * convolution or max-pool backward, which can assign instead of
     * accumulate (the last two zero each plane just before they scatter
     * into it, while it is in cache). */
    uint8_t *writers = dt_calloc((size_t)net->n, 1), *assign = dt_calloc((size_t)net->n, 1);
    if (!writers || !assign) { free(need); free(writers); free(assign); return -1; }
    for (int i = 1; i <= t; i++)
        if (need[i])
            for (int j = 0; j < net->L[i].nin; j++) writers[net->L[i].in[j]]++;
    for (int i = 1; i <= t; i++)
        if (need[i] && writers[net->L[i].in[0]] == 1 &&
            (net->L[i].kind == L_RELU || net->L[i].kind == L_LRN || net->L[i].kind == L_CONV || net->L[i].kind == L_MAXPOOL))
            assign[net->L[i].in[0]] = 1;
    /* ReLU -> LRN with nothing else reading the ReLU: the LRN backward applies
     * the ReLU's mask itself and writes the ReLU input's gradient */
    uint8_t *fused = dt_calloc((size_t)net->n, 1);
    if (!fused) { free(need); free(writers); free(assign); return -1; }
    for (int i = 1; i <= t; i++) {
        if (!need[i] || net->L[i].kind != L_LRN) continue;
        int r = net->L[i].in[0];
        if (net->L[r].kind == L_RELU && writers[r] == 1 && r != t && assign[net->L[r].in[0]]) fused[r] = 1;
    }
    for (int i = 1; i < t; i++)
        if (need[i] && !assign[i] && !fused[i]) memset(ws->g[i], 0, layer_size(&net->L[i], K) * sizeof(float));
    free(writers);
    size_t sn = 0;
    for (int i = 1; i <= t; i++) {
        if (!need[i]) continue;
        size_t x = layer_scratch(net, &net->L[i], K, ws->nthreads, 1);
        sn = x > sn ? x : sn;
    }
    if (ws->nscratch < sn) {
        free(ws->scratch);
        ws->scratch = malloc(sn * sizeof(float));
        if (!ws->scratch) { ws->nscratch = 0; free(need); return dt_seterr("out of memory for gradients"); }
        ws->nscratch = sn;
    }
    if (t == 0) { /* the gradient at the input itself */
        memcpy(din, dt, layer_size(&net->L[0], K) * sizeof(float));
        free(need);
        free(assign);
        free(fused);
        return 0;
    }
    /* the top gradient is read in place and the input's gradient written in
     * place: their buffers stand in for ws->g[t] and ws->g[0], which are
     * never allocated (no backward writes into the top layer's gradient);
     * restored below */
    float *own_top = ws->g[t], *own_in = ws->g[0];
    ws->g[t] = (float *)dt;
    ws->g[0] = din;
    if (!assign[0]) memset(din, 0, layer_size(&net->L[0], K) * sizeof(float));
    for (int i = t; i >= 1; i--) {
        if (!need[i]) continue;
        const dt_layer *l = &net->L[i];
        const dt_layer *a = &net->L[l->in[0]];
        float *gy = ws->g[i], *gx = ws->g[l->in[0]];
        size_t hw = (size_t)l->h * l->w;
        switch (l->kind) {
        case L_CONV: {
            int acc = !assign[l->in[0]];
            if (ws->nthreads > 1) conv_backward_par_f32(gx, gy, l->W, &l->cs, K, ws->scratch, ws->nthreads, dt_parallel_units, acc);
            else conv_backward_f32(gx, gy, l->W, &l->cs, K, ws->scratch, acc);
            break;
        }
        case L_RELU:
            if (!fused[i]) relu_backward_f32(gx, gy, st->out[i], l->c, Kf, K, hw, !assign[l->in[0]]);
            break;
        case L_MAXPOOL: maxpool_backward_f32(gx, gy, st->argmax[i], &l->ps, Kf, K, !assign[l->in[0]]); break;
        case L_AVGPOOL: avgpool_backward_f32(gx, gy, &l->ps, K); break;
        case L_ADAPTAVG: adaptavg_backward_f32(gx, gy, l->c, a->h, a->w, l->h, l->w, K); break;
        case L_LRN:
            if (fused[l->in[0]]) {
                int p = net->L[l->in[0]].in[0]; /* the ReLU's input */
                lrn_backward_f32(ws->g[p], gy, st->out[l->in[0]], st->aux[i], l->c, Kf, K, hw, l->lrn_n, l->alpha, l->beta,
                                 !assign[p], 1, ws->scratch);
            } else {
                lrn_backward_f32(gx, gy, st->out[l->in[0]], st->aux[i], l->c, Kf, K, hw, l->lrn_n, l->alpha, l->beta,
                                 !assign[l->in[0]], 0, ws->scratch);
            }
            break;
        case L_CONCAT: {
            size_t off = 0;
            for (int j = 0; j < l->nin; j++) {
                size_t n = layer_size(&net->L[l->in[j]], K);
                float *g = ws->g[l->in[j]];
                for (size_t e = 0; e < n; e++) g[e] += gy[off + e];
                off += n;
            }
            break;
        }
        case L_FC: fc_backward_f32(gx, gy, l->W, l->out, a->c, (size_t)a->h * a->w, K, ws->scratch); break;
        case L_SOFTMAX: softmax_backward_f32(gx, gy, st->out[i], l->c, Kf, K, hw); break;
        case L_DROPOUT: {
            size_t n = layer_size(l, K);
            for (size_t e = 0; e < n; e++) gx[e] += gy[e];
            break;
        }
        case L_INPUT: break;
        }
    }
    ws->g[t] = own_top;
    ws->g[0] = own_in;
    free(need);
    free(assign);
    free(fused);
    return 0;
}

double net_macs(const dt_net *net, int t)
{
    uint8_t *need = calloc((size_t)net->n, 1);
    if (!need) return 0;
    net_ancestors(net, t, need);
    double m = 0;
    for (int i = 0; i <= t; i++) {
        if (!need[i]) continue;
        const dt_layer *l = &net->L[i];
        if (l->kind == L_CONV)
            m += (double)l->c * l->h * l->w * (double)(l->cs.cin / l->groups) * l->kh * l->kw;
        if (l->kind == L_FC) {
            const dt_layer *a = &net->L[l->in[0]];
            m += (double)l->out * a->c * a->h * a->w;
        }
    }
    free(need);
    return m;
}

#ifndef LANE_CHUNK
#define LANE_CHUNK 2
#endif

/* Lane split (single-lane forward): thread i takes a contiguous share of the
 * gradient lanes, runs the serial backward on its own workspace, and its
 * input gradients are copied back. */
typedef struct {
    const dt_net *net;
    const dt_state *st;
    int t, K, per;                /* lanes per thread (a multiple of K / Kf) */
    const float *dt;
    float *din;
    dt_gradws *ws;
    int rc;
} lane_job;

static void gather_lanes(float *dst, const float *src, size_t c, int K, int k0, int kn, size_t hw)
{
    for (size_t ch = 0; ch < c; ch++) memcpy(dst + ch * kn * hw, src + (ch * K + (size_t)k0) * hw, (size_t)kn * hw * sizeof(float));
}

static void scatter_lanes(float *dst, const float *src, size_t c, int K, int k0, int kn, size_t hw)
{
    for (size_t ch = 0; ch < c; ch++) memcpy(dst + (ch * K + (size_t)k0) * hw, src + ch * kn * hw, (size_t)kn * hw * sizeof(float));
}

static void lane_part(void *ctx, int i)
{
    lane_job *j = ctx;
    int k0 = i * j->per, kn = j->K - k0 < j->per ? j->K - k0 : j->per;
    if (kn <= 0) return;
    const dt_layer *lt = &j->net->L[j->t], *l0 = &j->net->L[0];
    size_t hwt = (size_t)lt->h * lt->w, hw0 = (size_t)l0->h * l0->w;
    dt_gradws *w = &j->ws->sub[i];
    float *up = j->ws->lanebuf + (size_t)i * ((size_t)lt->c * j->per * hwt + (size_t)l0->c * j->per * hw0);
    float *dn = up + (size_t)lt->c * j->per * hwt;
    /* a few lanes at a time, so one pass's gradients stay in cache */
    for (int a = 0; a < kn; a += LANE_CHUNK) {
        int m = kn - a < LANE_CHUNK ? kn - a : LANE_CHUNK;
        gather_lanes(up, j->dt, (size_t)lt->c, j->K, k0 + a, m, hwt);
        if (backward_one(j->net, j->st, j->t, up, m, dn, w)) { j->rc = -1; return; }
        scatter_lanes(j->din, dn, (size_t)l0->c, j->K, k0 + a, m, hw0);
    }
}

int net_backward(const dt_net *net, const dt_state *st, int t, const float *dt, int K, float *din, dt_gradws *ws)
{
    int T = ws->nthreads;
    if (T <= 1 || K < T || st->K != 1) {
        /* one lane (or a multi-lane forward): split inside the convolutions */
        return backward_one(net, st, t, dt, K, din, ws);
    }
    if (!ws->sub) {
        ws->sub = dt_calloc((size_t)T, sizeof *ws->sub);
        if (!ws->sub) return -1;
    }
    int per = (K + T - 1) / T;
    const dt_layer *lt = &net->L[t], *l0 = &net->L[0];
    size_t need = (size_t)T * ((size_t)lt->c * per * lt->h * lt->w + (size_t)l0->c * per * l0->h * l0->w);
    if (ws->nlanebuf < need) {
        free(ws->lanebuf);
        ws->lanebuf = malloc(need * sizeof(float));
        ws->nlanebuf = ws->lanebuf ? need : 0;
        if (!ws->lanebuf) return dt_seterr("out of memory for gradients");
    }
    lane_job j = {net, st, t, K, per, dt, din, ws, 0};
    dt_parallel(T, lane_part, &j);
    return j.rc ? dt_seterr("backward failed in a worker thread") : 0;
}
