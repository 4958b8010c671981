/* lasso.c — see lasso.h.  Coordinate descent: Friedman, Hastie & Tibshirani
 * (2010), "Regularization paths for generalized linear models via coordinate
 * descent", J. Stat. Softw. 33(1), eqs. 5 and 8 (updates on the residual),
 * with glmnet's active-set iterations.  Screening: the sequential strong
 * rule of Tibshirani et al. (2012), JRSS-B 74(2), eq. 7, with the KKT
 * conditions checked on every discarded feature afterwards, so the result is
 * the exact solution.
 *
 * All neurons of a group walk their paths in lockstep: after each lambda the
 * gradients X^T r of every feature for every neuron come from one float
 * GEMM (BLAS-3 instead of one BLAS-2 pass per neuron), and serve both the KKT
 * check at this lambda and the strong rule at the next.  A feature the float
 * gradient puts within 5% of the threshold is re-checked in double, so the
 * GEMM's rounding cannot hide a violation.  The coordinate descent itself
 * runs neuron by neuron on threads.
 *
 * A fit is described by observation weights over the group's stimuli: 0/1
 * for a cross-validation fold (the held-out rows keep a residual, for the
 * validation error, but weigh nothing), counts for a bootstrap resample. */
#include "lasso.h"
#include "groups.h"
#include "ridge.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lasso_opts_default(lasso_opts *o)
{
    memset(o, 0, sizeof *o);
    o->alpha = 1;
    o->nlambda = 100;
    o->tol = 1e-7;
    o->maxit = 100000;
    o->nfolds = 5;
    o->seed = 1;
}

void lasso_fit_free(lasso_fit *f)
{
    if (!f) return;
    free(f->w); free(f->b); free(f->lambda); free(f->path); free(f->cv); free(f->cvse); free(f->nnz); free(f->status);
    free(f->wpath); free(f->bpath);
    memset(f, 0, sizeof *f);
}

/* The group's features X (p, ng), feature-major, with observation weights
 * om (ng; NULL = all 1) and the weighted statistics. */
typedef struct {
    const float *X;
    int p, ng;
    const double *om;
    double nt;              /* sum of the weights */
    double *mu, *sd, *v;    /* (p): mean, scale, weighted mean square of z */
} design;

static void design_free(design *d)
{
    free(d->mu); free(d->sd); free(d->v);
    memset(d, 0, sizeof *d);
}

static int design_make(design *d, const float *X, int p, int ng, const double *om, int standardize)
{
    memset(d, 0, sizeof *d);
    d->X = X;
    d->p = p;
    d->ng = ng;
    d->om = om;
    d->mu = malloc((size_t)p * sizeof(double));
    d->sd = malloc((size_t)p * sizeof(double));
    d->v = malloc((size_t)p * sizeof(double));
    if (!d->mu || !d->sd || !d->v) { design_free(d); return dt_seterr("out of memory for the Lasso design (%d features)", p); }
    double nt = 0;
    for (int i = 0; i < ng; i++) nt += om ? om[i] : 1;
    d->nt = nt;
    for (int c = 0; c < p; c++) {
        const float *x = X + (size_t)c * ng;
        double s = 0, ss = 0;
        for (int i = 0; i < ng; i++) s += (om ? om[i] : 1) * x[i];
        double mu = s / nt;
        for (int i = 0; i < ng; i++) ss += (om ? om[i] : 1) * (x[i] - mu) * (x[i] - mu);
        double var = ss / nt, sd = standardize && var > 0 ? sqrt(var) : 1;
        d->mu[c] = mu;
        d->sd[c] = sd;
        d->v[c] = var / (sd * sd);
    }
    return 0;
}

/* sum_i om_i (x_i - mu) e_i */
static inline double wdot(const float *restrict x, const double *restrict om, const double *restrict e, int n, double mu)
{
    double s = 0;
    if (om) {
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < n; i++) s += om[i] * (x[i] - mu) * e[i];
    } else {
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < n; i++) s += (x[i] - mu) * e[i];
    }
    return s;
}

/* e -= a (x - mu) */
static inline void waxpy(double *restrict e, const float *restrict x, int n, double a, double mu)
{
#pragma omp simd
    for (int i = 0; i < n; i++) e[i] -= a * (x[i] - mu);
}

