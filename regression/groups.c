/* groups.c — see groups.h. */
#include "groups.h"

#include <math.h>
#include <stddef.h>

void readout_status(const double *Y, int n, int m, int *status, double *value, char *done)
{
    for (int j = 0; j < m; j++) {
        int k = 0, varies = 0;
        double first = NAN, sum = 0;
        for (int i = 0; i < n; i++) {
            double y = Y[(size_t)i * m + j];
            if (isnan(y)) continue;
            if (!k) first = y;
            else if (y != first) varies = 1;
            sum += y;
            k++;
        }
        status[j] = !k ? READOUT_NO_DATA : !varies ? READOUT_CONSTANT : READOUT_OK;
        value[j] = k ? sum / k : NAN;
        done[j] = status[j] != READOUT_OK;
    }
}

int readout_next_group(const double *Y, int n, int m, char *done, int *rows, int *ng, int *J, int *mg)
{
    int j0 = 0;
    while (j0 < m && done[j0]) j0++;
    if (j0 == m) return 0;
    *ng = *mg = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(Y[(size_t)i * m + j0])) rows[(*ng)++] = i;
    for (int j = j0; j < m; j++) {
        if (done[j]) continue;
        int same = 1;
        for (int i = 0; i < n && same; i++) same = isnan(Y[(size_t)i * m + j]) == isnan(Y[(size_t)i * m + j0]);
        if (same) { J[(*mg)++] = j; done[j] = 1; }
    }
    return 1;
}
