/* lasso.c — see lasso.h.  Coordinate descent: Friedman, Hastie & Tibshirani
 * (2010), "Regularization paths for generalized linear models via coordinate
 * descent", J. Stat. Softw. 33(1), eqs. 5 and 8 (covariance-free updates on
 * the residual).  Screening: the sequential strong rule of Tibshirani et al.
 * (2012), JRSS-B 74(2), eq. 7, with the KKT conditions checked on every
 * discarded feature afterwards, so the result is the exact solution. */
#include "lasso.h"
#include "ridge.h"
#include "groups.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
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

/* Standardised training design in column-major order: Zt[j*nt + i]. */
typedef struct {
    int nt, p;
    double *Zt, *v, *mu, *sd;   /* (p, nt), (p) column mean squares, (p), (p) */
} design;

static void design_free(design *d)
{
    free(d->Zt); free(d->v); free(d->mu); free(d->sd);
    memset(d, 0, sizeof *d);
}

static int design_make(design *d, const float *X, int p, const int *rows, const int *T, int nt, int standardize)
{
    memset(d, 0, sizeof *d);
    d->nt = nt;
    d->p = p;
    d->Zt = malloc((size_t)p * nt * sizeof(double));
    d->v = malloc((size_t)p * sizeof(double));
    d->mu = calloc((size_t)p, sizeof(double));
    d->sd = malloc((size_t)p * sizeof(double));
    if (!d->Zt || !d->v || !d->mu || !d->sd) { design_free(d); return dt_seterr("out of memory for the Lasso design (%d x %d)", nt, p); }
    for (int i = 0; i < nt; i++) {
        const float *x = X + (size_t)rows[T[i]] * p;
        for (int j = 0; j < p; j++) d->mu[j] += x[j];
    }
    for (int j = 0; j < p; j++) d->mu[j] /= nt;
    for (int j = 0; j < p; j++) {
        double ss = 0;
        for (int i = 0; i < nt; i++) {
            double z = X[(size_t)rows[T[i]] * p + j] - d->mu[j];
            d->Zt[(size_t)j * nt + i] = z;
            ss += z * z;
        }
        double sd = sqrt(ss / nt);
        d->sd[j] = standardize && sd > 0 ? sd : 1;
        double v = 0;
        for (int i = 0; i < nt; i++) {
            double *z = &d->Zt[(size_t)j * nt + i];
            *z /= d->sd[j];
            v += *z * *z;
        }
        d->v[j] = v / nt;
    }
    return 0;
}

static double soft(double z, double g) { return z > g ? z - g : z < -g ? z + g : 0; }

/* Path of one neuron on a design: yc (nt) centred responses; for each lambda
 * calls back with the weights (standardised coordinates).  w, r, g, strong
 * are caller workspaces of sizes p, nt, p, p. */
typedef void (*path_cb)(void *ctx, int k, const double *w);

static int cd_path(const design *d, const double *yc, const double *path, int nl, double alpha, double tol, int maxit,
                   double *w, double *r, double *g, char *strong, path_cb cb, void *ctx)
{
    int p = d->p, nt = d->nt;
    double vy = 0;
    for (int i = 0; i < nt; i++) vy += yc[i] * yc[i];
    vy /= nt;
    if (vy <= 0) vy = 1;
    memset(w, 0, (size_t)p * sizeof(double));
    memcpy(r, yc, (size_t)nt * sizeof(double));
    /* g = Z^T r / n */
    cblas_dgemv(CblasRowMajor, CblasNoTrans, p, nt, 1.0 / nt, d->Zt, nt, r, 1, 0, g, 1);
    double gmax = 0;
    for (int j = 0; j < p; j++) gmax = fmax(gmax, fabs(g[j]));
    double lprev = alpha > 0 ? gmax / alpha : path[0];
    for (int k = 0; k < nl; k++) {
        double lam = path[k], la = lam * alpha, l2 = lam * (1 - alpha);
        /* sequential strong rule (with the current gradient) */
        for (int j = 0; j < p; j++) strong[j] = w[j] != 0 || fabs(g[j]) >= alpha * (2 * lam - lprev);
        for (;;) {
            int sweeps = 0;
            double maxd;
            do {
                maxd = 0;
                for (int j = 0; j < p; j++) {
                    if (!strong[j]) continue;
                    /* plain loops: BLAS level 1 on a few hundred elements costs
                     * more in threading than it computes */
                    const double *restrict z = d->Zt + (size_t)j * nt;
                    double dot = 0;
                    for (int i = 0; i < nt; i++) dot += z[i] * r[i];
                    double gj = dot / nt + d->v[j] * w[j];
                    double wn = soft(gj, la) / (d->v[j] + l2);
                    double dw = wn - w[j];
                    if (dw != 0) {
                        for (int i = 0; i < nt; i++) r[i] -= dw * z[i];
                        w[j] = wn;
                        maxd = fmax(maxd, d->v[j] * dw * dw);
                    }
                }
                if (++sweeps > maxit) return dt_seterr("Lasso did not converge in %d sweeps at lambda %g; raise --maxit", maxit, lam);
            } while (maxd > tol * vy);
            /* KKT on the features the strong rule set aside */
            cblas_dgemv(CblasRowMajor, CblasNoTrans, p, nt, 1.0 / nt, d->Zt, nt, r, 1, 0, g, 1);
            int added = 0;
            for (int j = 0; j < p; j++)
                if (!strong[j] && fabs(g[j]) > la) { strong[j] = 1; added++; }
            if (!added) break;
        }
        if (cb) cb(ctx, k, w);
        lprev = lam;
    }
    return 0;
}

