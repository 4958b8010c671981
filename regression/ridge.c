/* ridge.c — see ridge.h.
 *
 * Without standardisation (the default) and with more features than stimuli,
 * one eigendecomposition serves the whole cross-validation.  Let the group's
 * rows be centred (Z = X - mu), Kc = Z Z^T = U S U^T, B = U^T Yc.  Ridge with
 * an unpenalised intercept is the linear smoother
 *   H(lambda) = 11^T/n + U diag(s / (s + lambda)) U^T,
 * and for any held-out block V the residuals of the fit without V are exactly
 *   e_V = (I - H_VV)^{-1} r_V,   r = (I - H) y = U diag(lambda/(s+lambda)) B
 * (Sherman-Morrison-Woodbury on the normal equations of the design [1, X];
 * the refit's own centring is absorbed by the intercept).  Since U is
 * orthogonal, I - H_VV = U_V diag(lambda/(s+lambda)) U_V^T - 11^T/n, which
 * avoids subtracting from I.  Per fold and lambda this costs an nv x nv
 * Cholesky instead of an eigendecomposition of the training fold.
 *
 * With standardisation (per-fold scales change the penalty) or with fewer
 * features than stimuli, per group of neurons and per fold:
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
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS ships it) */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b, const int *ldb,
             int *info);

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


void ridge_folds(int *fold, int n, int k, uint64_t seed)
{
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) { for (int i = 0; i < n; i++) fold[i] = i % k; return; }
    for (int i = 0; i < n; i++) perm[i] = i;
    uint64_t s = seed;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(dt_splitmix(&s) % (uint64_t)(i + 1));
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

/* Statistics over the rows T (nt, indices into rows; repeats count as
 * often as they appear): mean mu (p), scale sd (p; 1 without
 * standardisation). */
static void feature_stats(const float *Xt, int n, int p, const int *rows, const int *T, int nt, int standardize, double *mu,
                          double *sd)
{
    for (int c = 0; c < p; c++) {
        const float *x = Xt + (size_t)c * n;
        double s = 0;
        for (int t = 0; t < nt; t++) s += x[rows[T[t]]];
        mu[c] = s / nt;
        sd[c] = 1;
        if (!standardize) continue;
        double v = 0;
        for (int t = 0; t < nt; t++) v += (x[rows[T[t]]] - mu[c]) * (x[rows[T[t]]] - mu[c]);
        sd[c] = sqrt(v / nt);
        if (!(sd[c] > 0)) sd[c] = 1; /* a constant feature stays (centred) zero */
    }
}

/* A feature-major block of Z: zt[(c - c0) * cnt + i] = z of feature c on
 * row rows[sel[i]], for c in [c0, c1). */
static void build_zt(double *zt, const float *Xt, int n, const int *rows, const int *sel, int cnt, int c0, int c1,
                     const double *mu, const double *sd)
{
    for (int c = c0; c < c1; c++) {
        const float *x = Xt + (size_t)c * n;
        double *z = zt + (size_t)(c - c0) * cnt, m = mu[c], s = 1 / sd[c];
        for (int i = 0; i < cnt; i++) z[i] = (x[rows[sel[i]]] - m) * s;
    }
}

#define BLOCK 256

/* Eigendecomposition of the training rows T (nt) of the group: dual (p >=
 * nt): the Gram K = Z_T Z_T^T (nt x nt); primal: C = Z_T^T Z_T (p x p).
 * *evec receives the eigenvectors as rows (r x r), *eval the eigenvalues;
 * caller frees both.  Returns r, or -1. */
static int decompose(const float *Xt, int n, int p, const int *rows, const int *T, int nt, const double *mu,
                     const double *sd, double **evec, double **eval)
{
    int dual = p >= nt, r = dual ? nt : p;
    double *M = calloc((size_t)r * r, sizeof(double)), *s = malloc((size_t)r * sizeof(double));
    double *zt = malloc((size_t)nt * (dual ? BLOCK : p) * sizeof(double));
    if (!M || !s || !zt) { free(M); free(s); free(zt); return dt_seterr("out of memory in ridge (%d stimuli x %d features)", nt, p); }
    if (dual) {
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p;
            build_zt(zt, Xt, n, rows, T, nt, c0, c1, mu, sd);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, nt, c1 - c0, 1, zt, nt, 1, M, nt);
        }
    } else {
        build_zt(zt, Xt, n, rows, T, nt, 0, p, mu, sd);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, p, nt, 1, zt, nt, 0, M, p);
    }
    free(zt);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < i; j++) M[(size_t)i * r + j] = M[(size_t)j * r + i];
    if (eig_sym(M, r, s)) { free(M); free(s); return -1; }
    *evec = M;
    *eval = s;
    return r;
}

