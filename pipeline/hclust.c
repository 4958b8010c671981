/* hclust.c — see hclust.h.
 *
 * References: D. Müllner, "Modern hierarchical, agglomerative clustering
 * algorithms", arXiv:1109.2378 (2011) — the nearest-neighbour chain for the
 * reducible linkages and Prim's algorithm for single linkage, both O(n^2)
 * time on a condensed matrix; the Lance–Williams updates below are the ones
 * SciPy and fastcluster apply to (unsquared) distances. */
#include "hclust.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *metric_names[] = {"euclidean", "cosine", "correlation"};
static const char *method_names[] = {"single", "complete", "average", "ward"};

int hc_metric_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, metric_names[i])) return i;
    return -1;
}

int hc_method_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, method_names[i])) return i;
    return -1;
}

const char *hc_metric_name(hc_metric m) { return metric_names[m]; }
const char *hc_method_name(hc_method m) { return method_names[m]; }

/* ---- distances ---- */

/* Rows [a, b) of the preparation, on one thread. */
typedef struct {
    const float *X;
    size_t n, d;
    hc_metric metric;
    int prec, nth;
    const double *mu;           /* column means (Euclidean) */
    double *colsum;             /* (nblocks, d) column sums of fixed blocks of rows */
    void *Y;
    double *nrm;
    size_t bad;                 /* first row with a problem, or SIZE_MAX */
    int why;                    /* 1 non-finite, 2 zero length / variance */
} prep;

/* Column sums of rows [b * COLSUM_ROWS, (b + 1) * COLSUM_ROWS): fixed
 * blocks, added in block order afterwards, so the means do not depend on
 * the thread count. */
#define COLSUM_ROWS 256
static void colsum_part(void *ctx, int blk, int t)
{
    (void)t;
    prep *p = ctx;
    size_t a = (size_t)blk * COLSUM_ROWS, b = a + COLSUM_ROWS < p->n ? a + COLSUM_ROWS : p->n;
    double *s = p->colsum + (size_t)blk * p->d;
    for (size_t i = a; i < b; i++) {
        const float *x = p->X + i * p->d;
        for (size_t k = 0; k < p->d; k++) s[k] += x[k];
    }
}

static void prep_part(void *ctx, int t)
{
    prep *p = (prep *)ctx + t;
    size_t a = p->n * (size_t)t / (size_t)p->nth, b = p->n * (size_t)(t + 1) / (size_t)p->nth, d = p->d;
    for (size_t i = a; i < b; i++) {
        const float *x = p->X + i * d;
        double m = 0, s = 1, q = 0;
        int fin = 1;
        for (size_t k = 0; k < d; k++) fin &= isfinite(x[k]) != 0;
        if (!fin) { if (i < p->bad) { p->bad = i; p->why = 1; } return; }
        if (p->metric == HC_CORRELATION) {
            for (size_t k = 0; k < d; k++) m += x[k];
            m /= (double)d;
        }
        if (p->metric != HC_EUCLIDEAN) {
            double ss = 0;
            for (size_t k = 0; k < d; k++) ss += (x[k] - m) * (x[k] - m);
            if (!(ss > 0)) { if (i < p->bad) { p->bad = i; p->why = 2; } return; }
            s = 1 / sqrt(ss);
        }
        if (p->prec == 1) {
            float *y = (float *)p->Y + i * d;
            if (p->metric == HC_EUCLIDEAN)
                for (size_t k = 0; k < d; k++) y[k] = (float)(x[k] - p->mu[k]);
            else
                for (size_t k = 0; k < d; k++) y[k] = (float)((x[k] - m) * s);
            for (size_t k = 0; k < d; k++) q += (double)y[k] * y[k];
        } else {
            double *y = (double *)p->Y + i * d;
            if (p->metric == HC_EUCLIDEAN)
                for (size_t k = 0; k < d; k++) y[k] = x[k] - p->mu[k];
            else
                for (size_t k = 0; k < d; k++) y[k] = (x[k] - m) * s;
            for (size_t k = 0; k < d; k++) q += y[k] * y[k];
        }
        p->nrm[i] = q;
    }
}

/* Centre and/or scale the rows of X into Y (float or double, by prec) on
 * nth threads; nrm (n) receives the squared length of each stored row. */