double lasso_kkt(const float *X, int n, int p, const double *y, const double *w, double b, double lambda, double alpha,
                 int standardize)
{
    int *rows = calloc((size_t)(n > 0 ? n : 1), sizeof(int)), *T = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
    design d;
    if (!rows || !T) { free(rows); free(T); return INFINITY; }
    for (int i = 0; i < n; i++) rows[i] = T[i] = i;
    if (design_make(&d, X, p, rows, T, n, standardize)) { free(rows); free(T); return INFINITY; }
    double *r = malloc((size_t)n * sizeof(double)), worst = 0;
    for (int i = 0; i < n; i++) {
        double s = b;
        for (int j = 0; j < p; j++) s += X[(size_t)i * p + j] * w[j];
        r[i] = y[i] - s;
    }
    for (int j = 0; j < p; j++) {
        double g = cblas_ddot(n, d.Zt + (size_t)j * n, 1, r, 1) / n, ws = w[j] * d.sd[j];
        double v = ws == 0 ? fabs(g) - lambda * alpha : fabs(g - lambda * (1 - alpha) * ws - lambda * alpha * (ws > 0 ? 1 : -1));
        worst = fmax(worst, v);
    }
    free(r); free(rows); free(T);
    design_free(&d);
    return worst;
}

/* CV callback: squared validation errors per lambda. */
typedef struct {
    const double *Zv;   /* (nv, p) standardised with training statistics */
    const double *yv;   /* (nv) minus the training mean */
    int nv, p;
    double *err;        /* (nl) */
} cv_ctx;

static void cv_cb(void *ctx, int k, const double *w)
{
    cv_ctx *c = ctx;
    double e = 0;
    for (int i = 0; i < c->nv; i++) {
        double s = 0;
        const double *z = c->Zv + (size_t)i * c->p;
        for (int j = 0; j < c->p; j++)
            if (w[j] != 0) s += z[j] * w[j];
        e += (c->yv[i] - s) * (c->yv[i] - s);
    }
    c->err[k] = e;
}

typedef struct {
    double *wpath;      /* (nl, p) or NULL */
    int p, want;        /* keep the weights at index want (or all) */
    double *wbest;
} keep_ctx;

static void keep_cb(void *ctx, int k, const double *w)
{
    keep_ctx *c = ctx;
    if (c->wpath) memcpy(c->wpath + (size_t)k * c->p, w, (size_t)c->p * sizeof(double));
    if (k == c->want) memcpy(c->wbest, w, (size_t)c->p * sizeof(double));
}

/* Per-thread workspaces and the work of one fold (or of the final fits),
 * shared out over neurons: neuron j goes to thread j % nthreads. */
typedef struct {
    double *w, *r, *g, *yc, *yv, *wb;
    char *strong;
} workspace;

typedef struct {
    const design *d;
    const float *X;
    const double *Y, *Zv, *Yc, *ybar;
    const int *rows, *T, *V, *J, *best;
    int p, m, mg, nt, nv, nl, K, f, final, nthreads;
    const lasso_opts *o;
    lasso_fit *out;
    double *ferr;
    workspace *ws;
    int rc;
    char err[256];
} group_job;

