/* clusterplot.h — pictures of a clustering, drawn with libpng: a dendrogram
 * with each leaf's DeepTune image beneath it (branches coloured by
 * cluster), and heat maps of square matrices.  Text (the height axis,
 * neuron labels) goes into an SVG beside the dendrogram PNG, which it
 * shows as its background. */
#ifndef DT_CLUSTERPLOT_H
#define DT_CLUSTERPLOT_H

#include <stddef.h>

typedef struct {
    size_t n;
    const double *Z;            /* (n-1, 4) linkage */
    const int *labels;          /* (n) flat clusters 0..k-1 */
    int k;
    const int *leaves;          /* (n) leaf order */
    const int *neuron;          /* (n) neuron numbers for the labels */
    const char *const *ids;     /* (n) neuron ids ("" when none) */
    const float *thumbs;        /* (n, h, w, c) images 0..255, or NULL */
    int h, w, c;
} clusterplot_tree;

/* base.png and base.svg. */
int clusterplot_dendrogram(const clusterplot_tree *t, const char *base);

/* Heat map of M (n, n) (rows and columns permuted by order, or NULL),
 * values lo..hi mapped white -> dark blue (lo >= 0), or blue -> white -> red
 * (lo < 0), into path (a .png); with labels (n, may be NULL), also the same
 * name with .svg: the PNG with the labels on the rows and columns and a
 * colour key. */
int clusterplot_matrix(const float *M, int n, const int *order, float lo, float hi, const char *path, const char *const *labels);

#endif