static int prepare_rows(const float *X, size_t n, size_t d, hc_metric metric, int prec, int nth, void *Y, double *nrm)
{
    prep p = {X, n, d, metric, prec, nth, NULL, NULL, Y, nrm, SIZE_MAX, 0};
    double *mu = NULL;
    if (metric == HC_EUCLIDEAN) {
        size_t nb = (n + COLSUM_ROWS - 1) / COLSUM_ROWS;
        p.colsum = dt_calloc(nb * d, sizeof *p.colsum);
        mu = dt_calloc(d, sizeof *mu);
        if (!p.colsum || !mu) { free(p.colsum); free(mu); return -1; }
        dt_parallel_units(nth, (int)nb, colsum_part, &p);
        for (size_t blk = 0; blk < nb; blk++)
            for (size_t k = 0; k < d; k++) mu[k] += p.colsum[blk * d + k];
        for (size_t k = 0; k < d; k++) mu[k] /= (double)n;
        free(p.colsum);
        p.colsum = NULL;
        p.mu = mu;
    }
    /* one slot per thread for the first bad row: threads write only their
     * own rows, so take the minimum afterwards */
    prep *pp = dt_malloc((size_t)nth * sizeof *pp);
    if (!pp) { free(mu); return -1; }
    for (int t = 0; t < nth; t++) pp[t] = p;
    dt_parallel(nth, prep_part, pp);
    size_t bad = SIZE_MAX;
    int why = 0;
    for (int t = 0; t < nth; t++)
        if (pp[t].bad < bad) { bad = pp[t].bad; why = pp[t].why; }
    free(pp);
    free(mu);
    if (why == 1) return dt_seterr("row %zu is not finite (NaN or infinity)", bad);
    if (why == 2)
        return dt_seterr("row %zu has %s, so its %s distance is undefined", bad, metric == HC_COSINE ? "zero length" : "zero variance",
                         metric_names[metric]);
    return 0;
}

int hc_pdist(const float *X, size_t n, size_t d, hc_metric metric, int precision, double *D)
{
    if (precision != 1 && precision != 2) return dt_seterr("precision must be 1 (single) or 2 (double)");
    if (n < 2) return 0;
    size_t es = precision == 1 ? sizeof(float) : sizeof(double);
    int nth = dt_default_threads();
    if (nth < 1) nth = 1;
    if (nth > 64) nth = 64;
    void *Y = dt_malloc(n * d * es);
    double *nrm = dt_malloc(n * sizeof *nrm);
    /* Row blocks of B: the block against itself by SYRK (one triangle),
     * against every later row by one GEMM; C (B, n) in the GEMM's
     * precision. */
    /* as few BLAS calls as about 256 MB of C allows (each call costs a
     * synchronisation of BLAS's threads): one SYRK up to n = 8192 in float */
    size_t B = (256u << 20) / (n * es);
    if (B < 256) B = 256;
    if (B > n) B = n;
    void *C = dt_malloc(B * n * es);
    int rc = -1;
    if (!Y || !nrm || !C || prepare_rows(X, n, d, metric, precision, nth, Y, nrm)) goto done;
    for (size_t a = 0; a < n; a += B) {
        size_t b = a + B < n ? a + B : n, rows = b - a, cols = n - a;
        /* C row r (point a + r), column c (point a + c), leading dim cols */
        if (precision == 1) {
            const float *y = (const float *)Y + a * d;
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)rows, (int)d, 1, y, (int)d, 0, C, (int)cols);
            if (cols > rows)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)(cols - rows), (int)d, 1, y, (int)d,
                            (const float *)Y + b * d, (int)d, 0, (float *)C + rows, (int)cols);
        } else {
            const double *y = (const double *)Y + a * d;
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)rows, (int)d, 1, y, (int)d, 0, C, (int)cols);
            if (cols > rows)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)(cols - rows), (int)d, 1, y, (int)d,
                            (const double *)Y + b * d, (int)d, 0, (double *)C + rows, (int)cols);
        }
        for (size_t i = a; i < b; i++) {
            double *out = i + 1 < n ? D + hc_cidx(n, i, i + 1) : NULL;   /* out[j - i - 1] is pair (i, j) */
            size_t r = (i - a) * cols;                                     /* C row of i; column j - a */
            for (size_t j = i + 1; j < n; j++) {
                double g = precision == 1 ? ((const float *)C)[r + j - a] : ((const double *)C)[r + j - a], v;
                if (metric == HC_EUCLIDEAN) {
                    v = nrm[i] + nrm[j] - 2 * g;
                    v = v > 0 ? sqrt(v) : 0;
                } else {
                    v = 1 - g / sqrt(nrm[i] * nrm[j]);
                    v = v < 0 ? 0 : v > 2 ? 2 : v;
                }
                out[j - i - 1] = v;
            }
        }
    }
    rc = 0;
