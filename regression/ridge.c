/* ridge.c — see ridge.h.
 *
 * Per group of neurons sharing recorded stimuli, and per fold:
 *   Z = (X - mu_T) / sigma_T            (training-row statistics only)
 *   dual  (p >= n): K_TT = Z_T Z_T^T = U S U^T,  A = Z_V Z_T^T U,  B = U^T Yc_T
 *   primal (p < n): C = Z_T^T Z_T = V S V^T,      A = Z_V V,        B = V^T Z_T^T Yc_T
 *   prediction for every lambda: Yhat_V = A diag(1 / (S + lambda)) B + ybar_T
 * so one eigendecomposition (LAPACK dsyevd) serves every lambda and neuron.
 * Generalized CV is the exact leave-one-out of ridge with an unpenalised
 * intercept: e_i = (y_i - yhat_i) / (1 - h_ii), h = diag of the hat matrix
 * plus 1/n (Golub, Heath & Wahba 1979; Hastie, Tibshirani & Friedman, ESL
 * 2nd ed., eq. 7.52). */
#include "ridge.h"
#include "groups.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS ships it) */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);

void ridge_opts_default(ridge_opts *o)
{
    memset(o, 0, sizeof *o);
    o->nfolds = 5;
    o->ngrid = 20;
    o->grid_lo = 1e-3;
    o->grid_hi = 1e3;
    o->seed = 1;
}

