/* tuner.c — see tuner.h.
 *
 * One step for image x (h, w, c; pixels 0..255):
 *   1. roll x by a random offset (jitter);
 *   2. gradients of the model(s) with respect to the pixels (ensemble.c);
 *      for a consensus each model's gradient is first scaled to unit RMS,
 *      so that no model dominates the minimum by the scale of its readout
 *      alone, and then combined element-wise (tune_consensus);
 *   3. unroll; blur the gradient (the default: a Gaussian is a positive
 *      definite operator, so the blurred gradient is still an ascent
 *      direction, only smoother); scale it to unit RMS;
 *   4. subtract the regularisers' gradients (image in 0..1 units):
 *      tv * grad TV^beta(x) + lp * grad sum |(x - 128)/128|^p;
 *   5. x += step size * that; or blur x itself (--blur-image); clip to 0..255;
 *      optionally rescale to a fixed standard deviation.
 *
 * The consensus sign rule: the paper (Abbasi-Asl et al. 2018) takes the
 * element-wise minimum of the absolute gradients but does not say which
 * sign the step gets.  The default, "minmod" (as the minmod slope limiter),
 * moves a pixel only where every model's gradient has the same sign, by the
 * smallest magnitude: the step is then an ascent direction for every model
 * at once (each model's directional derivative is a sum of terms of its own
 * sign), which is what "only what all models agree on survives" asks.
 * "mean" takes the sign of the mean gradient (moves where the models
 * disagree, by the smallest magnitude); "argmin" takes the sign of the
 * model with the smallest magnitude. */
#include "tuner.h"
#include "fft2.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tune_opts_default(tune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 200;
    o->lr = 2;
    o->lr_end = 0.2;
    o->inits = 3;
    o->init = INIT_NOISE;
    o->init_sd = 24;
    o->seed = 1;
    o->rule = RULE_MINMOD;
    o->single = o->consensus = 1;
    o->tv = 0.1;
    o->tv_beta = 2;
    o->lp = 0.05;
    o->lp_p = 6;
    o->blur0 = 1;
    o->blur1 = 0.5;
    o->blur_grad = 1;
    o->jitter = 2;
    o->gradnorm = 1;
    o->clip = 1;
}

void tune_result_free(tune_result *r)
{
    free(r->variant_model); free(r->img); free(r->pred); free(r->trace); free(r->agree);
    memset(r, 0, sizeof *r);
}

/* Pixels [a, b) in blocks with the models in the outer loop, so that each
 * pass reads one model's gradient contiguously and vectorises; per pixel,
 * the same arithmetic in the same order as a loop over the models. */
#define CONS_BLOCK 1024
DT_VEC static void consensus_range(const float *g, int M, size_t n, size_t a, size_t b, tune_rule rule, float *out,
                                   float *agree)
{
    /* all state in float (counts are exact below 2^24 models), selects
     * without branches: the inner loop vectorises */
    float mn[CONS_BLOCK], sum[CONS_BLOCK], sa[CONS_BLOCK], pos[CONS_BLOCK], neg[CONS_BLOCK];
    float fM = (float)M;
    for (size_t i0 = a; i0 < b; i0 += CONS_BLOCK) {
        size_t nb = b - i0 < CONS_BLOCK ? b - i0 : CONS_BLOCK;
        for (size_t i = 0; i < nb; i++) mn[i] = INFINITY, sum[i] = 0, sa[i] = 0, pos[i] = 0, neg[i] = 0;
        for (int m = 0; m < M; m++) {
            const float *restrict gm = g + (size_t)m * n + i0;
            for (size_t i = 0; i < nb; i++) {
                float v = gm[i], av = fabsf(v), p = (float)(v > 0), q = (float)(v < 0);
                pos[i] += p;
                neg[i] += q;
                sum[i] += v;
                /* the arg-min model's sign: the first model of least |g| */
                int lt = av < mn[i];
                sa[i] = lt ? p - q : sa[i];
                mn[i] = lt ? av : mn[i];
            }
        }
        for (size_t i = 0; i < nb; i++) {
            int agreed = pos[i] == fM || neg[i] == fM;
            if (agree && agreed) agree[i0 + i] += 1;
            float sg;
            if (rule == RULE_MINMOD) sg = agreed ? (pos[i] == fM ? 1.0f : -1.0f) : 0.0f;
            else if (rule == RULE_MEAN) sg = sum[i] > 0 ? 1.0f : sum[i] < 0 ? -1.0f : 0.0f;
            else sg = sa[i];
            out[i0 + i] = sg * mn[i];
        }
    }
}