static void group_work(void *ctx, int t)
{
    group_job *q = ctx;
    workspace *ws = &q->ws[t];
    for (int j = t; j < q->mg; j += q->nthreads) {
        int jj = q->J[j], e;
        const double *path = q->out->path + (size_t)jj * q->nl;
        if (!q->final) {
            double yb = 0;
            for (int i = 0; i < q->nt; i++) yb += q->Y[(size_t)q->rows[q->T[i]] * q->m + jj];
            yb /= q->nt;
            for (int i = 0; i < q->nt; i++) ws->yc[i] = q->Y[(size_t)q->rows[q->T[i]] * q->m + jj] - yb;
            for (int i = 0; i < q->nv; i++) ws->yv[i] = q->Y[(size_t)q->rows[q->V[i]] * q->m + jj] - yb;
            cv_ctx cx = {q->Zv, ws->yv, q->nv, q->p, q->ferr + ((size_t)q->f * q->mg + j) * q->nl};
            e = cd_path(q->d, ws->yc, path, q->nl, q->o->alpha, q->o->tol, q->o->maxit, ws->w, ws->r, ws->g, ws->strong, cv_cb, &cx);
        } else {
            int K = q->K, bj = q->best[j], p = q->p;
            for (int i = 0; i < q->nt; i++) ws->yc[i] = q->Yc[(size_t)i * q->mg + j];
            keep_ctx kc = {K ? NULL : q->out->wpath + (size_t)jj * q->nl * p, p, bj, ws->wb};
            e = cd_path(q->d, ws->yc, path, K ? bj + 1 : q->nl, q->o->alpha, q->o->tol, q->o->maxit, ws->w, ws->r, ws->g, ws->strong,
                        keep_cb, &kc);
            if (!e) {
                const design *d = q->d;
                double b = q->ybar[j];
                int nnz = 0;
                for (int c = 0; c < p; c++) {
                    q->out->w[(size_t)jj * p + c] = ws->wb[c] / d->sd[c];
                    b -= d->mu[c] * q->out->w[(size_t)jj * p + c];
                    nnz += ws->wb[c] != 0;
                }
                q->out->b[jj] = b;
                q->out->nnz[jj] = nnz;
                q->out->lambda[jj] = path[bj];
                if (!K)
                    for (int k = 0; k < q->nl; k++) {
                        double *wk = q->out->wpath + ((size_t)jj * q->nl + k) * p, bk = q->ybar[j];
                        for (int c = 0; c < p; c++) {
                            wk[c] /= d->sd[c];
                            bk -= d->mu[c] * wk[c];
                        }
                        q->out->bpath[(size_t)jj * q->nl + k] = bk;
                    }
            }
        }
        if (e) {
            q->rc = -1;
            snprintf(q->err, sizeof q->err, "%s", dt_lasterr());
            return;
        }
    }
}

/* One group of neurons J (mg) recorded on the same rows (ng): the paths from
 * the whole group (as cv.glmnet), then each fold's design once for all the
 * group's neurons, then the final fits. */