/* The coordinate descent's loops are compiled for AVX-512, AVX2 and the
 * baseline, picked at run time, as the CNN kernels are. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define VEC __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC
#endif

static double soft(double z, double g) { return z > g ? z - g : z < -g ? z + g : 0; }

/* The exact gradient of feature c: (1/nt) sum om (x - mu)/sd e. */
VEC static double grad_exact(const design *d, int c, const double *e)
{
    return wdot(d->X + (size_t)c * d->ng, d->om, e, d->ng, d->mu[c]) / (d->nt * d->sd[c]);
}

/* One neuron along its path. */
typedef struct {
    double *w;        /* (p) standardised coordinates */
    double *e;        /* (ng) residual y - ybar - z^T w on every row */
    char *strong;     /* (p) */
    int *list, *act;  /* strong and active features */
    int nlist;
    double vy, lmax, ybar;
    int dirty;
} neuron;

typedef struct {
    const design *d;
    int mg, nl, k;
    const double *paths;    /* (mg, nl) */
    const int *stop;        /* (mg): last index to fit */
    double alpha, tol;
    int maxit, nthreads;
    neuron *ns;
    double *G;              /* (p, mg) gradients at the current solutions */
    float *R, *Gp;          /* (ng, mg), (p, mg) GEMM operands */
    int *pend, npend;
    void (*cb)(void *ctx, int j, int k, const neuron *s, const design *d);
    void *ctx;
    atomic_int next;
    atomic_int failed;
    char err[256];
} engine;

/* One coordinate step on feature c; returns the change of its objective
 * term, v_c (delta w_c)^2. */
static inline double coordinate(const design *d, neuron *s, int c, double la, double l2)
{
    int ng = d->ng;
    double v = d->v[c];
    const float *x = d->X + (size_t)c * ng;
    double g = wdot(x, d->om, s->e, ng, d->mu[c]) / (d->nt * d->sd[c]);
    double wn = soft(g + v * s->w[c], la) / (v + l2), dw = wn - s->w[c];
    if (dw == 0) return 0;
    waxpy(s->e, x, ng, dw / d->sd[c], d->mu[c]);
    s->w[c] = wn;
    return v * dw * dw;
}

/* Coordinate descent on the strong set at lambda (active-set iterations as
 * glmnet: after a sweep over the strong set, sweep the non-zero features
 * until they settle, then sweep the strong set again).  Converged when a
 * sweep over the strong set changes no objective term by more than
 * tol * var(y). */
VEC static int descend(const design *d, neuron *s, double lam, double alpha, double tol, int maxit)
{
    double la = lam * alpha, l2 = lam * (1 - alpha), lim = tol * s->vy;
    int sweeps = 0;
    for (;;) {
        double maxd = 0;
        int nact = 0;
        for (int q = 0; q < s->nlist; q++) {
            int c = s->list[q];
            if (d->v[c] <= 0) continue;
            maxd = fmax(maxd, coordinate(d, s, c, la, l2));
            if (s->w[c] != 0) s->act[nact++] = c;
        }
        if (++sweeps > maxit) return dt_seterr("Lasso did not converge in %d sweeps at lambda %g; raise --maxit", maxit, lam);
        if (maxd <= lim) return 0;
        for (;;) {
            double m2 = 0;
            for (int q = 0; q < nact; q++) m2 = fmax(m2, coordinate(d, s, s->act[q], la, l2));
            if (++sweeps > maxit) return dt_seterr("Lasso did not converge in %d sweeps at lambda %g; raise --maxit", maxit, lam);
            if (m2 <= lim) break;
        }
    }
}

static double path_at(const engine *q, int j, int k) { return q->paths[(size_t)j * q->nl + k]; }

/* Threads: strong sets and descent at index k for every neuron still on
 * its path. */
static void work_descend(void *ctx, int t)
{
    (void)t;
    engine *q = ctx;
    const design *d = q->d;
    int j, k = q->k;
    while ((j = atomic_fetch_add(&q->next, 1)) < q->mg) {
        if (k > q->stop[j] || atomic_load(&q->failed)) continue;
        neuron *s = &q->ns[j];
        double lam = path_at(q, j, k), lprev = k ? path_at(q, j, k - 1) : s->lmax;
        double thr = q->alpha * (2 * lam - lprev);
        s->nlist = 0;
        for (int c = 0; c < d->p; c++) {
            s->strong[c] = s->w[c] != 0 || fabs(q->G[(size_t)c * q->mg + j]) >= thr;
            if (s->strong[c]) s->list[s->nlist++] = c;
        }
        if (descend(d, s, lam, q->alpha, q->tol, q->maxit)) {
            if (!atomic_exchange(&q->failed, 1)) snprintf(q->err, sizeof q->err, "%s", dt_lasterr());
        }
    }
}