void tune_consensus(const float *g, int M, size_t n, tune_rule rule, float *out, float *agree)
{
    consensus_range(g, M, n, 0, n, rule, out, agree);
}

typedef struct {
    const float *g;
    int M, parts;
    size_t n;
    tune_rule rule;
    float *out, *agree;
} cons_job;

static void cons_part(void *ctx, int i)
{
    cons_job *j = ctx;
    size_t nblk = (j->n + CONS_BLOCK - 1) / CONS_BLOCK;
    size_t a = nblk * (size_t)i / (size_t)j->parts * CONS_BLOCK, b = nblk * (size_t)(i + 1) / (size_t)j->parts * CONS_BLOCK;
    consensus_range(j->g, j->M, j->n, a, b < j->n ? b : j->n, j->rule, j->out, j->agree);
}

void tune_consensus_par(const float *g, int M, size_t n, tune_rule rule, float *out, float *agree, int nthreads)
{
    cons_job j = {g, M, nthreads > 1 ? nthreads : 1, n, rule, out, agree};
    if (j.parts == 1 || n < 4 * CONS_BLOCK) consensus_range(g, M, n, 0, n, rule, out, agree);
    else dt_parallel(j.parts, cons_part, &j);
}

struct fourier_param {
    int h, w, c;
    dt_fft2 F;
    double *a;     /* (h, w, 2) */
    float *s;      /* (h, w) */
};

fourier_param *fourier_alloc(int h, int w, int c, double alpha)
{
    fourier_param *f = dt_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->h = h; f->w = w; f->c = c;
    f->a = dt_malloc(2 * (size_t)h * w * sizeof *f->a);
    f->s = dt_malloc((size_t)h * w * sizeof *f->s);
    if (!f->a || !f->s || fft2_init(&f->F, h, w)) { fourier_free(f); return NULL; }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double fy = y <= h / 2 ? y : h - y, fx = x <= w / 2 ? x : w - x, fr = sqrt(fy * fy + fx * fx);
            f->s[(size_t)y * w + x] = (float)pow(fr > 1 ? fr : 1, -alpha);
        }
    return f;
}

void fourier_free(fourier_param *f)
{
    if (!f) return;
    if (f->F.col) fft2_free(&f->F);
    free(f->a);
    free(f->s);
    free(f);
}

void fourier_grad(fourier_param *f, const float *g, float *z)
{
    size_t n = (size_t)f->h * f->w;
    for (int ch = 0; ch < f->c; ch++) {
        for (size_t i = 0; i < n; i++) { f->a[2 * i] = g[i * f->c + ch]; f->a[2 * i + 1] = 0; }
        fft2_run(&f->F, f->a, 0);
        float *zc = z + (size_t)ch * 2 * n;
        for (size_t i = 0; i < n; i++) {
            zc[2 * i] = (float)(f->s[i] * f->a[2 * i]);
            zc[2 * i + 1] = (float)(f->s[i] * f->a[2 * i + 1]);
        }
    }
}