void ridge_fit_free(ridge_fit *f)
{
    if (!f) return;
    free(f->w);
    free(f->b);
    free(f->lambda);
    free(f->cv);
    free(f->grid);
    free(f->status);
    memset(f, 0, sizeof *f);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ridge_folds(int *fold, int n, int k, uint64_t seed)
{
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) { for (int i = 0; i < n; i++) fold[i] = i % k; return; }
    for (int i = 0; i < n; i++) perm[i] = i;
    uint64_t s = seed;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(splitmix(&s) % (uint64_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < n; i++) fold[perm[i]] = i % k;
    free(perm);
}

/* Symmetric eigendecomposition in place: on return row k of a (n x n,
 * row-major) is the k-th eigenvector and w[k] its eigenvalue (ascending,
 * negatives from rounding clamped to 0). */
static int eig_sym(double *a, int n, double *w)
{
    int info = 0, lwork = -1, liwork = -1, iq;
    double q;
    dsyevd_("V", "U", &n, a, &n, w, &q, &lwork, &iq, &liwork, &info);
    if (info) return dt_seterr("LAPACK dsyevd workspace query failed (info %d)", info);
    lwork = (int)q;
    liwork = iq;
    double *work = malloc((size_t)lwork * sizeof(double));
    int *iwork = malloc((size_t)liwork * sizeof(int));
    if (!work || !iwork) { free(work); free(iwork); return dt_seterr("out of memory in the eigendecomposition (n = %d)", n); }
    /* row-major symmetric = column-major symmetric; the column-major
     * eigenvectors are the rows of the row-major result */
    dsyevd_("V", "U", &n, a, &n, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    if (info) return dt_seterr("LAPACK dsyevd did not converge (info %d, n = %d)", info, n);
    for (int k = 0; k < n; k++)
        if (w[k] < 0) w[k] = 0;
    return 0;
}

/* Training statistics over the rows with train[i] = 1 (of the group rows
 * rows[0..ng)): mean mu (p), scale sd (p; 1 without standardisation). */
static void feature_stats(const float *X, int p, const int *rows, int ng, const char *train, int standardize, double *mu,
                          double *sd)
{
    int nt = 0;
    for (int c = 0; c < p; c++) mu[c] = 0, sd[c] = 0;
    for (int i = 0; i < ng; i++) {
        if (!train[i]) continue;
        const float *x = X + (size_t)rows[i] * p;
        for (int c = 0; c < p; c++) mu[c] += x[c];
        nt++;
    }
    for (int c = 0; c < p; c++) mu[c] /= nt;
    if (!standardize) {
        for (int c = 0; c < p; c++) sd[c] = 1;
        return;
    }
    for (int i = 0; i < ng; i++) {
        if (!train[i]) continue;
        const float *x = X + (size_t)rows[i] * p;
        for (int c = 0; c < p; c++) sd[c] += (x[c] - mu[c]) * (x[c] - mu[c]);
    }
    for (int c = 0; c < p; c++) {
        sd[c] = sqrt(sd[c] / nt);
        if (!(sd[c] > 0)) sd[c] = 1; /* a constant feature stays (centred) zero */
    }
}

/* Z rows for the given group rows, columns [c0, c1): (cnt, c1 - c0). */
static void build_z(double *z, const float *X, int p, const int *rows, const int *sel, int cnt, int c0, int c1,
                    const double *mu, const double *sd)
{
    int w = c1 - c0;
    for (int i = 0; i < cnt; i++) {
        const float *x = X + (size_t)rows[sel[i]] * p;
        for (int c = c0; c < c1; c++) z[(size_t)i * w + (c - c0)] = (x[c] - mu[c]) / sd[c];
    }
}

#define BLOCK 512

/* Eigendecomposition of the training rows T (nt) of the group: dual (p >=
 * nt): the Gram K = Z_T Z_T^T (nt x nt); primal: C = Z_T^T Z_T (p x p).
 * *evec receives the eigenvectors as rows (r x r), *eval the eigenvalues;
 * caller frees both.  Returns r, or -1. */
static int decompose(const float *X, int p, const int *rows, const int *T, int nt, const double *mu, const double *sd,
                     double **evec, double **eval)
{
    int dual = p >= nt, r = dual ? nt : p;
    double *M = calloc((size_t)r * r, sizeof(double)), *s = malloc((size_t)r * sizeof(double));
    double *z = malloc((size_t)nt * (dual ? BLOCK : p) * sizeof(double));
    if (!M || !s || !z) { free(M); free(s); free(z); return dt_seterr("out of memory in ridge (%d stimuli x %d features)", nt, p); }
    if (dual) {
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p, w = c1 - c0;
            build_z(z, X, p, rows, T, nt, c0, c1, mu, sd);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, nt, w, 1, z, w, 1, M, nt);
        }
    } else {
        build_z(z, X, p, rows, T, nt, 0, p, mu, sd);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, p, nt, 1, z, p, 0, M, p);
    }
    free(z);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < i; j++) M[(size_t)i * r + j] = M[(size_t)j * r + i];
    if (eig_sym(M, r, s)) { free(M); free(s); return -1; }
    *evec = M;
    *eval = s;
    return r;
}

/* B = U^T Yc (dual) or V^T Z_T^T Yc (primal): (r x m). */
static int project_responses(double *B, const double *evec, int r, const float *X, int p, const int *rows, const int *T,
                             int nt, const double *mu, const double *sd, const double *Yc, int m)
{
    if (p >= nt) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, m, nt, 1, evec, nt, Yc, m, 0, B, m);
        return 0;
    }
    double *z = malloc((size_t)nt * p * sizeof(double)), *zty = malloc((size_t)p * m * sizeof(double));
    if (!z || !zty) { free(z); free(zty); return dt_seterr("out of memory in ridge"); }
    build_z(z, X, p, rows, T, nt, 0, p, mu, sd);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, m, nt, 1, z, p, Yc, m, 0, zty, m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, m, p, 1, evec, p, zty, m, 0, B, m);
    free(z);
    free(zty);
    return 0;
}

/* The spectral pieces of one fold: Yhat(lambda) = A diag(1/(s+lambda)) B + ybar.
 * A (nv x r), B (r x m), s (r); for GCV also hk (nv x r): h_ii(lambda) =
 * sum_k hk_ik / (s_k + lambda) + 1/n. */