/* Threads: gradients of the pending neurons from the GEMM, then the KKT
 * check at index k (k < 0: gradients only). */
static void work_kkt(void *ctx, int t)
{
    (void)t;
    engine *q = ctx;
    const design *d = q->d;
    int i, p = d->p, np = q->npend, k = q->k;
    while ((i = atomic_fetch_add(&q->next, 1)) < np) {
        int j = q->pend[i];
        neuron *s = &q->ns[j];
        double S = 0;
        for (int r = 0; r < d->ng; r++) S += q->R[(size_t)r * np + i];
        for (int c = 0; c < p; c++)
            q->G[(size_t)c * q->mg + j] = ((double)q->Gp[(size_t)c * np + i] - d->mu[c] * S) / (d->nt * d->sd[c]);
        s->dirty = 0;
        if (k < 0 || atomic_load(&q->failed)) continue;
        double la = path_at(q, j, k) * q->alpha, near = la * 0.95;
        int added = 0;
        for (int c = 0; c < p; c++) {
            if (s->strong[c] || d->v[c] <= 0 || fabs(q->G[(size_t)c * q->mg + j]) <= near) continue;
            double g = grad_exact(d, c, s->e);
            q->G[(size_t)c * q->mg + j] = g;
            if (fabs(g) > la) {
                s->strong[c] = 1;
                s->list[s->nlist++] = c;
                added++;
            }
        }
        if (added) {
            s->dirty = 1;
            if (descend(d, s, path_at(q, j, k), q->alpha, q->tol, q->maxit) && !atomic_exchange(&q->failed, 1))
                snprintf(q->err, sizeof q->err, "%s", dt_lasterr());
        }
    }
}

static void work_cb(void *ctx, int t)
{
    (void)t;
    engine *q = ctx;
    int j;
    while ((j = atomic_fetch_add(&q->next, 1)) < q->mg)
        if (q->k <= q->stop[j]) q->cb(q->ctx, j, q->k, &q->ns[j], q->d);
}

/* Gradients of the pending neurons by one GEMM, then work_kkt. */
static void gradients(engine *q)
{
    const design *d = q->d;
    int np = q->npend, ng = d->ng;
    for (int r = 0; r < ng; r++) {
        double w = d->om ? d->om[r] : 1;
        for (int i = 0; i < np; i++) q->R[(size_t)r * np + i] = (float)(w * q->ns[q->pend[i]].e[r]);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->p, np, ng, 1, d->X, ng, q->R, np, 0, q->Gp, np);
    atomic_store(&q->next, 0);
    dt_parallel(q->nthreads, work_kkt, q);
}

/* Walk every neuron from w = 0 along its path to index stop[j], calling cb
 * after each index.  ys (ng, mg): the responses on the group's rows. */
static int run_paths(engine *q, const double *ys)
{
    const design *d = q->d;
    int p = d->p, ng = d->ng, mg = q->mg, rc = -1, last = -1;
    for (int j = 0; j < mg; j++) last = q->stop[j] > last ? q->stop[j] : last;
    for (int j = 0; j < mg; j++) {
        neuron *s = &q->ns[j];
        double sy = 0, v = 0;
        for (int i = 0; i < ng; i++) sy += (d->om ? d->om[i] : 1) * ys[(size_t)i * mg + j];
        s->ybar = sy / d->nt;
        for (int i = 0; i < ng; i++) {
            s->e[i] = ys[(size_t)i * mg + j] - s->ybar;
            v += (d->om ? d->om[i] : 1) * s->e[i] * s->e[i];
        }
        s->vy = v / d->nt > 0 ? v / d->nt : 1;
        memset(s->w, 0, (size_t)p * sizeof(double));
        memset(s->strong, 0, (size_t)p);
        s->nlist = 0;
    }
    /* the gradients at w = 0, and lambda_max */
    q->k = -1;
    q->npend = 0;
    for (int j = 0; j < mg; j++) q->pend[q->npend++] = j;
    gradients(q);
    for (int j = 0; j < mg; j++) {
        double gm = 0;
        for (int c = 0; c < p; c++) gm = fmax(gm, fabs(q->G[(size_t)c * mg + j]));
        q->ns[j].lmax = gm / q->alpha;
    }
    for (int k = 0; k <= last; k++) {
        q->k = k;
        atomic_store(&q->next, 0);
        dt_parallel(q->nthreads, work_descend, q);
        if (atomic_load(&q->failed)) goto fail;
        q->npend = 0;
        for (int j = 0; j < mg; j++)
            if (k <= q->stop[j]) q->pend[q->npend++] = j;
        while (q->npend) {
            gradients(q);
            if (atomic_load(&q->failed)) goto fail;
            int np = 0;
            for (int i = 0; i < q->npend; i++)
                if (q->ns[q->pend[i]].dirty) q->pend[np++] = q->pend[i];
            q->npend = np;
        }
        atomic_store(&q->next, 0);
        dt_parallel(q->nthreads, work_cb, q);
    }
    rc = 0;
fail:
    if (rc) dt_seterr("%s", q->err);
    return rc;
}