done:
    free(Y);
    free(nrm);
    free(C);
    return rc;
}

/* ---- linkage ---- */

/* Lance–Williams: the distance from cluster i to the union of x and y. */
static inline double lance_williams(hc_method m, double dxi, double dyi, double dxy, double nx, double ny, double ni)
{
    switch (m) {
    case HC_SINGLE: return dxi < dyi ? dxi : dyi;
    case HC_COMPLETE: return dxi > dyi ? dxi : dyi;
    case HC_AVERAGE: return (nx * dxi + ny * dyi) / (nx + ny);
    case HC_WARD: {
        double t = ((ni + nx) * dxi * dxi + (ni + ny) * dyi * dyi - ni * dxy * dxy) / (nx + ny + ni);
        return t > 0 ? sqrt(t) : 0;
    }
    }
    return NAN;
}

/* Nearest active neighbour of x (excluding x), starting from the
 * candidate (y, best); returns it and its distance in *best. */
static size_t nearest(const double *D, size_t n, const double *size, size_t x, size_t y, double *best)
{
    double cur = *best;
    /* i < x: column x of the condensed rows, stride n - i - 2 */
    size_t idx = x - 1; /* hc_cidx(n, 0, x) */
    for (size_t i = 0; i < x; i++) {
        if (size[i] > 0 && D[idx] < cur) { cur = D[idx]; y = i; }
        idx += n - i - 2;
    }
    if (x + 1 < n) {
        const double *row = D + hc_cidx(n, x, x + 1);   /* row[i - x - 1] is pair (x, i) */
        for (size_t i = x + 1; i < n; i++)
            if (size[i] > 0 && row[i - x - 1] < cur) { cur = row[i - x - 1]; y = i; }
    }
    *best = cur;
    return y;
}

static int nn_chain(double *D, size_t n, hc_method method, double *Z)
{
    double *size = dt_malloc(n * sizeof *size);
    size_t *chain = dt_malloc(n * sizeof *chain);
    if (!size || !chain) { free(size); free(chain); return -1; }
    for (size_t i = 0; i < n; i++) size[i] = 1;
    size_t len = 0, first = 0;
    for (size_t k = 0; k + 1 < n; k++) {
        if (len == 0) {
            while (size[first] == 0) first++;
            chain[len++] = first;
        }
        size_t x, y;
        double cur;
        for (;;) {
            x = chain[len - 1];
            if (len > 1) {
                y = chain[len - 2];
                cur = D[hc_cidx(n, x, y)];
            } else {
                y = SIZE_MAX;
                cur = INFINITY;
            }
            /* Ties keep the previous chain element, so the chain never cycles. */
            y = nearest(D, n, size, x, y, &cur);
            if (len > 1 && y == chain[len - 2]) break;
            chain[len++] = y;
        }
        len -= 2;
        if (x > y) { size_t t = x; x = y; y = t; }
        double nx = size[x], ny = size[y];
        Z[4 * k] = (double)x;
        Z[4 * k + 1] = (double)y;
        Z[4 * k + 2] = cur;
        Z[4 * k + 3] = nx + ny;
        size[x] = 0;
        size[y] = nx + ny;
        for (size_t i = 0; i < n; i++) {
            if (size[i] == 0 || i == y) continue;
            size_t ix = hc_cidx(n, i, x), iy = hc_cidx(n, i, y);
            D[iy] = lance_williams(method, D[ix], D[iy], cur, nx, ny, size[i]);
        }
    }
    free(size);
    free(chain);
    return 0;
}

/* Prim's minimum spanning tree; row k joins the new vertex to the tree
 * vertex it is nearest to. */