/* B = U^T Yc (dual) or V^T Z_T^T Yc (primal): (r x m). */
static int project_responses(double *B, const double *evec, int r, const float *Xt, int n, int p, const int *rows,
                             const int *T, int nt, const double *mu, const double *sd, const double *Yc, int m)
{
    if (p >= nt) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, m, nt, 1, evec, nt, Yc, m, 0, B, m);
        return 0;
    }
    double *zt = malloc((size_t)nt * p * sizeof(double)), *zty = malloc((size_t)p * m * sizeof(double));
    if (!zt || !zty) { free(zt); free(zty); return dt_seterr("out of memory in ridge"); }
    build_zt(zt, Xt, n, rows, T, nt, 0, p, mu, sd);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, m, nt, 1, zt, nt, Yc, m, 0, zty, m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, m, p, 1, evec, p, zty, m, 0, B, m);
    free(zt);
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
static int spectral_make(spectral *sp, const float *Xt, int n, int p, const int *rows, const int *T, int nt, const int *V,
                         int nv, const double *Yc, int m, const double *mu, const double *sd, int gcv)
{
    memset(sp, 0, sizeof *sp);
    double *evec = NULL;
    int r = decompose(Xt, n, p, rows, T, nt, mu, sd, &evec, &sp->s);
    if (r < 0) return -1;
    int dual = p >= nt, rc = -1;
    double *zv = NULL, *zt = NULL, *kvt = NULL;
    sp->r = r;
    sp->nv = nv;
    sp->A = calloc((size_t)nv * r, sizeof(double));
    sp->B = malloc((size_t)r * m * sizeof(double));
    if (!sp->A || !sp->B) goto oom;
    if (project_responses(sp->B, evec, r, Xt, n, p, rows, T, nt, mu, sd, Yc, m)) goto fail;
    if (dual) {
        /* A = K_VT U with K_VT = Z_V Z_T^T over feature blocks */
        kvt = calloc((size_t)nv * nt, sizeof(double));
        zv = malloc((size_t)nv * BLOCK * sizeof(double));
        zt = malloc((size_t)nt * BLOCK * sizeof(double));
        if (!kvt || !zv || !zt) goto oom;
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p;
            build_zt(zv, Xt, n, rows, V, nv, c0, c1, mu, sd);
            build_zt(zt, Xt, n, rows, T, nt, c0, c1, mu, sd);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nt, c1 - c0, 1, zv, nv, zt, nt, 1, kvt, nt);
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
        zv = malloc((size_t)nv * p * sizeof(double));
        if (!zv) goto oom;
        build_zt(zv, Xt, n, rows, V, nv, 0, p, mu, sd);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, nv, p, p, 1, zv, nv, evec, p, 0, sp->A, p);
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
    free(zv);
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

/* Weights from coefficients in the eigenbasis: B (r x mg) already divided
 * by s_k + lambda_j.  Dual: alpha = U^T B (nt x mg), w' = Z_T^T alpha;
 * primal: w' = V^T B.  Then back to the original feature space: w = w' / sd,
 * b = ybar - mu^T w, into W (rows J[j], p) and bout (J[j]). */
static int weights_out(const double *evec, int r, const double *B, const float *Xt, int n, int p, const int *rows,
                       const int *T, int nt, const double *mu, const double *sd, int mg, const double *ybar, const int *J,
                       double *W, double *bout)
{
    double *Wp = malloc((size_t)p * mg * sizeof(double)), *alpha = NULL, *zt = NULL;
    int rc = -1;
    if (!Wp) goto oom;
    if (p >= nt) {
        alpha = malloc((size_t)nt * mg * sizeof(double));
        zt = malloc((size_t)nt * BLOCK * sizeof(double));
        if (!alpha || !zt) goto oom;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, mg, r, 1, evec, nt, B, mg, 0, alpha, mg);
        for (int c0 = 0; c0 < p; c0 += BLOCK) {
            int c1 = c0 + BLOCK < p ? c0 + BLOCK : p;
            build_zt(zt, Xt, n, rows, T, nt, c0, c1, mu, sd);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c1 - c0, mg, nt, 1, zt, nt, alpha, mg, 0, Wp + (size_t)c0 * mg, mg);
        }
    } else {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, mg, p, 1, evec, p, B, mg, 0, Wp, mg);
    }
    for (int j = 0; j < mg; j++) {
        double *wj = W + (size_t)J[j] * p, b = ybar[j];
        for (int c = 0; c < p; c++) {
            wj[c] = Wp[(size_t)c * mg + j] / sd[c];
            b -= mu[c] * wj[c];
        }
        bout[J[j]] = b;
    }
    rc = 0;
    goto done;