static int engine_init(engine *q, const design *d, int mg, int nl, const lasso_opts *o)
{
    memset(q, 0, sizeof *q);
    q->d = d;
    q->mg = mg;
    q->nl = nl;
    q->alpha = o->alpha;
    q->tol = o->tol;
    q->maxit = o->maxit;
    q->nthreads = o->nthreads > 1 ? o->nthreads : 1;
    if (q->nthreads > mg) q->nthreads = mg;
    int p = d->p, ng = d->ng;
    q->ns = calloc((size_t)mg, sizeof *q->ns);
    q->G = malloc((size_t)p * mg * sizeof(double));
    q->Gp = malloc((size_t)p * mg * sizeof(float));
    q->R = malloc((size_t)ng * mg * sizeof(float));
    q->pend = malloc((size_t)mg * sizeof(int));
    if (!q->ns || !q->G || !q->Gp || !q->R || !q->pend) return dt_seterr("out of memory for the Lasso (%d neurons)", mg);
    for (int j = 0; j < mg; j++) {
        neuron *s = &q->ns[j];
        s->w = malloc((size_t)p * sizeof(double));
        s->e = malloc((size_t)ng * sizeof(double));
        s->strong = malloc((size_t)p);
        s->list = malloc((size_t)p * sizeof(int));
        s->act = malloc((size_t)p * sizeof(int));
        if (!s->w || !s->e || !s->strong || !s->list || !s->act) return dt_seterr("out of memory for the Lasso (%d neurons)", mg);
    }
    return 0;
}

static void engine_free(engine *q)
{
    for (int j = 0; q->ns && j < q->mg; j++) {
        neuron *s = &q->ns[j];
        free(s->w); free(s->e); free(s->strong); free(s->list); free(s->act);
    }
    free(q->ns); free(q->G); free(q->Gp); free(q->R); free(q->pend);
    memset(q, 0, sizeof *q);
}

/* Callbacks. */
typedef struct {
    double *err;    /* (mg, nl): squared errors on the held-out rows (om = 0) */
    int nl;
} cv_ctx;

static void cv_cb(void *ctx, int j, int k, const neuron *s, const design *d)
{
    cv_ctx *c = ctx;
    double e2 = 0;
    for (int i = 0; i < d->ng; i++)
        if (d->om[i] == 0) e2 += s->e[i] * s->e[i];
    c->err[(size_t)j * c->nl + k] = e2;
}

typedef struct {
    const int *J, *best;
    int nl;
    double *W, *b;       /* rows J[j] of (m, p), (m): at index best[j] */
    int *nnz;
    double *wpath, *bpath;  /* (m, nl, p), (m, nl) or NULL */
} keep_ctx;

/* Weights in the original feature space: w / sd, b = ybar - mu^T w. */
static double unstandardise(const design *d, const neuron *s, double *w, int *nnz)
{
    double b = s->ybar;
    int k = 0;
    for (int c = 0; c < d->p; c++) {
        w[c] = s->w[c] / d->sd[c];
        b -= d->mu[c] * w[c];
        k += s->w[c] != 0;
    }
    if (nnz) *nnz = k;
    return b;
}

