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
 * Cholesky instead of an eigendecomposition of the training fold.  That is
 * precision 2; the default, precision 1, reaches the same quantities at
 * single-precision cost from a tridiagonal form (see tri_decompose).
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
void ssytrd_(const char *uplo, const int *n, float *a, const int *lda, float *d, float *e, float *tau, float *work,
             const int *lwork, int *info);
void dlarft_(const char *direct, const char *storev, const int *n, const int *k, const double *v, const int *ldv,
             const double *tau, double *t, const int *ldt);
void dlarfb_(const char *side, const char *trans, const char *direct, const char *storev, const int *m, const int *n,
             const int *k, const double *v, const int *ldv, const double *t, const int *ldt, double *c, const int *ldc,
             double *work, const int *ldwork);
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotrs_(const char *uplo, const int *n, const int *nrhs, const float *a, const int *lda, float *b, const int *ldb,
             int *info);

void ridge_opts_default(ridge_opts *o)
{
    memset(o, 0, sizeof *o);
    o->nfolds = 5;
    o->ngrid = 20;
    o->grid_lo = 1e-3;
    o->grid_hi = 1e3;
    o->seed = 1;
    o->precision = 1;
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

/* The first row of a selection that is a run of consecutive rows
 * (rows[sel[i]] = first + i, the usual case: every stimulus recorded), or -1. */
static int contiguous(const int *rows, const int *sel, int cnt)
{
    for (int i = 0; i < cnt; i++)
        if (rows[sel[i]] != rows[sel[0]] + i) return -1;
    return cnt ? rows[sel[0]] : -1;
}

/* A feature-major block of Z: zt[(c - c0) * cnt + i] = z of feature c on
 * row rows[sel[i]], for c in [c0, c1). */
static void build_zt(double *zt, const float *Xt, int n, const int *rows, const int *sel, int cnt, int c0, int c1,
                     const double *mu, const double *sd)
{
    int first = contiguous(rows, sel, cnt);
    for (int c = c0; c < c1; c++) {
        const float *x = Xt + (size_t)c * n;
        double *z = zt + (size_t)(c - c0) * cnt, m = mu[c], s = 1 / sd[c];
        if (first >= 0)
            for (int i = 0; i < cnt; i++) z[i] = (x[first + i] - m) * s;
        else
            for (int i = 0; i < cnt; i++) z[i] = (x[rows[sel[i]]] - m) * s;
    }
}

/* The same block in single precision, centred only (the single-precision
 * path never standardises). */
static void build_zt_single(float *zt, const float *Xt, int n, const int *rows, const int *sel, int cnt, int c0, int c1,
                            const double *mu)
{
    int first = contiguous(rows, sel, cnt);
    for (int c = c0; c < c1; c++) {
        const float *x = Xt + (size_t)c * n;
        float *z = zt + (size_t)(c - c0) * cnt, m = (float)mu[c];
        if (first >= 0)
            for (int i = 0; i < cnt; i++) z[i] = x[first + i] - m;
        else
            for (int i = 0; i < cnt; i++) z[i] = x[rows[sel[i]]] - m;
    }
}

#define BLOCK 256

/* the largest condition number of a CV system solved in single precision */
#define RIDGE_SINGLE_COND 1e4

/* reflectors per panel in the back-transformation */
#define ORM_NB 128

/* features per single-precision Gram update (fewer passes over the Gram) */
#define GRAM_BLOCK 2048

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

/* The single-precision path (the default; K-fold CV without
 * standardisation, features outnumbering stimuli).  No eigendecomposition:
 *  1. the centred Gram K in single precision (SSYRK over float blocks);
 *  2. the constant vector deflated exactly: a Householder reflection H maps
 *     a = 1/sqrt(nt) to -e_1, and K'' is H K H without its first row and
 *     column (exactly zero for the exact centred Gram);
 *  3. K'' = Q T Q^T tridiagonalised in single precision (SSYTRD, the
 *     memory-bound step);
 *  4. Q formed in double from the reflectors, each tau recomputed as
 *     2 / v^T v so that every factor is orthogonal to double precision;
 *  5. G = H[:, 1:] Q (nt x m, m = nt - 1), orthonormal columns orthogonal
 *     to the constant vector.
 * Then K~ = G T G^T is, to double precision, the centred Gram of a design
 * within single-precision rounding of the true one, and everything the
 * eigendecomposition gave follows from one Cholesky factor of the
 * tridiagonal T + lambda I per lambda (O(m)):
 *   dual coefficients  alpha = G (T + lambda I)^{-1} G^T Yc,
 *   K-fold CV          I - H_VV = lambda G_V (T + lambda I)^{-1} G_V^T
 *                      r_V = lambda G_V (T + lambda I)^{-1} G^T Yc
 * (the constant vector's term a a^T cancels the intercept's 11^T/n).
 * Fills G (nt x m row-major), d (m), e (m; e[m-1] unused).  Returns m, or -1. */
static int tri_decompose(const float *Xt, int n, int p, const int *rows, const int *T, int nt, const double *mu,
                         double **Gout, double **dout, double **eout)
{
    int m = nt - 1, rc = -1, info = 0, lwork;
    size_t mm = (size_t)m * m;
    float *K = calloc((size_t)nt * nt, sizeof(float)), *zt = malloc((size_t)nt * GRAM_BLOCK * sizeof(float));
    float *K2 = NULL, *df = NULL, *ef = NULL, *tauf = NULL, *fwork = NULL, fq;
    double *y = NULL, *wv = NULL, *d = NULL, *e = NULL, *Q = NULL, *G = NULL, *V = NULL, *Tf = NULL, *work = NULL;
    if (!K || !zt || m < 1) goto oom;
    for (int c0 = 0; c0 < p; c0 += GRAM_BLOCK) {
        int c1 = c0 + GRAM_BLOCK < p ? c0 + GRAM_BLOCK : p;
        build_zt_single(zt, Xt, n, rows, T, nt, c0, c1, mu);
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, nt, c1 - c0, 1, zt, nt, 1, K, nt);
    }
    free(zt);
    zt = NULL;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < i; j++) K[(size_t)i * nt + j] = K[(size_t)j * nt + i];
    /* 2. v = a + e_1; H = I - beta v v^T, beta = 1/(1 + a).
     * H K H = K - v w^T - w v^T with y = K v, w = beta y - beta^2 (v^T y) v / 2. */
    double a = 1 / sqrt((double)nt), beta = 1 / (1 + a), gam = 0;
    y = malloc((size_t)nt * sizeof(double));
    wv = malloc((size_t)nt * sizeof(double));
    K2 = malloc(mm * sizeof(float));
    if (!y || !wv || !K2) goto oom;
    for (int i = 0; i < nt; i++) {
        const float *k = K + (size_t)i * nt;
        double sum = 0;
        for (int j = 0; j < nt; j++) sum += k[j];
        y[i] = a * sum + k[0]; /* K (a 1 + e_1) */
    }
    for (int i = 0; i < nt; i++) gam += (i ? a : 1 + a) * y[i];
    for (int i = 0; i < nt; i++) wv[i] = beta * y[i] - 0.5 * beta * beta * gam * (i ? a : 1 + a);
    for (int i = 1; i < nt; i++)
        for (int j = 1; j < nt; j++)
            K2[(size_t)(i - 1) * m + (j - 1)] = (float)(K[(size_t)i * nt + j] - a * (wv[j] + wv[i]));
    free(K);
    K = NULL;
    /* 3. tridiagonalise K'' in single precision */
    df = malloc((size_t)m * sizeof(float));
    ef = malloc((size_t)m * sizeof(float));
    tauf = malloc((size_t)m * sizeof(float));
    if (!df || !ef || !tauf) goto oom;
    lwork = -1;
    ssytrd_("L", &m, K2, &m, df, ef, tauf, &fq, &lwork, &info);
    lwork = (int)(fq * 1.001f) + 64; /* a float may round the size down */
    if (info || !(fwork = malloc((size_t)lwork * sizeof(float)))) goto oom;
    ssytrd_("L", &m, K2, &m, df, ef, tauf, fwork, &lwork, &info);
    free(fwork);
    fwork = NULL;
    if (info) { dt_seterr("LAPACK ssytrd failed (info %d, n = %d)", info, m); goto done; }
    /* 4. Q = H(0) ... H(m-2) (column-major), reflector i acting on rows
     * i+1.. with v = (1, K2(i+2:, i)): backward panels of ORM_NB, each
     * applied to the trailing block only (the rest is still the identity) */
    d = malloc((size_t)m * sizeof(double));
    e = calloc((size_t)m, sizeof(double));
    Q = calloc(mm, sizeof(double));
    V = malloc((size_t)m * ORM_NB * sizeof(double));
    Tf = malloc((size_t)ORM_NB * ORM_NB * sizeof(double));
    work = malloc((size_t)m * ORM_NB * sizeof(double));
    double *tau = malloc((size_t)ORM_NB * sizeof(double));
    if (!d || !e || !Q || !V || !Tf || !work || !tau) { free(tau); goto oom; }
    for (int i = 0; i < m; i++) d[i] = df[i], e[i] = i + 1 < m ? ef[i] : 0, Q[(size_t)i * m + i] = 1;
    for (int nq = m - 1, i0 = (nq - 1) / ORM_NB * ORM_NB; nq > 0 && i0 >= 0; i0 -= ORM_NB) {
        int ib = nq - i0 < ORM_NB ? nq - i0 : ORM_NB, mi = nq - i0, ldt = ORM_NB;
        for (int c = 0; c < ib; c++) {
            const float *src = K2 + (size_t)(i0 + c) * m + i0 + 1; /* rows i0+1.. of column i0+c */
            double *v = V + (size_t)c * mi, vv = 1;
            for (int r = 0; r < mi; r++) v[r] = r > c ? src[r] : r == c;
            for (int r = c + 1; r < mi; r++) vv += v[r] * v[r];
            tau[c] = tauf[i0 + c] == 0 ? 0 : 2 / vv;
        }
        dlarft_("F", "C", &mi, &ib, V, &mi, tau, Tf, &ldt);
        double *C = Q + (size_t)(i0 + 1) * m + i0 + 1;
        dlarfb_("L", "N", "F", "C", &mi, &mi, &ib, V, &mi, Tf, &ldt, C, &m, work, &mi);
    }
    free(tau);
    free(K2);
    K2 = NULL;
    /* 5. G[0][k] = -a cs_k, G[i][k] = Q(i-1, k) - beta a^2 cs_k, with cs_k
     * the column sums of Q */
    G = malloc((size_t)nt * m * sizeof(double));
    if (!G) goto oom;
    double *cs = y; /* nt >= m */
    for (int k = 0; k < m; k++) {
        double sum = 0;
        for (int i = 0; i < m; i++) sum += Q[(size_t)k * m + i];
        cs[k] = sum;
    }
    for (int i0 = 0; i0 < m; i0 += 64)
        for (int k0 = 0; k0 < m; k0 += 64)
            for (int i = i0; i < m && i < i0 + 64; i++)
                for (int k = k0; k < m && k < k0 + 64; k++)
                    G[(size_t)(i + 1) * m + k] = Q[(size_t)k * m + i] - beta * a * a * cs[k];
    for (int k = 0; k < m; k++) G[k] = -a * cs[k];
    *Gout = G;
    *dout = d;
    *eout = e;
    G = d = e = NULL;
    rc = m;
    goto done;