typedef struct {
    int r, nv;
    double *A, *B, *s, *hk;
} spectral;

static void spectral_free(spectral *sp)
{
    free(sp->A);
    free(sp->B);
    free(sp->s);
    free(sp->hk);
    memset(sp, 0, sizeof *sp);
}

/* Build them for training rows T and evaluation rows V (V = T for GCV).
 * Yc: (nt, m) training responses minus their means. */
static int spectral_make(spectral *sp, const float *X, int p, const int *rows, const int *T, int nt, const int *V, int nv,
                         const double *Yc, int m, const double *mu, const double *sd, int gcv)
{
    memset(sp, 0, sizeof *sp);
    double *evec = NULL;
    int r = decompose(X, p, rows, T, nt, mu, sd, &evec, &sp->s);
    if (r < 0) return -1;
    int dual = p >= nt, rc = -1;
    double *z = NULL, *zt = NULL, *kvt = NULL;
    sp->r = r;
    sp->nv = nv;
    sp->A = calloc((size_t)nv * r, sizeof(double));
    sp->B = malloc((size_t)r * m * sizeof(double));
    if (!sp->A || !sp->B) goto oom;
    if (project_responses(sp->B, evec, r, X, p, rows, T, nt, mu, sd, Yc, m)) goto fail;
    if (dual) {
        /* A = K_VT U with K_VT = Z_V Z_T^T over column blocks */
        kvt = calloc((size_t)nv * nt, sizeof(double));
        z = malloc((size_t)nv * BLOCK * sizeof(double));
        zt = malloc((size_t)nt * BLOCK * sizeof(double));
        if (!kvt || !z || !zt) goto oom;
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p, w = c1 - c0;
            build_z(z, X, p, rows, V, nv, c0, c1, mu, sd);
            build_z(zt, X, p, rows, T, nt, c0, c1, mu, sd);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nv, nt, w, 1, z, w, zt, w, 1, kvt, nt);
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nv, r, nt, 1, kvt, nt, evec, nt, 0, sp->A, r);
        if (gcv) {
            /* V = T: h_ii = sum_k u_ik^2 s_k / (s_k + lambda) */
            sp->hk = malloc((size_t)nv * r * sizeof(double));
            if (!sp->hk) goto oom;
            for (int i = 0; i < nv; i++)
                for (int k = 0; k < r; k++) {
                    double u = evec[(size_t)k * nt + i];
                    sp->hk[(size_t)i * r + k] = u * u * sp->s[k];
                }
        }
    } else {
        /* A = Z_V V */
        z = malloc((size_t)nv * p * sizeof(double));
        if (!z) goto oom;
        build_z(z, X, p, rows, V, nv, 0, p, mu, sd);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nv, p, p, 1, z, p, evec, p, 0, sp->A, p);
        if (gcv) {
            sp->hk = malloc((size_t)nv * r * sizeof(double));
            if (!sp->hk) goto oom;
            for (size_t i = 0; i < (size_t)nv * r; i++) sp->hk[i] = sp->A[i] * sp->A[i];
        }
    }
    rc = 0;
    goto done;
oom:
    dt_seterr("out of memory in ridge (%d stimuli x %d features)", nt, p);
fail:
    spectral_free(sp);
done:
    free(evec);
    free(z);
    free(zt);
    free(kvt);
    return rc;
}

/* Add the squared errors on the evaluation rows for every lambda:
 * err (m, ngrid) += sum (Yv - ybar - Yhat)^2; for GCV the leave-one-out
 * residuals. */
