/* ridge.h — ridge regression from features to many neurons' responses, with
 * the ridge parameter chosen per neuron by K-fold cross-validation or by
 * generalized (efficient leave-one-out) cross-validation.
 *
 * Model per neuron j: y = x^T w_j + b_j, minimising
 *   sum_i (y_ij - x_i^T w_j - b_j)^2 + lambda_j |w_j|^2
 * (intercept unpenalised; with standardisation the penalty is on the
 * standardised weights, and the weights are returned in the original feature
 * space).  When features outnumber stimuli the dual (kernel) form is used:
 * one symmetric eigendecomposition of the centred Gram matrix per fold serves
 * every lambda and every neuron; otherwise the primal form with the p x p
 * covariance.  Without standardisation, K-fold CV needs no decomposition per
 * fold: the held-out residuals follow exactly from one decomposition of all
 * the rows (see ridge.c).  All fold statistics (means, scales) come from the training
 * rows only.  Neurons with NaN responses use only their recorded stimuli
 * (neurons sharing a pattern of recorded stimuli are fitted together). */
#ifndef DT_RIDGE_H
#define DT_RIDGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int nfolds;            /* K-fold CV (>= 2); 0 = generalized CV */
    const double *grid;    /* explicit lambda grid, ascending, > 0; or NULL */
    int ngrid;             /* size of the grid (default 20) */
    double grid_lo, grid_hi; /* default grid: lambda = s * trace(centred Gram) / n,
                              * s log-spaced over [grid_lo, grid_hi] (1e-3, 1e3) */
    int standardize;       /* scale features to unit variance (training rows) */
    uint64_t seed;         /* fold assignment */
    int precision;         /* 1 (default): for K-fold CV without
                            * standardisation and with features
                            * outnumbering stimuli, the Gram, its
                            * tridiagonal form and the CV solves in single
                            * precision with orthogonal factors exact in
                            * double (see tri_decompose in ridge.c);
                            * 2: double throughout */
} ridge_opts;

void ridge_opts_default(ridge_opts *o);

/* the statuses of groups.h */
enum { RIDGE_OK = 0, RIDGE_NO_DATA = 1, RIDGE_CONSTANT = 2 };

typedef struct {
    int p, m, ngrid;
    double *w;             /* (m, p) weights, original feature space; owned */
    double *b;             /* (m) intercepts */
    double *lambda;        /* (m) chosen lambda */
    double *cv;            /* (m, ngrid) cross-validated mean squared error */
    double *grid;          /* (m, ngrid) the lambdas (per neuron: the default
                            * grid scales with each group's Gram trace) */
    int *status;           /* (m) RIDGE_OK, or why the neuron was skipped */
} ridge_fit;

/* Xt (p, n) feature-major float features: row c holds feature c over the n
 * stimuli.  Y (n, m) responses, NaN = missing.
 * Returns 0, or -1 with dt_seterr (bad options, out of memory, LAPACK). */
int ridge_fit_cv(const float *Xt, int n, int p, const double *Y, int m, const ridge_opts *o, ridge_fit *out);
void ridge_fit_free(ridge_fit *f);   /* NULL-safe */

/* Refit on a resample at given lambdas (no cross-validation): stimulus i
 * counts counts[i] times (a bootstrap draw).  Neurons whose lambda is NaN or
 * that have no recorded resampled stimuli get zero weights and their mean
 * as intercept.  W (m, p) and b (m) are outputs. */
int ridge_refit(const float *Xt, int n, int p, const double *Y, int m, const int *counts, const double *lambda,
                int standardize, double *W, double *b);

/* Fold of each of n rows (0..k-1), a seeded shuffle dealt round-robin. */
void ridge_folds(int *fold, int n, int k, uint64_t seed);

#endif