void fourier_step(fourier_param *f, const float *z, float *d)
{
    size_t n = (size_t)f->h * f->w;
    for (int ch = 0; ch < f->c; ch++) {
        const float *zc = z + (size_t)ch * 2 * n;
        for (size_t i = 0; i < n; i++) { f->a[2 * i] = f->s[i] * zc[2 * i]; f->a[2 * i + 1] = f->s[i] * zc[2 * i + 1]; }
        fft2_run(&f->F, f->a, 1);
        for (size_t i = 0; i < n; i++) d[i * f->c + ch] = (float)f->a[2 * i];
    }
}

double mean_pairwise_corr(const float *x, int n, size_t len, size_t ld)
{
    double tot = 0;
    int cnt = 0;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
            const float *u = x + (size_t)a * ld, *v = x + (size_t)b * ld;
            double su = 0, sv = 0, uu = 0, vv = 0, uv = 0;
            for (size_t i = 0; i < len; i++) { su += u[i]; sv += v[i]; }
            su /= (double)len;
            sv /= (double)len;
            for (size_t i = 0; i < len; i++) {
                double p = u[i] - su, q = v[i] - sv;
                uu += p * p; vv += q * q; uv += p * q;
            }
            if (uu > 0 && vv > 0) { tot += uv / sqrt(uu * vv); cnt++; }
        }
    return cnt ? tot / cnt : NAN;
}


/* out = x rolled by (dy, dx) (wrapping); dir = -1 rolls back. */
static void roll(const float *x, float *out, int h, int w, int c, int dy, int dx)
{
    for (int y = 0; y < h; y++) {
        int ys = ((y - dy) % h + h) % h;
        for (int xx = 0; xx < w; xx++) {
            int xs = ((xx - dx) % w + w) % w;
            memcpy(out + ((size_t)y * w + xx) * c, x + ((size_t)ys * w + xs) * c, (size_t)c * sizeof(float));
        }
    }
}

/* Column xx of a row blurred with the reflected border (the edge columns). */
static float blur_edge(const float *row, int w, int c, int ch, int xx, const float *k, int r)
{
    double a = 0;
    for (int i = -r; i <= r; i++) {
        int q = xx + i;
        q = q < 0 ? -q - 1 : q >= w ? 2 * w - q - 1 : q;
        q = q < 0 ? 0 : q >= w ? w - 1 : q;
        a += k[i + r] * row[(size_t)q * c + ch];
    }
    return (float)a;
}

DT_VEC void tune_blur(float *x, int h, int w, int c, double sigma, float *tmp)
{
    if (!(sigma > 0.05)) return;
    int r = (int)ceil(3 * sigma);
    if (r > 32) r = 32;
    double kd[65], s = 0;
    float k[65];
    for (int i = -r; i <= r; i++) s += kd[i + r] = exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] = (float)(kd[i] / s);
    size_t rowlen = (size_t)w * c;
    /* along the rows: a row is w*c floats, and tap i of the interior columns
     * [r, w - r) is the row shifted by i*c, so each tap is one axpy */
    int lo = r < w ? r : w, hi = w - r > lo ? w - r : lo;
    for (int y = 0; y < h; y++) {
        const float *xr = x + (size_t)y * rowlen;
        float *restrict tr = tmp + (size_t)y * rowlen;
        size_t a = (size_t)lo * c, b = (size_t)hi * c;
        for (size_t q = a; q < b; q++) tr[q] = k[0] * xr[q - (size_t)r * c];
        for (int i = 1 - r; i <= r; i++) {
            const float *restrict src = xr + (ptrdiff_t)i * c;
            float ki = k[i + r];
            for (size_t q = a; q < b; q++) tr[q] += ki * src[q];
        }
        for (int xx = 0; xx < w; xx++) {
            if (xx == lo) xx = hi; /* the interior is done */
            if (xx >= w) break;
            for (int ch = 0; ch < c; ch++) tr[(size_t)xx * c + ch] = blur_edge(xr, w, c, ch, xx, k, r);
        }
    }
    /* along the columns: an output row is a weighted sum of whole rows */
    for (int y = 0; y < h; y++) {
        float *restrict xr = x + (size_t)y * rowlen;
        for (int i = -r; i <= r; i++) {
            int q = y + i;
            q = q < 0 ? -q - 1 : q >= h ? 2 * h - q - 1 : q;
            q = q < 0 ? 0 : q >= h ? h - 1 : q;
            const float *restrict src = tmp + (size_t)q * rowlen;
            float ki = k[i + r];
            if (i == -r)
                for (size_t e = 0; e < rowlen; e++) xr[e] = ki * src[e];
            else
                for (size_t e = 0; e < rowlen; e++) xr[e] += ki * src[e];
        }
    }
}