oom:
    dt_seterr("out of memory in ridge (%d stimuli x %d features)", nt, p);
done:
    free(Wp);
    free(alpha);
    free(zt);
    return rc;
}

/* The fit on rows T at each neuron's own lambda lam[j]. */
static int final_fit(const float *Xt, int n, int p, const int *rows, const int *T, int nt, const double *mu,
                     const double *sd, const double *Yc, int mg, const double *lam, const double *ybar, const int *J,
                     double *W, double *bout)
{
    double *evec = NULL, *s = NULL;
    int r = decompose(Xt, n, p, rows, T, nt, mu, sd, &evec, &s), rc = -1;
    if (r < 0) return -1;
    double *B = malloc((size_t)r * mg * sizeof(double));
    if (!B) { dt_seterr("out of memory in ridge"); goto done; }
    if (project_responses(B, evec, r, Xt, n, p, rows, T, nt, mu, sd, Yc, mg)) goto done;
    for (int k = 0; k < r; k++)
        for (int j = 0; j < mg; j++) B[(size_t)k * mg + j] /= s[k] + lam[j];
    rc = weights_out(evec, r, B, Xt, n, p, rows, T, nt, mu, sd, mg, ybar, J, W, bout);
done:
    free(evec);
    free(s);
    free(B);
    return rc;
}

/* Means of the group's neurons over rows T and the centred responses
 * Yc (nt, mg). */
static void centre_responses(const double *Y, int m_all, const int *rows, const int *T, int nt, const int *J, int mg,
                             double *ybar, double *Yc)
{
    for (int j = 0; j < mg; j++) {
        double s = 0;
        for (int t = 0; t < nt; t++) s += Y[(size_t)rows[T[t]] * m_all + J[j]];
        ybar[j] = s / nt;
        for (int t = 0; t < nt; t++) Yc[(size_t)t * mg + j] = Y[(size_t)rows[T[t]] * m_all + J[j]] - ybar[j];
    }
}

/* K-fold CV from one decomposition (see the top of this file): fills err
 * (mg, ngrid) with the summed squared held-out errors.  evec/s: the
 * decomposition of the group's centred Gram (ng x ng), B = U^T Yc. */
