/* hclust.h — hierarchical clustering of n vectors: pairwise distances
 * through a Gram matrix (one SGEMM or DGEMM per row block, not pair by
 * pair), exact O(n^2)-memory linkage (Müllner's nearest-neighbour chain for
 * complete, average and Ward; Prim's minimum spanning tree for single), and
 * what is read off a tree: flat clusters, cophenetic correlation, leaf
 * order, and agreement between clusterings (adjusted Rand index, Hennig's
 * Jaccard stability, co-assignment).
 *
 * Linkage matrices are SciPy's format, Z (n-1, 4): row i merges clusters
 * Z[i,0] < Z[i,1] (0..n-1 are the points, n+i the cluster made by row i) at
 * height Z[i,2] into a cluster of Z[i,3] points; rows are in increasing
 * height.  Ties: equal heights keep the order in which the algorithm found
 * the merges (a stable sort, as SciPy's).  Without ties the matrix equals
 * scipy.cluster.hierarchy.linkage's; with ties, heights and the set of
 * clusterings still agree but the labels of tied merges may differ.
 *
 * Condensed distances are SciPy's pdist order: pair i < j at
 * n*i - i*(i+1)/2 + j - i - 1, n(n-1)/2 values. */
#ifndef DT_HCLUST_H
#define DT_HCLUST_H

#include <stddef.h>

typedef enum { HC_EUCLIDEAN, HC_COSINE, HC_CORRELATION } hc_metric;
typedef enum { HC_SINGLE, HC_COMPLETE, HC_AVERAGE, HC_WARD } hc_method;

/* Name <-> value ("euclidean", "ward", ...); -1 if unknown. */
int hc_metric_parse(const char *s);
int hc_method_parse(const char *s);
const char *hc_metric_name(hc_metric m);
const char *hc_method_name(hc_method m);

static inline size_t hc_cidx(size_t n, size_t i, size_t j)
{
    if (i > j) { size_t t = i; i = j; j = t; }
    return n * i - i * (i + 1) / 2 + j - i - 1;
}

/* Pairwise distances of the n rows of X (n, d) into D (n(n-1)/2).
 * The rows are first centred by the column means (Euclidean: distances do
 * not change, and the Gram matrix loses far less to cancellation), or each
 * centred (correlation) and scaled to unit length (cosine, correlation);
 * then one GEMM per block of rows gives the inner products.  precision 1:
 * in single precision (SGEMM; distances to about 1e-6 of the vectors'
 * spread), 2: in double (DGEMM).  A row with zero length (cosine) or zero
 * variance (correlation) is an error naming the row; so is a non-finite
 * value. */
int hc_pdist(const float *X, size_t n, size_t d, hc_metric metric, int precision, double *D);

/* Linkage of n points from their condensed distances D, which are used as
 * workspace and destroyed.  Ward needs Euclidean distances.  Z (n-1, 4). */
int hc_linkage(double *D, size_t n, hc_method method, double *Z);

/* Cophenetic distances of Z into coph (condensed; may be NULL) and their
 * Pearson correlation with the distances D the tree was built from (corr
 * may be NULL). */
int hc_cophenetic(const double *Z, size_t n, const double *D, double *coph, double *corr);

/* Leaves in dendrogram order (depth first, left child first: SciPy's
 * leaves_list). */
int hc_leaves(const double *Z, size_t n, int *order);

/* Flat clusters from the tree: at exactly k clusters (undoing the last k-1
 * merges, as scipy's cut_tree), or at height h (points whose cophenetic
 * distance is <= h share a cluster; returns the number of clusters).
 * Labels 0..k-1 in order of each cluster's first point. */
int hc_cut_k(const double *Z, size_t n, int k, int *labels);
int hc_cut_height(const double *Z, size_t n, double h, int *labels);

/* Adjusted Rand index of two labelings of n points (labels >= 0)
 * (Hubert & Arabie 1985); 1 when both put every pair the same way. */
double hc_ari(const int *a, const int *b, size_t n);

/* Jaccard stability of the clusters of a reference labelling ref (k
 * clusters, labels 0..k-1) over P other labellings perturbed[p] (n each),
 * in the sense of Hennig (2007, Comput. Stat. Data Anal. 52:258): for each
 * reference cluster C and each perturbed clustering, the best Jaccard
 * |C ∩ D| / |C ∪ D| over its clusters D.  jac (P, k) receives them;
 * mean_jac (k) their mean over the perturbations. */
int hc_jaccard(const int *ref, int k, const int *const *perturbed, int P, size_t n, double *jac, double *mean_jac);

/* Co-assignment: co (n, n) = fraction of the P labellings in which points
 * i and j share a cluster. */
void hc_coassign(const int *const *labels, int P, size_t n, float *co);

#endif