static void unit_rms(float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    s = sqrt(s / (double)n);
    if (s > 0)
        for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] / s);
}

double tune_penalty(const float *x, int h, int w, int c, const tune_opts *o, double *tv_out, double *lp_out, float *d)
{
    double tv = 0, lp = 0, b = o->tv_beta;
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int ch = 0; ch < c; ch++) {
#define X(yy, xq) ((double)x[((size_t)(yy) * w + (xq)) * c + ch] / 255.0)
                /* TV sums (dx^2 + dy^2)^(beta/2) over pixels, forward differences
                 * (a missing neighbour counts as no difference) */
                double dx = xx + 1 < w ? X(y, xx + 1) - X(y, xx) : 0, dy = y + 1 < h ? X(y + 1, xx) - X(y, xx) : 0;
                double q = dx * dx + dy * dy + 1e-8;
                tv += pow(q, b / 2);
                if (!d || !(o->tv > 0)) continue;
                /* d/du of this pixel's term and of its left and upper neighbours' */
                double gsum = -b * pow(q, b / 2 - 1) * (dx + dy);
                if (xx > 0) {
                    double ex = X(y, xx) - X(y, xx - 1), ey = y + 1 < h ? X(y + 1, xx - 1) - X(y, xx - 1) : 0;
                    gsum += b * pow(ex * ex + ey * ey + 1e-8, b / 2 - 1) * ex;
                }
                if (y > 0) {
                    double ey = X(y, xx) - X(y - 1, xx), ex = xx + 1 < w ? X(y - 1, xx + 1) - X(y - 1, xx) : 0;
                    gsum += b * pow(ex * ex + ey * ey + 1e-8, b / 2 - 1) * ey;
                }
#undef X
                d[((size_t)y * w + xx) * c + ch] -= (float)(o->tv * gsum);
            }
    for (size_t i = 0; i < (size_t)h * w * c; i++) {
        double u = (x[i] - 128.0) / 128.0;
        lp += pow(fabs(u), o->lp_p);
        if (d && o->lp > 0 && u != 0) d[i] -= (float)(o->lp * o->lp_p * pow(fabs(u), o->lp_p - 1) * (u > 0 ? 1 : -1));
    }
    if (tv_out) *tv_out = tv;
    if (lp_out) *lp_out = lp;
    return o->tv * tv + o->lp * lp;
}

static void finish_image(float *x, int h, int w, int c, const tune_opts *o, double sigma, float *tmp)
{
    size_t n = (size_t)h * w * c;
    if (!o->blur_grad) tune_blur(x, h, w, c, sigma, tmp);
    if (o->clip)
        for (size_t i = 0; i < n; i++) x[i] = x[i] < 0 ? 0 : x[i] > 255 ? 255 : x[i];
    /* --contrast: scale about the mean to the standard deviation asked;
     * clipping lowers it again, so scale and clip until it is within 0.1%
     * (or as near as 0..255 allows in 50 rounds). */
    for (int it = 0; o->contrast > 0 && it < 50; it++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += x[i];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
        double sd = sqrt(v / (double)n);
        if (!(sd > 0) || fabs(sd - o->contrast) <= 1e-3 * o->contrast) break;
        double f = o->contrast / sd;
        for (size_t i = 0; i < n; i++) x[i] = (float)(m + (x[i] - m) * f);
        if (!o->clip) break;
        for (size_t i = 0; i < n; i++) x[i] = x[i] < 0 ? 0 : x[i] > 255 ? 255 : x[i];
    }
}

