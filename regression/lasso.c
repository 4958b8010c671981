/* lasso.c — see lasso.h.  Coordinate descent: Friedman, Hastie & Tibshirani
 * (2010), "Regularization paths for generalized linear models via coordinate
 * descent", J. Stat. Softw. 33(1), eqs. 5 and 8 (covariance-free updates on
 * the residual).  Screening: the sequential strong rule of Tibshirani et al.
 * (2012), JRSS-B 74(2), eq. 7, with the KKT conditions checked on every
 * discarded feature afterwards, so the result is the exact solution. */
#include "lasso.h"
#include "ridge.h"
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
                    const double *z = d->Zt + (size_t)j * nt;
                    double gj = cblas_ddot(nt, z, 1, r, 1) / nt + d->v[j] * w[j];
                    double wn = soft(gj, la) / (d->v[j] + l2);
                    double dw = wn - w[j];
                    if (dw != 0) {
                        cblas_daxpy(nt, -dw, z, 1, r, 1);
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

int lasso_fit_cv(const float *X, int n, int p, const double *Y, int m, const lasso_opts *o, lasso_fit *out)
{
    memset(out, 0, sizeof *out);
    if (!(o->alpha > 0 && o->alpha <= 1)) return dt_seterr("--alpha %g: the elastic-net mixing must be in (0, 1]", o->alpha);
    if (o->nfolds == 1 || o->nfolds < 0) return dt_seterr("--folds %d: use at least 2", o->nfolds);
    int nl = o->path ? o->nlambda : o->nlambda;
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
    int *rows = malloc((size_t)n * sizeof(int)), *T = malloc((size_t)n * sizeof(int)), *V = malloc((size_t)n * sizeof(int));
    int *fold = malloc((size_t)n * sizeof(int));
    double *w = malloc((size_t)p * sizeof(double)), *r = malloc((size_t)n * sizeof(double)), *g = malloc((size_t)p * sizeof(double));
    double *yc = malloc((size_t)n * sizeof(double)), *ferr = malloc((size_t)(o->nfolds > 0 ? o->nfolds : 1) * nl * sizeof(double));
    double *Zv = NULL;
    char *strong = malloc((size_t)p);
    int rc = -1;
    design d = {0};
    if (!out->w || !out->b || !out->lambda || !out->path || !out->cv || !out->cvse || !out->nnz || !out->status ||
        (!o->nfolds && (!out->wpath || !out->bpath)) || !rows || !T || !V || !fold || !w || !r || !g || !yc || !ferr || !strong) {
        dt_seterr("out of memory for the Lasso (%d neurons x %d features)", m, p);
        goto fail;
    }
    for (int j = 0; j < m; j++) {
        /* the neuron's recorded stimuli */
        int ng = 0;
        double first = NAN;
        int varies = 0;
        for (int i = 0; i < n; i++) {
            double y = Y[(size_t)i * m + j];
            if (isnan(y)) continue;
            if (!ng) first = y;
            else if (y != first) varies = 1;
            rows[ng++] = i;
        }
        if (!ng || !varies) {
            out->status[j] = ng ? 2 : 1;
            out->b[j] = ng ? first : NAN;
            continue;
        }
        if (o->nfolds && ng < o->nfolds) { dt_seterr("neuron %d: %d recorded stimuli cannot be split into %d folds; use fewer folds", j, ng, o->nfolds); goto fail; }
        /* the path, from the whole data of this neuron (as cv.glmnet) */
        for (int i = 0; i < ng; i++) T[i] = i;
        if (design_make(&d, X, p, rows, T, ng, o->standardize)) goto fail;
        double ybar = 0;
        for (int i = 0; i < ng; i++) ybar += Y[(size_t)rows[i] * m + j];
        ybar /= ng;
        for (int i = 0; i < ng; i++) yc[i] = Y[(size_t)rows[i] * m + j] - ybar;
        double *path = out->path + (size_t)j * nl;
        if (o->path) {
            memcpy(path, o->path, (size_t)nl * sizeof(double));
        } else {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, p, ng, 1.0 / ng, d.Zt, ng, yc, 1, 0, g, 1);
            double gmax = 0;
            for (int c = 0; c < p; c++) gmax = fmax(gmax, fabs(g[c]));
            double lmax = gmax / o->alpha, ratio = o->lmin_ratio > 0 ? o->lmin_ratio : (p > ng ? 0.01 : 1e-4);
            for (int k = 0; k < nl; k++) path[k] = lmax * exp(log(ratio) * (nl > 1 ? (double)k / (nl - 1) : 0));
        }
        int best = nl - 1;
        if (o->nfolds) {
            design_free(&d);
            ridge_folds(fold, ng, o->nfolds, o->seed);
            for (int f = 0; f < o->nfolds; f++) {
                int nt = 0, nv = 0;
                for (int i = 0; i < ng; i++) {
                    if (fold[i] != f) T[nt++] = i;
                    else V[nv++] = i;
                }
                if (design_make(&d, X, p, rows, T, nt, o->standardize)) goto fail;
                double yb = 0;
                for (int i = 0; i < nt; i++) yb += Y[(size_t)rows[T[i]] * m + j];
                yb /= nt;
                for (int i = 0; i < nt; i++) yc[i] = Y[(size_t)rows[T[i]] * m + j] - yb;
                free(Zv);
                Zv = malloc((size_t)nv * p * sizeof(double));
                double *yv = malloc((size_t)nv * sizeof(double));
                if (!Zv || !yv) { free(yv); dt_seterr("out of memory in Lasso CV"); goto fail; }
                for (int i = 0; i < nv; i++) {
                    const float *x = X + (size_t)rows[V[i]] * p;
                    for (int c = 0; c < p; c++) Zv[(size_t)i * p + c] = (x[c] - d.mu[c]) / d.sd[c];
                    yv[i] = Y[(size_t)rows[V[i]] * m + j] - yb;
                }
                cv_ctx cx = {Zv, yv, nv, p, ferr + (size_t)f * nl};
                int e = cd_path(&d, yc, path, nl, o->alpha, o->tol, o->maxit, w, r, g, strong, cv_cb, &cx);
                free(yv);
                design_free(&d);
                if (e) goto fail;
            }
            /* CV curve: mean of fold MSEs and its standard error */
            for (int k = 0; k < nl; k++) {
                double s = 0, s2 = 0;
                for (int f = 0; f < o->nfolds; f++) {
                    int cnt = 0;
                    for (int i = 0; i < ng; i++) cnt += fold[i] == f;
                    double e = ferr[(size_t)f * nl + k] / cnt;
                    s += e;
                    s2 += e * e;
                }
                double mean = s / o->nfolds, var = (s2 / o->nfolds - mean * mean) * o->nfolds / (o->nfolds - 1);
                out->cv[(size_t)j * nl + k] = mean;
                out->cvse[(size_t)j * nl + k] = sqrt(var > 0 ? var : 0) / sqrt(o->nfolds);
            }
            best = 0;
            for (int k = 1; k < nl; k++)
                if (out->cv[(size_t)j * nl + k] < out->cv[(size_t)j * nl + best]) best = k;
            if (o->one_se) {
                double lim = out->cv[(size_t)j * nl + best] + out->cvse[(size_t)j * nl + best];
                for (int k = 0; k < best; k++)
                    if (out->cv[(size_t)j * nl + k] <= lim) { best = k; break; }
            }
            for (int i = 0; i < ng; i++) T[i] = i;
            if (design_make(&d, X, p, rows, T, ng, o->standardize)) goto fail;
            for (int i = 0; i < ng; i++) yc[i] = Y[(size_t)rows[i] * m + j] - ybar;
        }
        /* the final fit on every recorded stimulus, along the path to the
         * chosen lambda (warm starts) */
        double *wb = malloc((size_t)p * sizeof(double));
        if (!wb) { dt_seterr("out of memory"); goto fail; }
        keep_ctx kc = {o->nfolds ? NULL : out->wpath + (size_t)j * nl * p, p, best, wb};
        int e = cd_path(&d, yc, path, o->nfolds ? best + 1 : nl, o->alpha, o->tol, o->maxit, w, r, g, strong, keep_cb, &kc);
        if (e) { free(wb); goto fail; }
        /* original feature space */
        double b = ybar;
        int nnz = 0;
        for (int c = 0; c < p; c++) {
            out->w[(size_t)j * p + c] = wb[c] / d.sd[c];
            b -= d.mu[c] * out->w[(size_t)j * p + c];
            nnz += wb[c] != 0;
        }
        out->b[j] = b;
        out->nnz[j] = nnz;
        out->lambda[j] = path[best];
        if (!o->nfolds)
            for (int k = 0; k < nl; k++) {
                double *wk = out->wpath + ((size_t)j * nl + k) * p, bk = ybar;
                for (int c = 0; c < p; c++) {
                    wk[c] /= d.sd[c];
                    bk -= d.mu[c] * wk[c];
                }
                out->bpath[(size_t)j * nl + k] = bk;
            }
        free(wb);
        design_free(&d);
    }
    rc = 0;
fail:
    design_free(&d);
    free(rows); free(T); free(V); free(fold); free(w); free(r); free(g); free(yc); free(ferr); free(Zv); free(strong);
    if (rc) lasso_fit_free(out);
    return rc;
}
