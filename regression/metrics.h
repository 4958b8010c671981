/* metrics.h — how well predictions match held-out responses: Pearson r,
 * R^2, and R^2 corrected for trial-to-trial noise. */
#ifndef DT_METRICS_H
#define DT_METRICS_H

/* Pearson r and R^2 = 1 - SSE/SST of predictions yhat[i] against
 * y[i * stride] over the i where y is not NaN (n of them at most).  NaN
 * when fewer than 2 pairs or no variance. */
void score_r_r2(const double *y, int stride, const double *yhat, int n, double *r, double *r2);

/* The noise-corrected R^2 of predictions yhat (n) of one neuron, from its
 * single trials: trial k of stimulus i at trials[i * tstride + k * kstride]
 * (R slots, NaN = no trial).  Stimuli with fewer than 2 trials are left out.
 * The trial means are the responses being predicted.  See metrics.c for
 * the estimator.  *ev receives the estimated explainable variance (the
 * variance of the noise-free responses across stimuli) and *noise the mean
 * noise variance of a trial mean; both may be NULL.  Returns NaN when fewer
 * than 3 stimuli have 2 trials or the explainable variance is not
 * positive. */
double r2_noise_corrected(const double *trials, int n, int R, long tstride, long kstride, const double *yhat, double *ev,
                          double *noise);

#endif