static void keep_cb(void *ctx, int j, int k, const neuron *s, const design *d)
{
    keep_ctx *c = ctx;
    int jj = c->J[j], p = d->p;
    if (c->wpath) c->bpath[(size_t)jj * c->nl + k] = unstandardise(d, s, c->wpath + ((size_t)jj * c->nl + k) * p, NULL);
    if (k == c->best[j]) c->b[jj] = unstandardise(d, s, c->W + (size_t)jj * p, c->nnz ? &c->nnz[jj] : NULL);
}

double lasso_kkt(const float *Xt, int n, int p, const double *y, const double *w, double b, double lambda, double alpha,
                 int standardize)
{
    design d;
    if (design_make(&d, Xt, p, n, NULL, standardize)) return INFINITY;
    double *r = malloc((size_t)n * sizeof(double)), worst = 0;
    if (!r) { design_free(&d); return INFINITY; }
    for (int i = 0; i < n; i++) r[i] = y[i] - b;
    for (int c = 0; c < p; c++)
        for (int i = 0; i < n; i++) r[i] -= Xt[(size_t)c * n + i] * w[c];
    for (int c = 0; c < p; c++) {
        double g = grad_exact(&d, c, r), ws = w[c] * d.sd[c];
        double v = ws == 0 ? fabs(g) - lambda * alpha : fabs(g - lambda * (1 - alpha) * ws - lambda * alpha * (ws > 0 ? 1 : -1));
        worst = fmax(worst, v);
    }
    free(r);
    design_free(&d);
    return worst;
}

/* The group's features contiguous over its rows: Xt itself when the group
 * is every stimulus in order, else a copy. */
static const float *group_features(const float *Xt, int n, int p, const int *rows, int ng, float **copy)
{
    *copy = NULL;
    int ident = ng == n;
    for (int i = 0; ident && i < ng; i++) ident = rows[i] == i;
    if (ident) return Xt;
    float *X = malloc((size_t)p * ng * sizeof(float));
    if (!X) { dt_seterr("out of memory for the Lasso (%d x %d)", ng, p); return NULL; }
    for (int c = 0; c < p; c++)
        for (int i = 0; i < ng; i++) X[(size_t)c * ng + i] = Xt[(size_t)c * n + rows[i]];
    return *copy = X;
}

/* One group of neurons J (mg) recorded on the same rows (ng): the paths
 * from the whole group (as cv.glmnet), then each fold, then the final fits
 * along the path to each neuron's chosen lambda (warm starts). */