static int mst_single(const double *D, size_t n, double *Z)
{
    double *dmin = dt_malloc(n * sizeof *dmin);
    size_t *src = dt_malloc(n * sizeof *src);
    uint8_t *in = dt_calloc(n, 1);
    if (!dmin || !src || !in) { free(dmin); free(src); free(in); return -1; }
    for (size_t i = 0; i < n; i++) dmin[i] = INFINITY;
    size_t x = 0;
    for (size_t k = 0; k + 1 < n; k++) {
        in[x] = 1;
        double cur = INFINITY;
        size_t y = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (in[i]) continue;
            double d = D[hc_cidx(n, x, i)];
            if (d < dmin[i]) { dmin[i] = d; src[i] = x; }
            if (dmin[i] < cur || y == SIZE_MAX) { cur = dmin[i]; y = i; }
        }
        Z[4 * k] = (double)src[y];
        Z[4 * k + 1] = (double)y;
        Z[4 * k + 2] = cur;
        Z[4 * k + 3] = 0;
        x = y;
    }
    free(dmin);
    free(src);
    free(in);
    return 0;
}

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

typedef struct { double h; size_t k; } hrow;

static int hrow_cmp(const void *a, const void *b)
{
    const hrow *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;   /* stable */
}

/* Sort the merges (point representatives) by height and relabel them as
 * clusters: 0..n-1 points, n+i the cluster of row i. */
static int sort_and_label(double *Z, size_t n)
{
    size_t m = n - 1;
    hrow *o = dt_malloc(m * sizeof *o);
    double *Zs = dt_malloc(4 * m * sizeof *Zs);
    size_t *parent = dt_malloc((2 * n - 1) * sizeof *parent);
    double *csize = dt_malloc((2 * n - 1) * sizeof *csize);
    int rc = -1;
    if (!o || !Zs || !parent || !csize) goto done;
    for (size_t k = 0; k < m; k++) o[k] = (hrow){Z[4 * k + 2], k};
    qsort(o, m, sizeof *o, hrow_cmp);
    for (size_t i = 0; i < 2 * n - 1; i++) { parent[i] = i; csize[i] = i < n ? 1 : 0; }
    for (size_t r = 0; r < m; r++) {
        const double *z = Z + 4 * o[r].k;
        size_t a = uf_find(parent, (size_t)z[0]), b = uf_find(parent, (size_t)z[1]);
        if (a == b) { dt_seterr("linkage: merge %zu joins a cluster with itself", r); goto done; }
        size_t c = n + r;
        parent[a] = parent[b] = c;
        csize[c] = csize[a] + csize[b];
        Zs[4 * r] = (double)(a < b ? a : b);
        Zs[4 * r + 1] = (double)(a < b ? b : a);
        Zs[4 * r + 2] = z[2];
        Zs[4 * r + 3] = csize[c];
    }
    memcpy(Z, Zs, 4 * m * sizeof *Z);
    rc = 0;
done:
    free(o);
    free(Zs);
    free(parent);
    free(csize);
    return rc;
}

int hc_linkage(double *D, size_t n, hc_method method, double *Z)
{
    if (n < 2) return 0;
    size_t N = n * (n - 1) / 2;
    for (size_t i = 0; i < N; i++)
        if (!isfinite(D[i]) || D[i] < 0) return dt_seterr("linkage: distance %zu is %g; distances must be finite and >= 0", i, D[i]);
    int rc = method == HC_SINGLE ? mst_single(D, n, Z) : nn_chain(D, n, method, Z);
    return rc ? rc : sort_and_label(Z, n);
}

/* ---- reading the tree ---- */

/* Leaves of every cluster as linked lists: head/tail per cluster id,
 * next per point. */
typedef struct { size_t *head, *tail, *next, *count; } leaf_lists;

static int lists_init(leaf_lists *L, size_t n)
{
    L->head = dt_malloc((2 * n - 1) * sizeof(size_t));
    L->tail = dt_malloc((2 * n - 1) * sizeof(size_t));
    L->count = dt_malloc((2 * n - 1) * sizeof(size_t));
    L->next = dt_malloc(n * sizeof(size_t));
    if (!L->head || !L->tail || !L->next || !L->count) return -1;
    for (size_t i = 0; i < n; i++) { L->head[i] = L->tail[i] = i; L->next[i] = SIZE_MAX; L->count[i] = 1; }
    return 0;
}

