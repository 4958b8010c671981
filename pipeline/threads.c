/* threads.c — how many threads deeptune uses by default, and the fixed-unit
 * parallel loop the engine's kernels run on.
 *
 * The default thread count is the number of CPUs this process may run on
 * (its affinity mask, which taskset, cgroup cpusets and SLURM set), not the
 * number online; OMP_NUM_THREADS, when set to a positive integer, wins, as
 * batch schedulers and users expect of numerical programs. */
#define _GNU_SOURCE
#include "util.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#define BLAS_BUFFER_MB 128 /* OpenBLAS's BUFFER_SIZE on x86-64 (32 << 22 bytes) */
#define THREAD_ROOM_MB 64  /* a thread's own buffers, beyond the shared data */

static double used_bytes(void);
static double limit_bytes; /* the address-space limit, when there is one */
/* at most this many threads (dt_limit_threads), 0 for no cap */
static int thread_cap;

/* One tiny GEMM on each of n threads, all in flight at once, so OpenBLAS
 * maps a buffer for each: every thread holds until all have arrived and
 * the main thread has said how many started, and again until all are done. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int expected, arrived, done;
} warm_arg;

static void warm_wait(warm_arg *w, int *count)
{
    pthread_mutex_lock(&w->mu);
    (*count)++;
    pthread_cond_broadcast(&w->cv);
    while (w->expected == 0 || *count < w->expected) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void *warm_main(void *a)
{
    warm_arg *w = a;
    float x = 1, y = 1, z = 0;
    warm_wait(w, &w->arrived);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1, &x, 1, &y, 1, 0, &z, 1);
    warm_wait(w, &w->done);
    return NULL;
}

/* Returns how many threads got their buffer (n, or fewer if a thread could
 * not be started). */
static int warm_blas(int n)
{
    enum { MAXT = 64 };
    pthread_t th[MAXT];
    warm_arg w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    if (n > MAXT) n = MAXT;
    int started = 1;
    for (int t = 1; t < n; t++) {
        if (pthread_create(&th[t], NULL, warm_main, &w) != 0) break;
        started++;
    }
    pthread_mutex_lock(&w.mu);
    w.expected = started;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    warm_main(&w);
    for (int t = 1; t < started; t++) pthread_join(th[t], NULL);
    return started;
}

int dt_limit_threads(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    double used = used_bytes(), limit = (double)rl.rlim_cur;
    limit_bytes = limit;
    /* OpenBLAS 0.3.21 maps a work buffer per calling thread and, if that
     * fails, retries forever: each thread needs BLAS_BUFFER_MB plus room
     * for its own work (an upstream bug; the cap keeps us clear of it) */
    double per = (BLAS_BUFFER_MB + THREAD_ROOM_MB) * 1048576.0, room = limit - used;
    int n = room > 0 ? (int)(room / per) : 0;
    if (n < 1)
        return dt_seterr("the address-space limit (ulimit -v %.0f MB) leaves %.0f MB, too little for a BLAS work buffer (%d MB) "
                         "and its work; raise the limit to at least %.0f MB",
                         limit / 1048576, room > 0 ? room / 1048576 : 0, BLAS_BUFFER_MB, (used + per) / 1048576 + 1);
    thread_cap = n;
    /* OpenBLAS keeps a freed buffer for the next caller: map one per thread
     * now, all at once, while the room is known to be there */
    thread_cap = warm_blas(dt_default_threads());
    return 0;
}

static double used_bytes(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

int dt_room_threads(int T)
{
    if (limit_bytes <= 0 || T <= 1) return T;
    /* the calling thread has its BLAS buffer; each new one needs its own */
    double room = limit_bytes - used_bytes(), per = (BLAS_BUFFER_MB + THREAD_ROOM_MB) * 1048576.0;
    int n = 1 + (room > 0 ? (int)(room / per) : 0);
    return n < T ? n : T;
}

static int dt_cap(int n) { return thread_cap > 0 && n > thread_cap ? thread_cap : n; }

int dt_threads(int requested)
{
    int n = requested > 0 ? requested : dt_default_threads();
    return thread_cap > 0 && n > thread_cap ? thread_cap : n;
}

int dt_default_threads(void)
{
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        /* OMP_NUM_THREADS may be a list ("4,2" for nested levels): the first */
        if (end != e && (*end == 0 || *end == ',') && v > 0) return dt_cap(v > 256 ? 256 : (int)v);
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return dt_cap(n > 256 ? 256 : n);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return dt_cap(n > 0 ? (n > 256 ? 256 : (int)n) : 1);
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
    T = dt_room_threads(T); /* under a memory limit, only threads whose BLAS buffer fits */
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
