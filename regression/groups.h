/* groups.h — which neurons a readout can fit, and which can be fitted
 * together: neurons recorded on the same stimuli share one design (and, for
 * ridge, one eigendecomposition per fold). */
#ifndef DT_GROUPS_H
#define DT_GROUPS_H

enum { READOUT_OK = 0, READOUT_NO_DATA = 1, READOUT_CONSTANT = 2 };

/* For each neuron of Y (n, m; NaN = not recorded): status[j] (READOUT_*),
 * value[j] = the mean of its responses (the intercept of a constant
 * neuron; NaN without data), done[j] = 1 for neurons that need no fit. */
void readout_status(const double *Y, int n, int m, int *status, double *value, char *done);

/* The next group of neurons not yet done that are recorded on the same
 * stimuli: rows (ng) and neurons J (mg); marks them done.  Returns 0 when
 * every neuron is done. */
int readout_next_group(const double *Y, int n, int m, char *done, int *rows, int *ng, int *J, int *mg);

#endif