static void lists_free(leaf_lists *L)
{
    free(L->head);
    free(L->tail);
    free(L->next);
    free(L->count);
}

static int check_z(const double *Z, size_t n)
{
    for (size_t r = 0; r + 1 < n; r++) {
        double a = Z[4 * r], b = Z[4 * r + 1];
        if (!(a >= 0 && b >= 0 && a < (double)(n + r) && b < (double)(n + r) && a != b))
            return dt_seterr("linkage matrix row %zu merges %g and %g, which are not earlier clusters", r, a, b);
    }
    return 0;
}

int hc_cophenetic(const double *Z, size_t n, const double *D, double *coph, double *corr)
{
    if (n < 2) return 0;
    if (check_z(Z, n)) return -1;
    size_t N = n * (n - 1) / 2;
    double md = 0, mc = 0;
    for (size_t i = 0; i < N; i++) md += D[i];
    md /= (double)N;
    leaf_lists L;
    if (lists_init(&L, n)) { lists_free(&L); return -1; }
    for (size_t r = 0; r + 1 < n; r++) {
        size_t a = (size_t)Z[4 * r], b = (size_t)Z[4 * r + 1];
        mc += Z[4 * r + 2] * (double)L.count[a] * (double)L.count[b];
        size_t c = n + r;
        L.count[c] = L.count[a] + L.count[b];
    }
    mc /= (double)N;
    for (size_t i = 0; i < n; i++) L.count[i] = 1;
    double sdc = 0, sdd = 0, scc = 0;
    for (size_t r = 0; r + 1 < n; r++) {
        size_t a = (size_t)Z[4 * r], b = (size_t)Z[4 * r + 1], c = n + r;
        double h = Z[4 * r + 2];
        for (size_t p = L.head[a]; p != SIZE_MAX; p = L.next[p])
            for (size_t q = L.head[b]; q != SIZE_MAX; q = L.next[q]) {
                size_t idx = hc_cidx(n, p, q);
                if (coph) coph[idx] = h;
                double u = D[idx] - md, v = h - mc;
                sdc += u * v;
                sdd += u * u;
                scc += v * v;
            }
        L.next[L.tail[a]] = L.head[b];
        L.head[c] = L.head[a];
        L.tail[c] = L.tail[b];
    }
    lists_free(&L);
    if (corr) *corr = sdc / sqrt(sdd * scc);
    return 0;
}

int hc_leaves(const double *Z, size_t n, int *order)
{
    if (n == 0) return 0;
    if (n == 1) { order[0] = 0; return 0; }
    if (check_z(Z, n)) return -1;
    size_t *stack = dt_malloc((2 * n) * sizeof *stack), top = 0, k = 0;
    if (!stack) return -1;
    stack[top++] = 2 * n - 2;
    while (top) {
        size_t c = stack[--top];
        if (c < n) { order[k++] = (int)c; continue; }
        const double *z = Z + 4 * (c - n);
        stack[top++] = (size_t)z[1];   /* right after left */
        stack[top++] = (size_t)z[0];
    }
    free(stack);
    return 0;
}

/* Union the first `rows` merges; labels by first point. */
static int cut_rows(const double *Z, size_t n, size_t rows, int *labels)
{
    size_t *parent = dt_malloc(n * sizeof *parent), *rep = dt_malloc((2 * n - 1) * sizeof *rep);
    int *lab = dt_malloc(n * sizeof *lab);
    if (!parent || !rep || !lab) { free(parent); free(rep); free(lab); return -1; }
    for (size_t i = 0; i < n; i++) { parent[i] = rep[i] = i; lab[i] = -1; }
    for (size_t r = 0; r < rows; r++) {
        size_t a = uf_find(parent, rep[(size_t)Z[4 * r]]), b = uf_find(parent, rep[(size_t)Z[4 * r + 1]]);
        parent[b] = a;
        rep[n + r] = a;
    }
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t root = uf_find(parent, i);
        if (lab[root] < 0) lab[root] = k++;
        labels[i] = lab[root];
    }
    free(parent);
    free(rep);
    free(lab);
    return k;
}