static int spectral_errors(const spectral *sp, const double *Yv /* (nv, m) minus ybar */, int m, const double *grid,
                           int ngrid, int n_all, double *err)
{
    int r = sp->r, nv = sp->nv;
    double *Bl = malloc((size_t)r * m * sizeof(double)), *P = malloc((size_t)nv * m * sizeof(double));
    double *h = sp->hk ? malloc((size_t)nv * sizeof(double)) : NULL;
    if (!Bl || !P || (sp->hk && !h)) { free(Bl); free(P); free(h); return dt_seterr("out of memory in ridge CV"); }
    for (int g = 0; g < ngrid; g++) {
        double lam = grid[g];
        for (int k = 0; k < r; k++) {
            double f = 1 / (sp->s[k] + lam);
            for (int j = 0; j < m; j++) Bl[(size_t)k * m + j] = sp->B[(size_t)k * m + j] * f;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nv, m, r, 1, sp->A, r, Bl, m, 0, P, m);
        if (h)
            for (int i = 0; i < nv; i++) {
                double s = 1.0 / n_all;
                for (int k = 0; k < r; k++) s += sp->hk[(size_t)i * r + k] / (sp->s[k] + lam);
                h[i] = s;
            }
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < m; j++) {
                double e = Yv[(size_t)i * m + j] - P[(size_t)i * m + j];
                if (h) e /= 1 - h[i];
                err[(size_t)j * ngrid + g] += e * e;
            }
    }
    free(Bl);
    free(P);
    free(h);
    return 0;
}

/* Weights on every row of the group for each neuron's chosen lambda:
 * coefficients in the eigenbasis c_kj = B_kj / (s_k + lambda_j); dual:
 * alpha = U c, w' = Z^T alpha; primal: w' = V c.  Then back to the
 * original feature space: w = w' / sd, b = ybar - mu^T w. */
static int final_fit(const float *X, int p, const int *rows, const int *T, int ng, const double *mu, const double *sd,
                     const double *Yc, int mg, const double *grid, const int *best, const double *ybar, const int *J,
                     ridge_fit *out)
{
    double *evec = NULL, *s = NULL;
    int r = decompose(X, p, rows, T, ng, mu, sd, &evec, &s), rc = -1;
    if (r < 0) return -1;
    double *B = malloc((size_t)r * mg * sizeof(double)), *Wp = calloc((size_t)p * mg, sizeof(double));
    double *alpha = NULL, *z = NULL;
    if (!B || !Wp) goto oom;
    if (project_responses(B, evec, r, X, p, rows, T, ng, mu, sd, Yc, mg)) goto done;
    for (int k = 0; k < r; k++)
        for (int j = 0; j < mg; j++) B[(size_t)k * mg + j] /= s[k] + grid[best[j]];
    if (p >= ng) {
        alpha = malloc((size_t)ng * mg * sizeof(double));
        z = malloc((size_t)ng * BLOCK * sizeof(double));
        if (!alpha || !z) goto oom;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, mg, ng, 1, evec, ng, B, mg, 0, alpha, mg);
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p, bw = c1 - c0;
            build_z(z, X, p, rows, T, ng, c0, c1, mu, sd);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bw, mg, ng, 1, z, bw, alpha, mg, 0, Wp + (size_t)c0 * mg, mg);
        }
    } else {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, mg, p, 1, evec, p, B, mg, 0, Wp, mg);
    }
    for (int j = 0; j < mg; j++) {
        double *wj = out->w + (size_t)J[j] * p, b = ybar[j];
        for (int c = 0; c < p; c++) {
            wj[c] = Wp[(size_t)c * mg + j] / sd[c];
            b -= mu[c] * wj[c];
        }
        out->b[J[j]] = b;
    }
    rc = 0;
    goto done;
oom:
    dt_seterr("out of memory in ridge (%d stimuli x %d features)", ng, p);
done:
    free(evec);
    free(s);
    free(B);
    free(Wp);
    free(alpha);
    free(z);
    return rc;
}