int tune_neuron(dt_ensemble *e, int j, const int *mods, int M, const tune_opts *o, const float *natural, tune_result *r)
{
    memset(r, 0, sizeof *r);
    int h = e->h, w = e->w, c = o->gray ? 1 : e->c, K = o->inits, S = o->steps;
    int ns = o->single ? M : 0, V = ns + (o->consensus ? 1 : 0);
    size_t px = (size_t)h * w * c;
    r->V = V; r->K = K; r->M = M; r->S = S; r->h = h; r->w = w; r->c = c;
    r->variant_model = dt_malloc((size_t)V * sizeof(int));
    r->img = dt_malloc((size_t)V * K * px * sizeof(float));
    r->pred = dt_malloc((size_t)V * K * M * sizeof(double));
    r->trace = dt_calloc((size_t)V * K * S, sizeof(double));
    r->agree = o->consensus ? dt_calloc((size_t)K * h * w, sizeof(float)) : NULL;
    int NS = ns * K; /* single-model images */
    float *rolled = dt_malloc((size_t)(NS > K ? NS : K) * px * sizeof(float));
    float *gs = dt_malloc((size_t)(NS > 0 ? NS : 1) * px * sizeof(float));
    float *gc = dt_malloc((size_t)K * M * px * sizeof(float)), *gm = dt_malloc((size_t)M * px * sizeof(float));
    float *d = dt_malloc(px * sizeof(float)), *tmp = dt_malloc(px * sizeof(float)), *agr = dt_malloc(px * sizeof(float));
    int *sel = dt_malloc((size_t)(NS > 0 ? NS : 1) * sizeof(int)), *dy = dt_malloc((size_t)V * K * sizeof(int)),
        *dx = dt_malloc((size_t)V * K * sizeof(int));
    double *vals = dt_malloc((size_t)(NS > K * M ? NS : K * M) * sizeof(double));
    fourier_param *fp = o->fourier > 0 ? fourier_alloc(h, w, c, o->fourier) : NULL;
    float *zall = o->fourier > 0 ? dt_malloc((size_t)(M > 1 ? M : 1) * 2 * px * sizeof(float)) : NULL;
    float *zout = o->fourier > 0 ? dt_malloc(2 * px * sizeof(float)) : NULL;
    int rc = -1;
    if ((o->fourier > 0 && (!fp || !zall || !zout)) || !r->variant_model || !r->img || !r->pred || !r->trace || (o->consensus && !r->agree) || !rolled || !gs || !gc || !gm ||
        !d || !tmp || !agr || !sel || !dy || !dx || !vals)
        goto done;
    for (int v = 0; v < V; v++) r->variant_model[v] = v < ns ? mods[v] : -1;
    /* initial images: the same K for every variant */
    uint64_t seed = o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)j;
    for (int k = 0; k < K; k++) {
        float *x0 = r->img + (size_t)k * px;
        uint64_t s = seed + (uint64_t)k * 0x632BE59BD9B4E019ull;
        for (size_t i = 0; i < px; i++) {
            if (o->init == INIT_GRAY) x0[i] = 128;
            else if (o->init == INIT_NATURAL) x0[i] = natural[(size_t)k * px + i];
            else { /* Box-Muller; the two draws in this order, whatever the compiler */
                double u1 = dt_unif(&s), u2 = dt_unif(&s);
                x0[i] = (float)(128 + o->init_sd * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
            }
        }
        finish_image(x0, h, w, c, o, 0, tmp);
    }
    for (int v = 1; v < V; v++) memcpy(r->img + (size_t)v * K * px, r->img, (size_t)K * px * sizeof(float));
    uint64_t js = seed ^ 0xD1B54A32D192ED03ull;
    for (int t = 0; t < S; t++) {
        double frac = S > 1 ? (double)t / (S - 1) : 0, lr = o->lr + (o->lr_end - o->lr) * frac;
        double sigma = o->blur0 + (o->blur1 - o->blur0) * frac;
        for (int q = 0; q < V * K; q++) {
            dy[q] = o->jitter ? (int)(dt_splitmix(&js) % (uint64_t)(2 * o->jitter + 1)) - o->jitter : 0;
            dx[q] = o->jitter ? (int)(dt_splitmix(&js) % (uint64_t)(2 * o->jitter + 1)) - o->jitter : 0;
        }
        /* single-model runs: image (v, k) under model mods[v] */
        if (NS) {
            for (int q = 0; q < NS; q++) {
                roll(r->img + (size_t)q * px, rolled + (size_t)q * px, h, w, c, dy[q], dx[q]);
                sel[q] = mods[q / K];
            }
            if (ensemble_eval(e, j, sel, NS, rolled, NS, c, 1, vals, gs)) goto done;
            for (int q = 0; q < NS; q++) {
                r->trace[(size_t)q * S + t] = vals[q];
                roll(gs + (size_t)q * px, d, h, w, c, -dy[q], -dx[q]);
                if (o->blur_grad) tune_blur(d, h, w, c, sigma, tmp);
                if (fp) {
                    fourier_grad(fp, d, zout);
                    fourier_step(fp, zout, d);
                }
                if (o->gradnorm) unit_rms(d, px);
                tune_penalty(r->img + (size_t)q * px, h, w, c, o, NULL, NULL, d);
                float *x = r->img + (size_t)q * px;
                for (size_t i = 0; i < px; i++) x[i] += (float)(lr * d[i]);
                finish_image(x, h, w, c, o, sigma, tmp);
            }
        }
        /* consensus: every model's gradient for each of the K images */
        if (o->consensus) {
            int base = ns * K;
            for (int k = 0; k < K; k++) roll(r->img + (size_t)(base + k) * px, rolled + (size_t)k * px, h, w, c, dy[base + k], dx[base + k]);
            if (ensemble_eval(e, j, mods, M, rolled, K, c, 0, vals, gc)) goto done;
            for (int k = 0; k < K; k++) {
                double mean = 0;
                for (int m = 0; m < M; m++) mean += vals[(size_t)k * M + m] / M;
                r->trace[(size_t)(base + k) * S + t] = mean;
                /* each model's gradient smoothed as a single model's step
                 * is, before they are compared: the consensus is about the
                 * directions the models share at the scale the step works
                 * at, not about the signs of their pixel noise */
                for (int m = 0; m < M; m++) {
                    roll(gc + ((size_t)k * M + m) * px, gm + (size_t)m * px, h, w, c, -dy[base + k], -dx[base + k]);
                    if (o->blur_grad) tune_blur(gm + (size_t)m * px, h, w, c, sigma, tmp);
                    unit_rms(gm + (size_t)m * px, px);
                }
                memset(agr, 0, px * sizeof(float));
                tune_consensus_par(gm, M, px, o->rule, d, agr, e->nthreads);
                if (fp) {
                    /* the consensus of the coefficients' gradients; the
                     * agreement map stays the pixels' */
                    for (int m = 0; m < M; m++) fourier_grad(fp, gm + (size_t)m * px, zall + (size_t)m * 2 * px);
                    tune_consensus_par(zall, M, 2 * px, o->rule, zout, NULL, e->nthreads);
                    fourier_step(fp, zout, d);
                }
                float *ag = r->agree + (size_t)k * h * w;
                for (size_t p = 0; p < (size_t)h * w; p++) {
                    float a = 0;
                    for (int ch = 0; ch < c; ch++) a += agr[p * c + ch];
                    ag[p] += a / c / S;
                }
                if (o->gradnorm) unit_rms(d, px);
                float *x = r->img + (size_t)(base + k) * px;
                tune_penalty(x, h, w, c, o, NULL, NULL, d);
                for (size_t i = 0; i < px; i++) x[i] += (float)(lr * d[i]);
                finish_image(x, h, w, c, o, sigma, tmp);
            }
        }
        /* only unclipped images can run away (the l_p step is explicit) */
        if (!o->clip)
            for (size_t i = 0; i < (size_t)V * K * px; i++)
                if (!isfinite(r->img[i])) {
                    dt_seterr("an image diverged (non-finite pixels) at step %d with --no-clip; lower --lr or --lp, or clip", t + 1);
                    goto done;
                }
    }
    /* every final image under every model */
    for (int v = 0; v < V; v++)
        if (ensemble_eval(e, j, mods, M, r->img + (size_t)v * K * px, K, c, 0, r->pred + (size_t)v * K * M, NULL)) goto done;
    rc = 0;
done:
    free(rolled); free(gs); free(gc); free(gm); free(d); free(tmp); free(agr); free(sel); free(dy); free(dx); free(vals);
    fourier_free(fp); free(zall); free(zout);
    if (rc) tune_result_free(r);
    return rc;
}