int hc_cut_k(const double *Z, size_t n, int k, int *labels)
{
    if (k < 1 || (size_t)k > n) return dt_seterr("cannot cut %zu points into %d clusters", n, k);
    if (n > 1 && check_z(Z, n)) return -1;
    return cut_rows(Z, n, n - (size_t)k, labels) < 0 ? -1 : 0;
}

int hc_cut_height(const double *Z, size_t n, double h, int *labels)
{
    if (n > 1 && check_z(Z, n)) return -1;
    size_t rows = 0;
    while (rows + 1 < n && Z[4 * rows + 2] <= h) rows++;
    return cut_rows(Z, n, rows, labels);
}

/* ---- comparing clusterings ---- */

static int u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted (a, b) label pairs: the non-zero cells of the contingency table
 * are the runs. */
static uint64_t *pairs_sorted(const int *a, const int *b, size_t n)
{
    uint64_t *p = dt_malloc(n * sizeof *p);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = (uint64_t)(uint32_t)a[i] << 32 | (uint32_t)b[i];
    qsort(p, n, sizeof *p, u64cmp);
    return p;
}

static double comb2(double x) { return x * (x - 1) / 2; }

double hc_ari(const int *a, const int *b, size_t n)
{
    if (n < 2) return 1;
    uint64_t *p = pairs_sorted(a, b, n);
    size_t *ca = dt_calloc(n, sizeof *ca), *cb = dt_calloc(n, sizeof *cb);
    double r = NAN;
    if (!p || !ca || !cb) goto done;
    double sij = 0, sa = 0, sb = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && p[j] == p[i]) j++;
        sij += comb2((double)(j - i));
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 0 || (size_t)a[i] >= n || b[i] < 0 || (size_t)b[i] >= n) goto done;
        ca[a[i]]++;
        cb[b[i]]++;
    }
    for (size_t i = 0; i < n; i++) { sa += comb2((double)ca[i]); sb += comb2((double)cb[i]); }
    double expected = sa * sb / comb2((double)n), top = (sa + sb) / 2 - expected;
    r = top == 0 ? 1 : (sij - expected) / top;
done:
    free(p);
    free(ca);
    free(cb);
    return r;
}

int hc_jaccard(const int *ref, int k, const int *const *perturbed, int P, size_t n, double *jac, double *mean_jac)
{
    size_t *cr = dt_calloc((size_t)k, sizeof *cr), *cp = dt_calloc(n, sizeof *cp);
    if (!cr || !cp) { free(cr); free(cp); return -1; }
    for (size_t i = 0; i < n; i++) {
        if (ref[i] < 0 || ref[i] >= k) { free(cr); free(cp); return dt_seterr("reference label %d of point %zu is not in 0..%d", ref[i], i, k - 1); }
        cr[ref[i]]++;
    }
    for (int c = 0; c < k; c++) mean_jac[c] = 0;
    for (int p = 0; p < P; p++) {
        const int *l = perturbed[p];
        memset(cp, 0, n * sizeof *cp);
        for (size_t i = 0; i < n; i++) {
            if (l[i] < 0 || (size_t)l[i] >= n) { free(cr); free(cp); return dt_seterr("label %d of point %zu in clustering %d is not in 0..%zu", l[i], i, p, n - 1); }
            cp[l[i]]++;
        }
        double *J = jac + (size_t)p * k;
        for (int c = 0; c < k; c++) J[c] = 0;
        uint64_t *pr = pairs_sorted(ref, l, n);
        if (!pr) { free(cr); free(cp); return -1; }
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && pr[j] == pr[i]) j++;
            int c = (int)(pr[i] >> 32), d = (int)(uint32_t)pr[i];
            double inter = (double)(j - i), jj = inter / ((double)cr[c] + (double)cp[d] - inter);
            if (jj > J[c]) J[c] = jj;
            i = j;
        }
        free(pr);
        for (int c = 0; c < k; c++) mean_jac[c] += J[c] / P;
    }
    free(cr);
    free(cp);
    return 0;
}

void hc_coassign(const int *const *labels, int P, size_t n, float *co)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int s = 0;
            for (int p = 0; p < P; p++) s += labels[p][i] == labels[p][j];
            co[i * n + j] = P ? (float)s / P : 0;
        }
}