/* Fit one group: neurons J (mg) recorded on rows (ng). */
static int fit_group(const float *X, int p, const double *Y, int m_all, const int *rows, int ng, const int *J, int mg,
                     const ridge_opts *o, ridge_fit *out)
{
    int rc = -1, K = o->nfolds, gcv = K == 0, ngrid = o->ngrid;
    int *fold = malloc((size_t)ng * sizeof(int)), *T = malloc((size_t)ng * sizeof(int)), *V = malloc((size_t)ng * sizeof(int));
    char *train = malloc((size_t)ng);
    double *mu = malloc((size_t)p * sizeof(double)), *sd = malloc((size_t)p * sizeof(double));
    double *Yc = malloc((size_t)ng * mg * sizeof(double)), *Yv = malloc((size_t)ng * mg * sizeof(double));
    double *err = calloc((size_t)mg * ngrid, sizeof(double)), *grid = malloc((size_t)ngrid * sizeof(double));
    double *ybar = malloc((size_t)mg * sizeof(double));
    spectral sp = {0};
    if (!fold || !T || !V || !train || !mu || !sd || !Yc || !Yv || !err || !grid || !ybar) {
        dt_seterr("out of memory in ridge");
        goto done;
    }
    if (!gcv && ng < K) {
        dt_seterr("%d recorded stimuli cannot be split into %d folds; use fewer folds", ng, K);
        goto done;
    }
    /* the lambda grid: explicit, or relative to the centred Gram's trace */
    for (int i = 0; i < ng; i++) train[i] = 1;
    feature_stats(X, p, rows, ng, train, o->standardize, mu, sd);
    if (o->grid) {
        memcpy(grid, o->grid, (size_t)ngrid * sizeof(double));
    } else {
        double tr = 0;
        for (int i = 0; i < ng; i++) {
            const float *x = X + (size_t)rows[i] * p;
            for (int c = 0; c < p; c++) {
                double z = (x[c] - mu[c]) / sd[c];
                tr += z * z;
            }
        }
        double scale = tr / ng > 0 ? tr / ng : 1;
        for (int g = 0; g < ngrid; g++) {
            double t = ngrid > 1 ? (double)g / (ngrid - 1) : 0;
            grid[g] = scale * exp(log(o->grid_lo) + t * (log(o->grid_hi) - log(o->grid_lo)));
        }
    }
    if (gcv) {
        for (int i = 0; i < ng; i++) T[i] = i;
        for (int j = 0; j < mg; j++) {
            double s = 0;
            for (int i = 0; i < ng; i++) s += Y[(size_t)rows[i] * m_all + J[j]];
            ybar[j] = s / ng;
            for (int i = 0; i < ng; i++) Yc[(size_t)i * mg + j] = Yv[(size_t)i * mg + j] = Y[(size_t)rows[i] * m_all + J[j]] - ybar[j];
        }
        if (spectral_make(&sp, X, p, rows, T, ng, T, ng, Yc, mg, mu, sd, 1) ||
            spectral_errors(&sp, Yv, mg, grid, ngrid, ng, err))
            goto done;
        spectral_free(&sp);
    } else {
        ridge_folds(fold, ng, K, o->seed);
        for (int f = 0; f < K; f++) {
            int nt = 0, nv = 0;
            for (int i = 0; i < ng; i++) {
                train[i] = fold[i] != f;
                if (train[i]) T[nt++] = i;
                else V[nv++] = i;
            }
            feature_stats(X, p, rows, ng, train, o->standardize, mu, sd);
            for (int j = 0; j < mg; j++) {
                double s = 0;
                for (int t = 0; t < nt; t++) s += Y[(size_t)rows[T[t]] * m_all + J[j]];
                ybar[j] = s / nt;
                for (int t = 0; t < nt; t++) Yc[(size_t)t * mg + j] = Y[(size_t)rows[T[t]] * m_all + J[j]] - ybar[j];
                for (int v = 0; v < nv; v++) Yv[(size_t)v * mg + j] = Y[(size_t)rows[V[v]] * m_all + J[j]] - ybar[j];
            }
            if (spectral_make(&sp, X, p, rows, T, nt, V, nv, Yc, mg, mu, sd, 0) ||
                spectral_errors(&sp, Yv, mg, grid, ngrid, ng, err))
                goto done;
            spectral_free(&sp);
        }
    }
    /* choose lambda per neuron (mean squared error over all rows) */
    int *best = malloc((size_t)mg * sizeof(int));
    if (!best) { dt_seterr("out of memory in ridge"); goto done; }
    for (int j = 0; j < mg; j++) {
        int bg = 0;
        for (int g = 0; g < ngrid; g++) {
            err[(size_t)j * ngrid + g] /= ng;
            if (err[(size_t)j * ngrid + g] < err[(size_t)j * ngrid + bg]) bg = g;
        }
        best[j] = bg;
        memcpy(out->cv + (size_t)J[j] * ngrid, err + (size_t)j * ngrid, (size_t)ngrid * sizeof(double));
        memcpy(out->grid + (size_t)J[j] * ngrid, grid, (size_t)ngrid * sizeof(double));
        out->lambda[J[j]] = grid[bg];
    }
    /* final fit on every row: A = Z U (dual) or Z V (primal) gives the fit;
     * weights w' = Z^T alpha (dual) or V diag B (primal) */
    for (int i = 0; i < ng; i++) { train[i] = 1; T[i] = i; }
    feature_stats(X, p, rows, ng, train, o->standardize, mu, sd);
    for (int j = 0; j < mg; j++) {
        double s = 0;
        for (int i = 0; i < ng; i++) s += Y[(size_t)rows[i] * m_all + J[j]];
        ybar[j] = s / ng;
        for (int i = 0; i < ng; i++) Yc[(size_t)i * mg + j] = Y[(size_t)rows[i] * m_all + J[j]] - ybar[j];
    }
    if (final_fit(X, p, rows, T, ng, mu, sd, Yc, mg, grid, best, ybar, J, out)) { free(best); goto done; }
    free(best);
    rc = 0;
done:
    spectral_free(&sp);
    free(fold); free(T); free(V); free(train); free(mu); free(sd); free(Yc); free(Yv); free(err); free(grid); free(ybar);
    return rc;
}