oom:
    if (!info) dt_seterr("out of memory in ridge (%d stimuli x %d features)", nt, p);
    else dt_seterr("LAPACK workspace query failed in ridge (info %d)", info);
done:
    free(K); free(zt); free(K2); free(df); free(ef); free(tauf); free(fwork);
    free(y); free(wv); free(d); free(e); free(Q); free(G); free(V); free(Tf); free(work);
    return rc;
}

/* The Cholesky factor of the tridiagonal T + lambda I: diagonal l (m),
 * subdiagonal o (m - 1).  Returns 0, or -1 if not positive definite. */
static int tri_chol(const double *d, const double *e, int m, double lam, double *l, double *o)
{
    double prev = 0;
    for (int k = 0; k < m; k++) {
        double q = d[k] + lam - prev;
        if (!(q > 0)) return -1;
        l[k] = sqrt(q);
        if (k + 1 < m) {
            o[k] = e[k] / l[k];
            prev = o[k] * o[k];
        }
    }
    return 0;
}

/* X (m x c, row-major) <- L^{-1} X, L from tri_chol */
static void tri_fwd(const double *l, const double *o, int m, double *X, int c)
{
    for (int j = 0; j < c; j++) X[j] /= l[0];
    for (int k = 1; k < m; k++) {
        double *x = X + (size_t)k * c, *xp = x - c, ok = o[k - 1], lk = 1 / l[k];
        for (int j = 0; j < c; j++) x[j] = (x[j] - ok * xp[j]) * lk;
    }
}