int tune_gradcheck(dt_ensemble *e, int j, const int *mods, int M, int c, uint64_t seed, double eps, double *worst_single,
                   double *worst_consensus)
{
    size_t px = (size_t)e->h * e->w * c;
    float *x = dt_malloc(px * sizeof(float)), *u = dt_malloc(px * sizeof(float)), *xp = dt_malloc(px * sizeof(float));
    float *g = dt_malloc((size_t)M * px * sizeof(float)), *g1 = dt_malloc(px * sizeof(float));
    double *v = dt_malloc((size_t)M * sizeof(double));
    int rc = -1;
    *worst_single = *worst_consensus = 0;
    if (!x || !u || !xp || !g || !g1 || !v) goto done;
    uint64_t s = seed;
    for (size_t i = 0; i < px; i++) x[i] = (float)(128 + 40 * (dt_unif(&s) - 0.5));
    /* every model together (as in a consensus step) */
    if (ensemble_eval(e, j, mods, M, x, 1, c, 0, v, g)) goto done;
    for (int m = 0; m < M; m++) {
        /* the direction: half the model's own gradient direction, half
         * random, so the derivative is large against float rounding */
        const float *gm = g + (size_t)m * px;
        double nn = 0;
        for (size_t i = 0; i < px; i++) nn += (double)gm[i] * gm[i];
        nn = nn > 0 ? sqrt(nn / (double)px) : 1;
        for (size_t i = 0; i < px; i++) u[i] = (float)(0.5 * gm[i] / nn + (dt_unif(&s) - 0.5));
        int one = mods[m];
        double fp, fm, v1;
        for (size_t i = 0; i < px; i++) xp[i] = x[i] + (float)eps * u[i];
        if (ensemble_eval(e, j, &one, 1, xp, 1, c, 1, &fp, NULL)) goto done;
        for (size_t i = 0; i < px; i++) xp[i] = x[i] - (float)eps * u[i];
        if (ensemble_eval(e, j, &one, 1, xp, 1, c, 1, &fm, NULL)) goto done;
        double fd = (fp - fm) / (2 * eps), an = 0, an1 = 0;
        for (size_t i = 0; i < px; i++) an += (double)gm[i] * u[i];
        /* the same model alone (as in a single-model step) */
        if (ensemble_eval(e, j, &one, 1, x, 1, c, 1, &v1, g1)) goto done;
        for (size_t i = 0; i < px; i++) an1 += (double)g1[i] * u[i];
        *worst_consensus = fmax(*worst_consensus, fabs(fd - an) / fmax(fabs(fd), 1e-12));
        *worst_single = fmax(*worst_single, fabs(fd - an1) / fmax(fabs(fd), 1e-12));
    }
    rc = 0;
done:
    free(x); free(u); free(xp); free(g); free(g1); free(v);
    return rc;
}