static int block_cv(const double *evec, const double *s, const double *B, int ng, int mg, const int *fold, int K,
                    const double *grid, int ngrid, double *err)
{
    int rc = -1, *V = malloc((size_t)ng * sizeof(int)), nvmax = 0;
    for (int f = 0; f < K; f++) {
        int nv = 0;
        for (int i = 0; i < ng; i++) nv += fold[i] == f;
        nvmax = nv > nvmax ? nv : nvmax;
    }
    /* the held-out rows' eigenvector entries: nvmax x ng, not ng x ng */
    double *UV = malloc((size_t)nvmax * ng * sizeof(double)), *Q = malloc((size_t)nvmax * ng * sizeof(double));
    double *M = malloc((size_t)nvmax * nvmax * sizeof(double)), *Bq = malloc((size_t)ng * mg * sizeof(double));
    double *R = malloc((size_t)nvmax * mg * sizeof(double)), *sq = malloc((size_t)ng * sizeof(double));
    if (!V || !UV || !Q || !M || !Bq || !R || !sq) { dt_seterr("out of memory in ridge CV (%d stimuli)", ng); goto done; }
    for (int f = 0; f < K; f++) {
        int nv = 0;
        for (int i = 0; i < ng; i++)
            if (fold[i] == f) V[nv++] = i;
        for (int v = 0; v < nv; v++)
            for (int k = 0; k < ng; k++) UV[(size_t)v * ng + k] = evec[(size_t)k * ng + V[v]];
        for (int g = 0; g < ngrid; g++) {
            double lam = grid[g];
            for (int k = 0; k < ng; k++) sq[k] = sqrt(lam / (s[k] + lam));
            for (int v = 0; v < nv; v++)
                for (int k = 0; k < ng; k++) Q[(size_t)v * ng + k] = UV[(size_t)v * ng + k] * sq[k];
            for (int k = 0; k < ng; k++)
                for (int j = 0; j < mg; j++) Bq[(size_t)k * mg + j] = B[(size_t)k * mg + j] * sq[k];
            /* M = Q Q^T - 11^T/n (upper triangle, row-major = lower column-major) */
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, nv, ng, 1, Q, ng, 0, M, nv);
            for (int a = 0; a < nv; a++)
                for (int b = a; b < nv; b++) M[(size_t)a * nv + b] -= 1.0 / ng;
            /* residuals of the full fit, column-major (nv x mg): R^T = Bq^T Q^T */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, mg, nv, ng, 1, Bq, mg, Q, ng, 0, R, nv);
            int info = 0, ldm = nv;
            dpotrf_("L", &nv, M, &ldm, &info);
            if (!info) dpotrs_("L", &nv, &mg, M, &ldm, R, &ldm, &info);
            if (info) {
                dt_seterr("ridge CV: the held-out system of fold %d at lambda %g is singular (duplicate stimuli?); "
                          "use larger --lambdas", f + 1, lam);
                goto done;
            }
            for (int j = 0; j < mg; j++) {
                double e2 = 0;
                for (int v = 0; v < nv; v++) e2 += R[(size_t)j * nv + v] * R[(size_t)j * nv + v];
                err[(size_t)j * ngrid + g] += e2;
            }
        }
    }
    rc = 0;
done:
    free(V); free(UV); free(Q); free(M); free(Bq); free(R); free(sq);
    return rc;
}