/* X <- L^{-T} X */
static void tri_bwd(const double *l, const double *o, int m, double *X, int c)
{
    for (int j = 0; j < c; j++) X[(size_t)(m - 1) * c + j] /= l[m - 1];
    for (int k = m - 2; k >= 0; k--) {
        double *x = X + (size_t)k * c, *xn = x + c, ok = o[k], lk = 1 / l[k];
        for (int j = 0; j < c; j++) x[j] = (x[j] - ok * xn[j]) * lk;
    }
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
 * b = ybar - mu^T w, into W (rows J[j], p) and bout (J[j]).  Or, given the
 * dual coefficients alpha_single (nt x mg; no standardisation), the product
 * Z_T^T alpha in single precision (SGEMM). */
static int weights_out(const double *evec, int r, const double *B, const float *Xt, int n, int p, const int *rows,
                       const int *T, int nt, const double *mu, const double *sd, int mg, const double *ybar, const int *J,
                       const double *alpha_single, double *W, double *bout)
{
    double *Wp = malloc((size_t)p * mg * sizeof(double)), *alpha = NULL, *zt = NULL;
    int rc = -1;
    if (!Wp) goto oom;
    if (alpha_single) {
        float *af = malloc((size_t)nt * mg * sizeof(float)), *zf = malloc((size_t)nt * GRAM_BLOCK * sizeof(float));
        float *wf = malloc((size_t)GRAM_BLOCK * mg * sizeof(float));
        if (!af || !zf || !wf) { free(af); free(zf); free(wf); goto oom; }
        for (size_t i = 0; i < (size_t)nt * mg; i++) af[i] = (float)alpha_single[i];
        for (int c0 = 0; c0 < p; c0 += GRAM_BLOCK) {
            int c1 = c0 + GRAM_BLOCK < p ? c0 + GRAM_BLOCK : p;
            build_zt_single(zf, Xt, n, rows, T, nt, c0, c1, mu);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c1 - c0, mg, nt, 1, zf, nt, af, mg, 0, wf, mg);
            for (size_t i = 0; i < (size_t)(c1 - c0) * mg; i++) Wp[(size_t)c0 * mg + i] = wf[i];
        }
        free(af);
        free(zf);
        free(wf);
    } else if (p >= nt) {
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
    rc = weights_out(evec, r, B, Xt, n, p, rows, T, nt, mu, sd, mg, ybar, J, NULL, W, bout);
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

/* The fold loop shared by block_cv and tri_cv.  Per fold, prep(ctx, V, nv)
 * gathers the held-out rows V (nv); then the lambdas run on nw workers
 * (work(ctx, w) takes lambdas w, w + nw, ...) with single-threaded BLAS,
 * each recording its first failing lambda + 1 in bad[w].  Returns 0, or the
 * failing fold + 1 with that lambda's index in *gbad. */
static int cv_folds(const int *fold, int ng, int K, int nw, int *V, const int *bad, void (*prep)(void *, const int *, int),
                    void (*work)(void *, int), void *ctx, int *gbad)
{
    int rc = 0;
    for (int f = 0; f < K && !rc; f++) {
        int nv = 0;
        for (int i = 0; i < ng; i++)
            if (fold[i] == f) V[nv++] = i;
        prep(ctx, V, nv);
        dt_parallel(nw, work, ctx);
        for (int w = 0; w < nw && !rc; w++)
            if (bad[w]) *gbad = bad[w] - 1, rc = f + 1;
    }
    return rc;
}

/* The largest fold, and the number of CV workers (OpenBLAS's thread count,
 * at most one per lambda). */
static int max_fold(const int *fold, int ng, int K)
{
    int nvmax = 0;
    for (int f = 0; f < K; f++) {
        int nv = 0;
        for (int i = 0; i < ng; i++) nv += fold[i] == f;
        nvmax = nv > nvmax ? nv : nvmax;
    }
    return nvmax;
}

static int cv_workers(int ngrid)
{
    int nw = dt_default_threads();
    return nw < 1 ? 1 : nw > ngrid ? ngrid : nw > 64 ? 64 : nw;
}

/* One worker of block_cv: the lambdas g = w, w + nw, ... of one fold. */
typedef struct {
    const double *evec, *s, *B, *grid;
    double *UV;       /* the held-out rows' eigenvector entries (nv x ng) */
    int ng, mg, nv, ngrid, nw;
    double *err;      /* (mg, ngrid): each worker adds to its own columns */
    double **buf;     /* per worker: Q, M, Bq, R, sq in one block */
    int *bad;         /* per worker: the first failing lambda + 1, or 0 */
} cv_job;

static void cv_prep(void *ctx, const int *V, int nv)
{
    cv_job *J = ctx;
    J->nv = nv;
    for (int v = 0; v < nv; v++)
        for (int k = 0; k < J->ng; k++) J->UV[(size_t)v * J->ng + k] = J->evec[(size_t)k * J->ng + V[v]];
}

static void cv_worker(void *ctx, int w)
{
    cv_job *J = ctx;
    int ng = J->ng, mg = J->mg, nv = J->nv;
    double *Q = J->buf[w], *M = Q + (size_t)nv * ng, *Bq = M + (size_t)nv * nv, *R = Bq + (size_t)ng * mg, *sq = R + (size_t)nv * mg;
    const double *UV = J->UV, *B = J->B;
    for (int g = w; g < J->ngrid; g += J->nw) {
        double lam = J->grid[g];
        int info = 0, ldm = nv;
        for (int k = 0; k < ng; k++) sq[k] = sqrt(lam / (J->s[k] + lam));
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
        dpotrf_("L", &nv, M, &ldm, &info);
        if (!info) dpotrs_("L", &nv, &mg, M, &ldm, R, &ldm, &info);
        if (info) {
            J->bad[w] = g + 1;
            break;
        }
        for (int j = 0; j < mg; j++) {
            double e2 = 0;
            for (int v = 0; v < nv; v++) e2 += R[(size_t)j * nv + v] * R[(size_t)j * nv + v];
            J->err[(size_t)j * J->ngrid + g] += e2;
        }
    }
}

/* K-fold CV from one decomposition (see the top of this file): fills err
 * (mg, ngrid) with the summed squared held-out errors.  evec/s: the
 * decomposition of the group's centred Gram (ng x ng), B = U^T Yc.  The
 * lambdas run on OpenBLAS's thread count of workers, each with
 * single-threaded BLAS. */
static int block_cv(const double *evec, const double *s, const double *B, int ng, int mg, const int *fold, int K,
                    const double *grid, int ngrid, double *err)
{
    int nvmax = max_fold(fold, ng, K), nw = cv_workers(ngrid), rc = -1, bad[64] = {0}, g;
    /* the held-out rows' eigenvector entries: nvmax x ng, not ng x ng */
    size_t per = (size_t)nvmax * ng + (size_t)nvmax * nvmax + (size_t)ng * mg + (size_t)nvmax * mg + ng;
    int *V = malloc((size_t)ng * sizeof(int));
    double *UV = malloc((size_t)nvmax * ng * sizeof(double)), *bufs[64] = {0};
    int ok = V && UV;
    for (int w = 0; w < nw; w++) ok = ok && (bufs[w] = malloc(per * sizeof(double)));
    if (!ok) { dt_seterr("out of memory in ridge CV (%d stimuli)", ng); goto done; }
    cv_job job = {evec, s, B, grid, UV, ng, mg, 0, ngrid, nw, err, bufs, bad};
    int f = cv_folds(fold, ng, K, nw, V, bad, cv_prep, cv_worker, &job, &g);
    if (f) {
        dt_seterr("ridge CV: the held-out system of fold %d at lambda %g is singular (duplicate stimuli?); "
                  "use larger --lambdas", f, grid[g]);
        goto done;
    }
    rc = 0;
done:
    free(V);
    free(UV);
    for (int w = 0; w < nw; w++) free(bufs[w]);
    return rc;
}

/* One worker of tri_cv: the lambdas g = w, w + nw, ... of one fold. */
typedef struct {
    const double *G, *d, *e, *Bt, *grid;
    double *GVt;      /* the held-out rows of G, transposed (m x nv) */
    int m, mg, nv, ngrid, nw;
    double smax;
    double *err;      /* (mg, ngrid): each worker adds to its own columns */
    double **buf;     /* per worker: Yt, w, M, R, l, o (and their floats) */
    int *bad;         /* per worker: the first failing lambda + 1, or 0 */
} tri_job;

static void tri_prep(void *ctx, const int *V, int nv)
{
    tri_job *J = ctx;
    int m = J->m;
    J->nv = nv;
    for (int k0 = 0; k0 < m; k0 += 64)
        for (int v = 0; v < nv; v++)
            for (int k = k0; k < m && k < k0 + 64; k++) J->GVt[(size_t)k * nv + v] = J->G[(size_t)V[v] * m + k];
}

static void tri_worker(void *ctx, int wk)
{
    tri_job *J = ctx;
    int m = J->m, mg = J->mg, nv = J->nv;
    double *Yt = J->buf[wk], *w = Yt + (size_t)m * nv, *M = w + (size_t)m * mg, *R = M + (size_t)nv * nv;
    double *l = R + (size_t)nv * mg, *o = l + m;
    float *Ytf = (float *)(o + m), *wf = Ytf + (size_t)m * nv, *Mf = (float *)M, *Rf = (float *)R;
    for (int g = wk; g < J->ngrid && !J->bad[wk]; g += J->nw) {
        double lam = J->grid[g];
        int single = (J->smax + lam) / lam <= RIDGE_SINGLE_COND, info = 0, ldm = nv;
        if (tri_chol(J->d, J->e, m, lam, l, o)) {
            J->bad[wk] = g + 1;
            break;
        }
        /* Yt = L^{-1} G_V^T, w = L^{-1} G^T Yc: then I - H_VV = lambda Yt^T Yt,
         * r_V = lambda Yt^T w and e_V = (Yt^T Yt)^{-1} Yt^T w */
        memcpy(w, J->Bt, (size_t)m * mg * sizeof(double));
        tri_fwd(l, o, m, w, mg);
        /* M upper triangle row-major = lower column-major; R column-major nv x mg */
        if (single) {
            /* the substitution in double, one row of Yt at a time, stored in float */
            double *prev = Yt;
            const double *gv = J->GVt;
            for (int v = 0; v < nv; v++) prev[v] = gv[v] / l[0], Ytf[v] = (float)prev[v];
            for (int k = 1; k < m; k++) {
                const double *gk = gv + (size_t)k * nv;
                float *yk = Ytf + (size_t)k * nv;
                double ok = o[k - 1], lk = 1 / l[k];
                for (int v = 0; v < nv; v++) {
                    double x = (gk[v] - ok * prev[v]) * lk;
                    prev[v] = x;
                    yk[v] = (float)x;
                }
            }
            for (size_t i = 0; i < (size_t)m * mg; i++) wf[i] = (float)w[i];
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, nv, m, 1, Ytf, nv, 0, Mf, nv);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, mg, nv, m, 1, wf, mg, Ytf, nv, 0, Rf, nv);
            spotrf_("L", &nv, Mf, &ldm, &info);
            if (!info) spotrs_("L", &nv, &mg, Mf, &ldm, Rf, &ldm, &info);
        } else {
            memcpy(Yt, J->GVt, (size_t)m * nv * sizeof(double));
            tri_fwd(l, o, m, Yt, nv);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, nv, m, 1, Yt, nv, 0, M, nv);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, mg, nv, m, 1, w, mg, Yt, nv, 0, R, nv);
            dpotrf_("L", &nv, M, &ldm, &info);
            if (!info) dpotrs_("L", &nv, &mg, M, &ldm, R, &ldm, &info);
        }
        if (info) {
            J->bad[wk] = g + 1;
            break;
        }
        for (int j = 0; j < mg; j++) {
            double e2 = 0;
            for (int v = 0; v < nv; v++) {
                double ev = single ? Rf[(size_t)j * nv + v] : R[(size_t)j * nv + v];
                e2 += ev * ev;
            }
            J->err[(size_t)j * J->ngrid + g] += e2;
        }
    }
}