static int fit_group(const float *Xt, int n, int p, const double *Y, int m, const int *rows, int ng, const int *J, int mg,
                     const lasso_opts *o, lasso_fit *out)
{
    int nl = out->nl, K = o->nfolds, rc = -1;
    int *fold = malloc((size_t)ng * sizeof(int)), *best = malloc((size_t)mg * sizeof(int)), *stop = malloc((size_t)mg * sizeof(int));
    double *ys = malloc((size_t)ng * mg * sizeof(double)), *om = malloc((size_t)ng * sizeof(double));
    double *paths = malloc((size_t)mg * nl * sizeof(double));
    double *ferr = calloc((size_t)(K > 0 ? K : 1) * mg * nl, sizeof(double));
    float *copy = NULL;
    const float *X = NULL;
    design d = {0};
    engine q = {0};
    if (!fold || !best || !stop || !ys || !om || !paths || !ferr) { dt_seterr("out of memory for the Lasso"); goto done; }
    if (K && ng < K) { dt_seterr("%d recorded stimuli cannot be split into %d folds; use fewer folds", ng, K); goto done; }
    if (!(X = group_features(Xt, n, p, rows, ng, &copy))) goto done;
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < mg; j++) ys[(size_t)i * mg + j] = Y[(size_t)rows[i] * m + J[j]];
    /* the paths: lambda_max of each neuron on the whole group */
    if (design_make(&d, X, p, ng, NULL, o->standardize) || engine_init(&q, &d, mg, nl, o)) goto done;
    for (int j = 0; j < mg; j++) stop[j] = -1;
    q.stop = stop;
    q.paths = paths;
    if (run_paths(&q, ys)) goto done; /* only the gradients at w = 0 */
    for (int j = 0; j < mg; j++) {
        double *path = paths + (size_t)j * nl;
        if (o->path) {
            memcpy(path, o->path, (size_t)nl * sizeof(double));
        } else {
            /* lambda_max exactly: re-check the features near the float maximum */
            double gm = 0, lm = q.ns[j].lmax * o->alpha;
            for (int c = 0; c < p; c++)
                if (fabs(q.G[(size_t)c * mg + j]) >= 0.95 * lm) gm = fmax(gm, fabs(grad_exact(&d, c, q.ns[j].e)));
            double lmax = gm / o->alpha, ratio = o->lmin_ratio > 0 ? o->lmin_ratio : (p > ng ? 0.01 : 1e-4);
            for (int k = 0; k < nl; k++) path[k] = lmax * exp(log(ratio) * (nl > 1 ? (double)k / (nl - 1) : 0));
        }
        memcpy(out->path + (size_t)J[j] * nl, path, (size_t)nl * sizeof(double));
        best[j] = nl - 1;
        stop[j] = nl - 1;
    }
    design_free(&d);
    if (K) {
        ridge_folds(fold, ng, K, o->seed);
        for (int f = 0; f < K; f++) {
            for (int i = 0; i < ng; i++) om[i] = fold[i] != f;
            if (design_make(&d, X, p, ng, om, o->standardize)) goto done;
            q.d = &d;
            cv_ctx cx = {ferr + (size_t)f * mg * nl, nl};
            q.cb = cv_cb;
            q.ctx = &cx;
            if (run_paths(&q, ys)) goto done;
            design_free(&d);
        }
        /* CV curves: mean of the fold MSEs and its standard error */
        for (int j = 0; j < mg; j++) {
            double *cv = out->cv + (size_t)J[j] * nl, *se = out->cvse + (size_t)J[j] * nl;
            for (int k = 0; k < nl; k++) {
                double s = 0, s2 = 0;
                for (int f = 0; f < K; f++) {
                    int cnt = 0;
                    for (int i = 0; i < ng; i++) cnt += fold[i] == f;
                    double e = ferr[((size_t)f * mg + j) * nl + k] / cnt;
                    s += e;
                    s2 += e * e;
                }
                double mean = s / K, var = (s2 / K - mean * mean) * K / (K - 1);
                cv[k] = mean;
                se[k] = sqrt(var > 0 ? var : 0) / sqrt(K);
            }
            int bk = 0;
            for (int k = 1; k < nl; k++)
                if (cv[k] < cv[bk]) bk = k;
            if (o->one_se)
                for (int k = 0; k < bk; k++)
                    if (cv[k] <= cv[bk] + se[bk]) { bk = k; break; }
            best[j] = stop[j] = bk;
        }
    }
    /* the final fits on every recorded stimulus; without CV the whole path */
    if (!K)
        for (int j = 0; j < mg; j++) stop[j] = nl - 1;
    if (design_make(&d, X, p, ng, NULL, o->standardize)) goto done;
    q.d = &d;
    keep_ctx kc = {J, best, nl, out->w, out->b, out->nnz, K ? NULL : out->wpath, K ? NULL : out->bpath};
    q.cb = keep_cb;
    q.ctx = &kc;
    if (run_paths(&q, ys)) goto done;
    for (int j = 0; j < mg; j++) out->lambda[J[j]] = paths[(size_t)j * nl + best[j]];
    rc = 0;
done:
    engine_free(&q);
    design_free(&d);
    free(copy);
    free(fold); free(best); free(stop); free(ys); free(om); free(paths); free(ferr);
    return rc;
}