/* Fit one group: neurons J (mg) recorded on rows (ng). */
static int fit_group(const float *Xt, int n, int p, const double *Y, int m_all, const int *rows, int ng, const int *J,
                     int mg, const ridge_opts *o, ridge_fit *out)
{
    int rc = -1, K = o->nfolds, gcv = K == 0, ngrid = o->ngrid;
    /* one decomposition for the whole CV: see the top of this file */
    int fast = !o->standardize && p >= ng && !gcv;
    int *fold = malloc((size_t)ng * sizeof(int)), *T = malloc((size_t)ng * sizeof(int)), *V = malloc((size_t)ng * sizeof(int));
    double *mu = malloc((size_t)p * sizeof(double)), *sd = malloc((size_t)p * sizeof(double));
    double *Yc = malloc((size_t)ng * mg * sizeof(double)), *Yv = malloc((size_t)ng * mg * sizeof(double));
    double *err = calloc((size_t)mg * ngrid, sizeof(double)), *grid = malloc((size_t)ngrid * sizeof(double));
    double *ybar = malloc((size_t)mg * sizeof(double)), *lam = malloc((size_t)mg * sizeof(double));
    double *evec = NULL, *s = NULL, *B = NULL;
    spectral sp = {0};
    if (!fold || !T || !V || !mu || !sd || !Yc || !Yv || !err || !grid || !ybar || !lam) {
        dt_seterr("out of memory in ridge");
        goto done;
    }
    if (!gcv && ng < K) {
        dt_seterr("%d recorded stimuli cannot be split into %d folds; use fewer folds", ng, K);
        goto done;
    }
    for (int i = 0; i < ng; i++) T[i] = i;
    feature_stats(Xt, n, p, rows, T, ng, o->standardize, mu, sd);
    centre_responses(Y, m_all, rows, T, ng, J, mg, ybar, Yc);
    int r = 0;
    if (fast) {
        r = decompose(Xt, n, p, rows, T, ng, mu, sd, &evec, &s);
        B = malloc((size_t)ng * mg * sizeof(double));
        if (r < 0 || !B || project_responses(B, evec, r, Xt, n, p, rows, T, ng, mu, sd, Yc, mg)) {
            if (r >= 0 && !B) dt_seterr("out of memory in ridge");
            goto done;
        }
    }
    /* the lambda grid: explicit, or relative to the centred Gram's trace */
    if (o->grid) {
        memcpy(grid, o->grid, (size_t)ngrid * sizeof(double));
    } else {
        double tr = 0;
        if (fast) {
            for (int k = 0; k < r; k++) tr += s[k];
        } else {
            for (int c = 0; c < p; c++) {
                const float *x = Xt + (size_t)c * n;
                for (int i = 0; i < ng; i++) {
                    double z = (x[rows[i]] - mu[c]) / sd[c];
                    tr += z * z;
                }
            }
        }
        double scale = tr / ng > 0 ? tr / ng : 1;
        for (int g = 0; g < ngrid; g++) {
            double t = ngrid > 1 ? (double)g / (ngrid - 1) : 0;
            grid[g] = scale * exp(log(o->grid_lo) + t * (log(o->grid_hi) - log(o->grid_lo)));
        }
    }
    if (fast) {
        ridge_folds(fold, ng, K, o->seed);
        if (block_cv(evec, s, B, ng, mg, fold, K, grid, ngrid, err)) goto done;
    } else if (gcv) {
        memcpy(Yv, Yc, (size_t)ng * mg * sizeof(double));
        if (spectral_make(&sp, Xt, n, p, rows, T, ng, T, ng, Yc, mg, mu, sd, 1) ||
            spectral_errors(&sp, Yv, mg, grid, ngrid, ng, err))
            goto done;
        spectral_free(&sp);
    } else {
        ridge_folds(fold, ng, K, o->seed);
        for (int f = 0; f < K; f++) {
            int nt = 0, nv = 0;
            for (int i = 0; i < ng; i++) {
                if (fold[i] != f) T[nt++] = i;
                else V[nv++] = i;
            }
            feature_stats(Xt, n, p, rows, T, nt, o->standardize, mu, sd);
            centre_responses(Y, m_all, rows, T, nt, J, mg, ybar, Yc);
            for (int j = 0; j < mg; j++)
                for (int v = 0; v < nv; v++) Yv[(size_t)v * mg + j] = Y[(size_t)rows[V[v]] * m_all + J[j]] - ybar[j];
            if (spectral_make(&sp, Xt, n, p, rows, T, nt, V, nv, Yc, mg, mu, sd, 0) ||
                spectral_errors(&sp, Yv, mg, grid, ngrid, ng, err))
                goto done;
            spectral_free(&sp);
        }
    }
    /* choose lambda per neuron (mean squared error over all rows) */
    for (int j = 0; j < mg; j++) {
        int bg = 0;
        for (int g = 0; g < ngrid; g++) {
            err[(size_t)j * ngrid + g] /= ng;
            if (err[(size_t)j * ngrid + g] < err[(size_t)j * ngrid + bg]) bg = g;
        }
        memcpy(out->cv + (size_t)J[j] * ngrid, err + (size_t)j * ngrid, (size_t)ngrid * sizeof(double));
        memcpy(out->grid + (size_t)J[j] * ngrid, grid, (size_t)ngrid * sizeof(double));
        out->lambda[J[j]] = lam[j] = grid[bg];
    }
    /* the final fit on every row */
    if (fast) {
        for (int k = 0; k < r; k++)
            for (int j = 0; j < mg; j++) B[(size_t)k * mg + j] /= s[k] + lam[j];
        if (weights_out(evec, r, B, Xt, n, p, rows, T, ng, mu, sd, mg, ybar, J, out->w, out->b)) goto done;
    } else {
        for (int i = 0; i < ng; i++) T[i] = i;
        feature_stats(Xt, n, p, rows, T, ng, o->standardize, mu, sd);
        centre_responses(Y, m_all, rows, T, ng, J, mg, ybar, Yc);
        if (final_fit(Xt, n, p, rows, T, ng, mu, sd, Yc, mg, lam, ybar, J, out->w, out->b)) goto done;
    }
    rc = 0;
done:
    spectral_free(&sp);
    free(fold); free(T); free(V); free(mu); free(sd); free(Yc); free(Yv); free(err); free(grid); free(ybar); free(lam);
    free(evec); free(s); free(B);
    return rc;
}

static int alloc_fit(ridge_fit *out, int p, int m, int ngrid)
{
    out->p = p;
    out->m = m;
    out->ngrid = ngrid;
    out->w = calloc((size_t)m * p, sizeof(double));
    out->b = calloc((size_t)m, sizeof(double));
    out->lambda = calloc((size_t)m, sizeof(double));
    out->cv = calloc((size_t)m * ngrid, sizeof(double));
    out->grid = calloc((size_t)m * ngrid, sizeof(double));
    out->status = calloc((size_t)m, sizeof(int));
    return out->w && out->b && out->lambda && out->cv && out->grid && out->status ? 0 : -1;
}