/* K-fold CV on the tridiagonal form (see tri_decompose): G (ng x m), d, e,
 * Bt = G^T Yc (m x mg); fills err (mg, ngrid) with the summed squared
 * held-out errors.  A lambda whose held-out systems have condition number
 * at most RIDGE_SINGLE_COND (bounded by (s_max + lambda) / lambda, s_max by
 * Gershgorin) is solved in single precision, the others in double.  The
 * lambdas run on OpenBLAS's thread count of workers, each with
 * single-threaded BLAS. */
static int tri_cv(const double *G, const double *d, const double *e, int m, const double *Bt, int ng, int mg,
                  const int *fold, int K, const double *grid, int ngrid, double *err)
{
    int nvmax = max_fold(fold, ng, K), nw = cv_workers(ngrid), rc = -1, bad[64] = {0}, g;
    double smax = 0;
    for (int k = 0; k < m; k++) {
        double r = d[k] + (k ? fabs(e[k - 1]) : 0) + (k + 1 < m ? fabs(e[k]) : 0);
        smax = r > smax ? r : smax;
    }
    size_t per = (size_t)m * nvmax + (size_t)m * mg + (size_t)nvmax * nvmax + (size_t)nvmax * mg + 2 * (size_t)m +
                 ((size_t)m * nvmax + (size_t)m * mg + 1) / 2;
    int *V = malloc((size_t)ng * sizeof(int));
    double *GVt = malloc((size_t)m * nvmax * sizeof(double)), *bufs[64] = {0};
    int ok = V && GVt;
    for (int w = 0; w < nw; w++) ok = ok && (bufs[w] = malloc(per * sizeof(double)));
    if (!ok) { dt_seterr("out of memory in ridge CV (%d stimuli)", ng); goto done; }
    tri_job job = {G, d, e, Bt, grid, GVt, m, mg, 0, ngrid, nw, smax, err, bufs, bad};
    int f = cv_folds(fold, ng, K, nw, V, bad, tri_prep, tri_worker, &job, &g);
    if (f) {
        dt_seterr("ridge CV: the held-out system of fold %d at lambda %g is singular in single precision; "
                  "use --precision double or larger --lambdas", f, grid[g]);
        goto done;
    }
    rc = 0;
done:
    free(V);
    free(GVt);
    for (int w = 0; w < nw; w++) free(bufs[w]);
    return rc;
}