int lasso_fit_cv(const float *Xt, int n, int p, const double *Y, int m, const lasso_opts *o, lasso_fit *out)
{
    memset(out, 0, sizeof *out);
    if (!(o->alpha > 0 && o->alpha <= 1)) return dt_seterr("--alpha %g: the elastic-net mixing must be in (0, 1]", o->alpha);
    if (o->nfolds == 1 || o->nfolds < 0) return dt_seterr("--folds %d: use at least 2", o->nfolds);
    int nl = o->nlambda;
    if (nl < 1) return dt_seterr("the lambda path is empty");
    if (o->path)
        for (int k = 0; k < nl; k++)
            if (!(o->path[k] > 0) || (k && !(o->path[k] < o->path[k - 1])))
                return dt_seterr("the Lasso lambda path must be positive and strictly decreasing (value %d is %g)", k + 1, o->path[k]);
    out->p = p; out->m = m; out->nl = nl;
    out->w = calloc((size_t)m * p, sizeof(double));
    out->b = calloc((size_t)m, sizeof(double));
    out->lambda = calloc((size_t)m, sizeof(double));
    out->path = calloc((size_t)m * nl, sizeof(double));
    out->cv = calloc((size_t)m * nl, sizeof(double));
    out->cvse = calloc((size_t)m * nl, sizeof(double));
    out->nnz = calloc((size_t)m, sizeof(int));
    out->status = calloc((size_t)m, sizeof(int));
    if (!o->nfolds) {
        out->wpath = calloc((size_t)m * nl * p, sizeof(double));
        out->bpath = calloc((size_t)m * nl, sizeof(double));
    }
    int *rows = malloc((size_t)n * sizeof(int)), *J = malloc((size_t)m * sizeof(int)), rc = -1;
    char *done = calloc((size_t)m, 1);
    if (!out->w || !out->b || !out->lambda || !out->path || !out->cv || !out->cvse || !out->nnz || !out->status ||
        (!o->nfolds && (!out->wpath || !out->bpath)) || !rows || !J || !done) {
        dt_seterr("out of memory for the Lasso (%d neurons x %d features)", m, p);
        goto fail;
    }
    for (size_t i = 0; i < (size_t)m * nl; i++) out->path[i] = out->cv[i] = out->cvse[i] = NAN;
    /* neurons without data or variance are not fitted; the others in groups
     * sharing their recorded stimuli */
    readout_status(Y, n, m, out->status, out->b, done); /* fitted neurons' b is overwritten */
    for (int j = 0; j < m; j++) out->lambda[j] = NAN;
    int ng, mg;
    while (readout_next_group(Y, n, m, done, rows, &ng, J, &mg))
        if (fit_group(Xt, n, p, Y, m, rows, ng, J, mg, o, out)) goto fail;
    rc = 0;
fail:
    free(rows);
    free(J);
    free(done);
    if (rc) lasso_fit_free(out);
    return rc;
}

int lasso_refit(const float *Xt, int n, int p, const double *Y, int m, const int *counts, const double *paths, int nl,
                const int *stop, const lasso_opts *o, double *W, double *b)
{
    int *status = malloc((size_t)m * sizeof(int)), *rows = malloc((size_t)n * sizeof(int)), *J = malloc((size_t)m * sizeof(int));
    int *st = malloc((size_t)m * sizeof(int));
    double *ys = malloc((size_t)n * m * sizeof(double)), *om = malloc((size_t)n * sizeof(double));
    double *pg = malloc((size_t)m * nl * sizeof(double));
    char *done = calloc((size_t)m, 1);
    float *copy = NULL;
    design d = {0};
    engine q = {0};
    int rc = -1;
    if (!status || !rows || !J || !st || !ys || !om || !pg || !done) { dt_seterr("out of memory in the Lasso refit"); goto fin; }
    memset(W, 0, (size_t)m * p * sizeof(double));
    readout_status(Y, n, m, status, b, done);
    for (int j = 0; j < m; j++)
        if (stop[j] < 0) done[j] = 1;
    int ng, mg;
    while (readout_next_group(Y, n, m, done, rows, &ng, J, &mg)) {
        double nt = 0;
        for (int i = 0; i < ng; i++) nt += om[i] = counts[rows[i]];
        if (nt < 2) continue; /* nothing resampled: zero weights, the mean */
        const float *X = group_features(Xt, n, p, rows, ng, &copy);
        if (!X) goto fin;
        for (int i = 0; i < ng; i++)
            for (int j = 0; j < mg; j++) ys[(size_t)i * mg + j] = Y[(size_t)rows[i] * m + J[j]];
        for (int j = 0; j < mg; j++) {
            memcpy(pg + (size_t)j * nl, paths + (size_t)J[j] * nl, (size_t)nl * sizeof(double));
            st[j] = stop[J[j]];
        }
        if (design_make(&d, X, p, ng, om, o->standardize) || engine_init(&q, &d, mg, nl, o)) goto fin;
        q.paths = pg;
        q.stop = st;
        keep_ctx kc = {J, st, nl, W, b, NULL, NULL, NULL};
        q.cb = keep_cb;
        q.ctx = &kc;
        if (run_paths(&q, ys)) goto fin;
        engine_free(&q);
        design_free(&d);
        free(copy);
        copy = NULL;
    }
    rc = 0;
fin:
    engine_free(&q);
    design_free(&d);
    free(copy);
    free(status); free(rows); free(J); free(st); free(ys); free(om); free(pg); free(done);
    return rc;
}