static int fit_group(const float *X, int p, const double *Y, int m, const int *rows, int ng, const int *J, int mg,
                     const lasso_opts *o, lasso_fit *out)
{
    int nl = out->nl, K = o->nfolds, rc = -1;
    int *T = malloc((size_t)ng * sizeof(int)), *V = malloc((size_t)ng * sizeof(int)), *fold = malloc((size_t)ng * sizeof(int));
    int *best = calloc((size_t)mg, sizeof(int));
    double *Yc = malloc((size_t)ng * mg * sizeof(double)), *G = malloc((size_t)p * mg * sizeof(double));
    double *ybar = malloc((size_t)mg * sizeof(double));
    double *ferr = calloc((size_t)(K > 0 ? K : 1) * mg * nl, sizeof(double)), *Zv = NULL;
    design d = {0};
    int nth = o->nthreads > 1 ? o->nthreads : 1;
    if (nth > mg) nth = mg;
    workspace *ws = calloc((size_t)nth, sizeof *ws);
    if (!T || !V || !fold || !best || !Yc || !G || !ybar || !ferr || !ws) {
        dt_seterr("out of memory for the Lasso");
        goto done;
    }
    for (int t = 0; t < nth; t++) {
        ws[t].w = malloc((size_t)p * sizeof(double));
        ws[t].g = malloc((size_t)p * sizeof(double));
        ws[t].wb = malloc((size_t)p * sizeof(double));
        ws[t].r = malloc((size_t)ng * sizeof(double));
        ws[t].yc = malloc((size_t)ng * sizeof(double));
        ws[t].yv = malloc((size_t)ng * sizeof(double));
        ws[t].strong = malloc((size_t)p);
        if (!ws[t].w || !ws[t].g || !ws[t].wb || !ws[t].r || !ws[t].yc || !ws[t].yv || !ws[t].strong) {
            dt_seterr("out of memory for the Lasso");
            goto done;
        }
    }
    if (K && ng < K) { dt_seterr("%d recorded stimuli cannot be split into %d folds; use fewer folds", ng, K); goto done; }
    /* the paths: lambda_max from Z^T Yc / n for every neuron at once */
    for (int i = 0; i < ng; i++) T[i] = i;
    if (design_make(&d, X, p, rows, T, ng, o->standardize)) goto done;
    for (int j = 0; j < mg; j++) {
        double s = 0;
        for (int i = 0; i < ng; i++) s += Y[(size_t)rows[i] * m + J[j]];
        ybar[j] = s / ng;
        for (int i = 0; i < ng; i++) Yc[(size_t)i * mg + j] = Y[(size_t)rows[i] * m + J[j]] - ybar[j];
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, mg, ng, 1.0 / ng, d.Zt, ng, Yc, mg, 0, G, mg);
    for (int j = 0; j < mg; j++) {
        double *path = out->path + (size_t)J[j] * nl;
        if (o->path) {
            memcpy(path, o->path, (size_t)nl * sizeof(double));
        } else {
            double gmax = 0;
            for (int c = 0; c < p; c++) gmax = fmax(gmax, fabs(G[(size_t)c * mg + j]));
            double lmax = gmax / o->alpha, ratio = o->lmin_ratio > 0 ? o->lmin_ratio : (p > ng ? 0.01 : 1e-4);
            for (int k = 0; k < nl; k++) path[k] = lmax * exp(log(ratio) * (nl > 1 ? (double)k / (nl - 1) : 0));
        }
        best[j] = nl - 1;
    }
    if (K) {
        design_free(&d);
        ridge_folds(fold, ng, K, o->seed);
        for (int f = 0; f < K; f++) {
            int nt = 0, nv = 0;
            for (int i = 0; i < ng; i++) {
                if (fold[i] != f) T[nt++] = i;
                else V[nv++] = i;
            }
            if (design_make(&d, X, p, rows, T, nt, o->standardize)) goto done;
            free(Zv);
            Zv = malloc((size_t)nv * p * sizeof(double));
            if (!Zv) { dt_seterr("out of memory in Lasso CV"); goto done; }
            for (int i = 0; i < nv; i++) {
                const float *x = X + (size_t)rows[V[i]] * p;
                for (int c = 0; c < p; c++) Zv[(size_t)i * p + c] = (x[c] - d.mu[c]) / d.sd[c];
            }
            group_job q = {&d, X, Y, Zv, Yc, ybar, rows, T, V, J, best, p, m, mg, nt, nv, nl, K, f, 0, nth, o, out, ferr, ws, 0, ""};
            dt_parallel(nth, group_work, &q);
            if (q.rc) { dt_seterr("%s", q.err); goto done; }
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
            best[j] = bk;
        }
        for (int i = 0; i < ng; i++) T[i] = i;
        if (design_make(&d, X, p, rows, T, ng, o->standardize)) goto done;
    }
    /* final fits on every recorded stimulus, along the path to the chosen
     * lambda (warm starts) */
    {
        group_job q = {&d, X, Y, NULL, Yc, ybar, rows, T, V, J, best, p, m, mg, ng, 0, nl, K, 0, 1, nth, o, out, ferr, ws, 0, ""};
        dt_parallel(nth, group_work, &q);
        if (q.rc) { dt_seterr("%s", q.err); goto done; }
    }
    rc = 0;
done:
    design_free(&d);
    free(T); free(V); free(fold); free(best); free(Yc); free(G); free(ybar);
    free(ferr); free(Zv);
    for (int t = 0; ws && t < nth; t++) {
        free(ws[t].w); free(ws[t].g); free(ws[t].wb); free(ws[t].r); free(ws[t].yc); free(ws[t].yv); free(ws[t].strong);
    }
    free(ws);
    return rc;
}

int lasso_fit_cv(const float *X, int n, int p, const double *Y, int m, const lasso_opts *o, lasso_fit *out)
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
    /* the coordinate descent calls small BLAS from worker threads */
    openblas_set_num_threads(1);
    /* neurons without data or variance are not fitted; the others in groups
     * sharing their recorded stimuli */
    readout_status(Y, n, m, out->status, out->b, done); /* fitted neurons' b is overwritten */
    int ng, mg;
    while (readout_next_group(Y, n, m, done, rows, &ng, J, &mg))
        if (fit_group(X, p, Y, m, rows, ng, J, mg, o, out)) goto fail;
    rc = 0;
fail:
    free(rows);
    free(J);
    free(done);
    if (rc) lasso_fit_free(out);
    return rc;
}