int ridge_fit_cv(const float *X, int n, int p, const double *Y, int m, const ridge_opts *o, ridge_fit *out)
{
    memset(out, 0, sizeof *out);
    if (o->nfolds == 1 || o->nfolds < 0) return dt_seterr("--folds %d: use 0 (generalized CV) or at least 2", o->nfolds);
    if (o->ngrid < 1) return dt_seterr("the lambda grid is empty");
    if (o->grid)
        for (int g = 0; g < o->ngrid; g++)
            if (!(o->grid[g] > 0) || (g && !(o->grid[g] > o->grid[g - 1])))
                return dt_seterr("the lambda grid must be positive and strictly increasing (value %d is %g)", g + 1, o->grid[g]);
    out->p = p;
    out->m = m;
    out->ngrid = o->ngrid;
    out->w = calloc((size_t)m * p, sizeof(double));
    out->b = calloc((size_t)m, sizeof(double));
    out->lambda = calloc((size_t)m, sizeof(double));
    out->cv = calloc((size_t)m * o->ngrid, sizeof(double));
    out->grid = calloc((size_t)m * o->ngrid, sizeof(double));
    out->status = calloc((size_t)m, sizeof(int));
    int *rows = malloc((size_t)n * sizeof(int)), *J = malloc((size_t)m * sizeof(int));
    char *done = calloc((size_t)m, 1);
    int rc = -1;
    if (!out->w || !out->b || !out->lambda || !out->cv || !out->grid || !out->status || !rows || !J || !done) {
        dt_seterr("out of memory for %d neurons x %d features", m, p);
        goto fail;
    }
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
    if (rc) ridge_fit_free(out);
    return rc;
}
