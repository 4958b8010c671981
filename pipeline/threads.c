/* threads.c — how many threads deeptune uses by default, and the fixed-unit
 * parallel loop the engine's kernels run on.
 *
 * The default thread count is the number of CPUs this process may run on
 * (its affinity mask, which taskset, cgroup cpusets and SLURM set), not the
 * number online; OMP_NUM_THREADS, when set to a positive integer, wins, as
 * batch schedulers and users expect of numerical programs. */
#define _GNU_SOURCE
#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int dt_default_threads(void)
{
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        /* OMP_NUM_THREADS may be a list ("4,2" for nested levels): the first */
        if (end != e && (*end == 0 || *end == ',') && v > 0) return v > 256 ? 256 : (int)v;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n > 256 ? 256 : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (n > 256 ? 256 : (int)n) : 1;
}

typedef struct {
    void (*fn)(void *, int, int);
    void *ctx;
    int t, n, T;
} unit_arg;

/* thread t runs units t, t + T, ... (a fixed assignment; the units decide
 * the arithmetic, so any assignment gives the same results) */
static void *unit_main(void *a)
{
    unit_arg *p = a;
    for (int u = p->t; u < p->n; u += p->T) p->fn(p->ctx, u, p->t);
    return NULL;
}

void dt_parallel_units(int nt, int n, void (*fn)(void *ctx, int u, int t), void *ctx)
{
    enum { MAXT = 64 };
    int T = nt < n ? nt : n;
    if (T > MAXT) T = MAXT;
    if (T <= 1) {
        for (int u = 0; u < n; u++) fn(ctx, u, 0);
        return;
    }
    pthread_t th[MAXT];
    unit_arg args[MAXT];
    int started[MAXT] = {0};
    for (int t = 0; t < T; t++) args[t] = (unit_arg){fn, ctx, t, n, T};
    for (int t = 1; t < T; t++) {
        started[t] = pthread_create(&th[t], NULL, unit_main, &args[t]) == 0;
        if (!started[t]) unit_main(&args[t]); /* run them here rather than lose them */
    }
    unit_main(&args[0]);
    for (int t = 1; t < T; t++)
        if (started[t]) pthread_join(th[t], NULL);
}