/* Dual coefficients on the tridiagonal form at each neuron's lambda:
 * alpha (ng x mg) = G (T + lam_j I)^{-1} Bt_j.  X: m x mg scratch; x: m. */
static int tri_alpha(const double *G, const double *d, const double *e, int m, const double *Bt, int ng, int mg,
                     const double *lam, double *alpha)
{
    double *X = malloc((size_t)m * mg * sizeof(double)), *x = malloc((size_t)m * sizeof(double));
    double *l = malloc((size_t)m * sizeof(double)), *o = malloc((size_t)m * sizeof(double));
    int rc = -1;
    if (!X || !x || !l || !o) { dt_seterr("out of memory in ridge"); goto done; }
    for (int j = 0; j < mg; j++) {
        if (tri_chol(d, e, m, lam[j], l, o)) {
            dt_seterr("ridge: lambda %g is below the single-precision Gram's accuracy; use --precision double", lam[j]);
            goto done;
        }
        for (int k = 0; k < m; k++) x[k] = Bt[(size_t)k * mg + j];
        tri_fwd(l, o, m, x, 1);
        tri_bwd(l, o, m, x, 1);
        for (int k = 0; k < m; k++) X[(size_t)k * mg + j] = x[k];
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ng, mg, m, 1, G, m, X, mg, 0, alpha, mg);
    rc = 0;
done:
    free(X); free(x); free(l); free(o);
    return rc;
}

