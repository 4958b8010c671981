/* lasso.h — Lasso and elastic net from features to many neurons, by
 * coordinate descent along a lambda path with warm starts, sequential strong
 * rules and a KKT check (so the screened result is exact), and lambda chosen
 * per neuron by K-fold cross-validation (minimum or one-standard-error rule).
 *
 * Objective per neuron (glmnet's, Friedman, Hastie & Tibshirani 2010, eq. 1):
 *   1/(2n) sum_i (y_i - b - x_i^T w)^2 + lambda (alpha |w|_1 + (1 - alpha)/2 |w|^2)
 * with an unpenalised intercept.  Convergence: a sweep over the working set
 * ends the inner loop when max_j v_j (delta w_j)^2 < tol * var(y), where
 * v_j = |z_j|^2 / n is the change of the objective a coordinate step can
 * make (glmnet's criterion; tol = 1e-7 as glmnet's thresh). */
#ifndef DT_LASSO_H
#define DT_LASSO_H

#include <stdint.h>

typedef struct {
    double alpha;          /* 1 = Lasso, (0, 1) = elastic net */
    int nlambda;           /* path length (default 100) */
    double lmin_ratio;     /* lambda_min / lambda_max; 0 = 0.01 if p > n else 1e-4 */
    const double *path;    /* explicit strictly decreasing path, or NULL */
    double tol;            /* convergence (default 1e-7) */
    int maxit;             /* maximum coordinate sweeps per lambda (default 100000) */
    int nfolds;            /* K-fold CV (>= 2); 0 = fit the path only (no choice) */
    int one_se;            /* choose the largest lambda within one SE of the minimum */
    int standardize;       /* unit-variance features (training rows) */
    uint64_t seed;
    int nthreads;          /* neurons are fitted in parallel (default 1) */
} lasso_opts;

void lasso_opts_default(lasso_opts *o);

typedef struct {
    int p, m, nl;
    double *w;             /* (m, p) weights at the chosen lambda, original feature space */
    double *b;             /* (m) */
    double *lambda;        /* (m) chosen */
    double *path;          /* (m, nl) the lambdas */
    double *cv, *cvse;     /* (m, nl) CV mean squared error and its standard error */
    int *nnz;              /* (m) non-zero weights at the chosen lambda */
    int *status;           /* (m) 0 fitted, 1 no data, 2 constant (as ridge) */
    double *wpath;         /* (m, nl, p) the whole path when nfolds == 0, else NULL */
    double *bpath;         /* (m, nl) */
} lasso_fit;

/* Xt (p, n) feature-major float features (row c = feature c over the n
 * stimuli), Y (n, m) responses (NaN = missing). */
int lasso_fit_cv(const float *Xt, int n, int p, const double *Y, int m, const lasso_opts *o, lasso_fit *out);
void lasso_fit_free(lasso_fit *f);

/* Refit on a resample (stimulus i counts counts[i] times) along each
 * neuron's path paths (m, nl) up to index stop[j] (warm starts), keeping
 * that index's weights: W (m, p), b (m).  stop[j] < 0: zero weights and the
 * mean.  Options used: alpha, tol, maxit, standardize, nthreads. */
int lasso_refit(const float *Xt, int n, int p, const double *Y, int m, const int *counts, const double *paths, int nl,
                const int *stop, const lasso_opts *o, double *W, double *b);

/* Largest KKT violation of a solution on data (Xt feature-major, neuron
 * column y): max over j of |grad_j| - lambda*alpha (for w_j = 0) or
 * |grad_j + lambda*alpha*sign(w_j)| (for w_j != 0), in the standardised
 * coordinates the solver used.  For tests. */
double lasso_kkt(const float *Xt, int n, int p, const double *y, const double *w, double b, double lambda, double alpha,
                 int standardize);

#endif