int ridge_fit_cv(const float *Xt, int n, int p, const double *Y, int m, const ridge_opts *o, ridge_fit *out)
{
    memset(out, 0, sizeof *out);
    if (o->nfolds == 1 || o->nfolds < 0) return dt_seterr("--folds %d: use 0 (generalized CV) or at least 2", o->nfolds);
    if (o->ngrid < 1) return dt_seterr("the lambda grid is empty");
    if (o->grid)
        for (int g = 0; g < o->ngrid; g++)
            if (!(o->grid[g] > 0) || (g && !(o->grid[g] > o->grid[g - 1])))
                return dt_seterr("the lambda grid must be positive and strictly increasing (value %d is %g)", g + 1, o->grid[g]);
    int *rows = malloc((size_t)n * sizeof(int)), *J = malloc((size_t)m * sizeof(int));
    char *done = calloc((size_t)m, 1);
    int rc = -1;
    if (alloc_fit(out, p, m, o->ngrid) || !rows || !J || !done) {
        dt_seterr("out of memory for %d neurons x %d features", m, p);
        goto fail;
    }
    /* neurons without data or variance are not fitted; the others in groups
     * sharing their recorded stimuli */
    readout_status(Y, n, m, out->status, out->b, done); /* fitted neurons' b is overwritten */
    for (int j = 0; j < m; j++) out->lambda[j] = NAN;  /* skipped neurons keep NaN */
    for (size_t i = 0; i < (size_t)m * o->ngrid; i++) out->cv[i] = out->grid[i] = NAN;
    int ng, mg;
    while (readout_next_group(Y, n, m, done, rows, &ng, J, &mg))
        if (fit_group(Xt, n, p, Y, m, rows, ng, J, mg, o, out)) goto fail;
    rc = 0;
fail:
    free(rows);
    free(J);
    free(done);
    if (rc) ridge_fit_free(out);
    return rc;
}

int ridge_refit(const float *Xt, int n, int p, const double *Y, int m, const int *counts, const double *lambda,
                int standardize, double *W, double *b)
{
    int *status = malloc((size_t)m * sizeof(int)), *rows = malloc((size_t)n * sizeof(int)), *J = malloc((size_t)m * sizeof(int));
    char *done = calloc((size_t)m, 1);
    int rc = -1, nt_max = 0;
    for (int i = 0; i < n; i++) nt_max += counts[i];
    int *T = malloc((size_t)(nt_max > 0 ? nt_max : 1) * sizeof(int));
    double *mu = malloc((size_t)p * sizeof(double)), *sd = malloc((size_t)p * sizeof(double));
    double *Yc = malloc((size_t)(nt_max > 0 ? nt_max : 1) * m * sizeof(double)), *ybar = malloc((size_t)m * sizeof(double));
    double *lam = malloc((size_t)m * sizeof(double));
    if (!status || !rows || !J || !done || !T || !mu || !sd || !Yc || !ybar || !lam) {
        dt_seterr("out of memory in the ridge refit (%d neurons x %d features)", m, p);
        goto done;
    }
    memset(W, 0, (size_t)m * p * sizeof(double));
    readout_status(Y, n, m, status, b, done);
    for (int j = 0; j < m; j++)
        if (isnan(lambda[j])) done[j] = 1;
    int ng, mg;
    while (readout_next_group(Y, n, m, done, rows, &ng, J, &mg)) {
        int nt = 0;
        for (int i = 0; i < ng; i++)
            for (int c = 0; c < counts[rows[i]]; c++) T[nt++] = i;
        if (nt < 2) continue; /* nothing resampled: zero weights, the mean */
        feature_stats(Xt, n, p, rows, T, nt, standardize, mu, sd);
        centre_responses(Y, m, rows, T, nt, J, mg, ybar, Yc);
        for (int j = 0; j < mg; j++) lam[j] = lambda[J[j]];
        if (final_fit(Xt, n, p, rows, T, nt, mu, sd, Yc, mg, lam, ybar, J, W, b)) goto done;
    }
    rc = 0;
done:
    free(status); free(rows); free(J); free(done); free(T); free(mu); free(sd); free(Yc); free(ybar); free(lam);
    return rc;
}