/* Fit one group: neurons J (mg) recorded on rows (ng). */
static int fit_group(const float *Xt, int n, int p, const double *Y, int m_all, const int *rows, int ng, const int *J,
                     int mg, const ridge_opts *o, ridge_fit *out)
{
    int rc = -1, K = o->nfolds, gcv = K == 0, ngrid = o->ngrid;
    /* one decomposition for the whole CV: see the top of this file */
    int fast = !o->standardize && p >= ng && !gcv, tri = fast && o->precision == 1 && ng > 1;
    int *fold = malloc((size_t)ng * sizeof(int)), *T = malloc((size_t)ng * sizeof(int)), *V = malloc((size_t)ng * sizeof(int));
    double *mu = malloc((size_t)p * sizeof(double)), *sd = malloc((size_t)p * sizeof(double));
    double *Yc = malloc((size_t)ng * mg * sizeof(double)), *Yv = malloc((size_t)ng * mg * sizeof(double));
    double *err = calloc((size_t)mg * ngrid, sizeof(double)), *grid = malloc((size_t)ngrid * sizeof(double));
    double *ybar = malloc((size_t)mg * sizeof(double)), *lam = malloc((size_t)mg * sizeof(double));
    double *evec = NULL, *s = NULL, *B = NULL, *G = NULL, *td = NULL, *te = NULL, *alpha = NULL;
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
    if (tri) {
        /* single precision: the tridiagonal form (see tri_decompose), B = G^T Yc */
        r = tri_decompose(Xt, n, p, rows, T, ng, mu, &G, &td, &te);
        if (r < 0) goto done;
        B = malloc((size_t)r * mg * sizeof(double));
        if (!B) { dt_seterr("out of memory in ridge"); goto done; }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, mg, ng, 1, G, r, Yc, mg, 0, B, mg);
    } else if (fast) {
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
        if (tri) {
            for (int k = 0; k < r; k++) tr += td[k];
        } else if (fast) {
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
    if (tri) {
        ridge_folds(fold, ng, K, o->seed);
        if (tri_cv(G, td, te, r, B, ng, mg, fold, K, grid, ngrid, err)) goto done;
    } else if (fast) {
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
    if (tri) {
        if (!(alpha = malloc((size_t)ng * mg * sizeof(double)))) { dt_seterr("out of memory in ridge"); goto done; }
        if (tri_alpha(G, td, te, r, B, ng, mg, lam, alpha) ||
            weights_out(NULL, 0, NULL, Xt, n, p, rows, T, ng, mu, sd, mg, ybar, J, alpha, out->w, out->b))
            goto done;
    } else if (fast) {
        for (int k = 0; k < r; k++)
            for (int j = 0; j < mg; j++) B[(size_t)k * mg + j] /= s[k] + lam[j];
        if (weights_out(evec, r, B, Xt, n, p, rows, T, ng, mu, sd, mg, ybar, J, NULL, out->w, out->b)) goto done;
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
    free(evec); free(s); free(B); free(G); free(td); free(te); free(alpha);
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
