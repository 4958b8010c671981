/* runner.c — see runner.h. */
#include "runner.h"
#include "util.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int runner_init(dt_runner *r, const dt_net *net, const uint8_t *need, int nthreads, int lanes)
{
    memset(r, 0, sizeof *r);
    r->net = net;
    r->nthreads = nthreads;
    r->nworkers = nthreads;
    r->lanes = lanes;
    r->st = dt_calloc((size_t)r->nworkers, sizeof *r->st);
    r->input = dt_calloc((size_t)r->nworkers, sizeof *r->input);
    if (!r->st || !r->input) { runner_free(r); return -1; }
    for (int t = 0; t < r->nworkers; t++) {
        r->input[t] = malloc((size_t)3 * lanes * net->H * net->W * sizeof(float));
        if (!r->input[t] || state_alloc(&r->st[t], net, lanes, need)) {
            runner_free(r);
            return dt_seterr("out of memory for %d workers x %d images", nthreads, lanes);
        }
    }
    return 0;
}

void runner_free(dt_runner *r)
{
    if (!r) return;
    for (int t = 0; r->st && t < r->nworkers; t++) state_free(&r->st[t], r->net);
    for (int t = 0; r->input && t < r->nworkers; t++) free(r->input[t]);
    free(r->st);
    free(r->input);
    memset(r, 0, sizeof *r);
}

typedef struct {
    dt_runner *r;
    int t;
    size_t n;
    size_t *next;               /* shared: next image to hand out */
    pthread_mutex_t *mu;
    runner_prepare prepare;
    runner_collect collect;
    void *ctx;
    int rc;
    char err[512];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    dt_runner *r = j->r;
    int L = r->lanes;
    size_t plane = (size_t)r->net->H * r->net->W;
    for (;;) {
        pthread_mutex_lock(j->mu);
        size_t i0 = *j->next;
        *j->next = i0 + (size_t)L < j->n ? i0 + (size_t)L : j->n;
        pthread_mutex_unlock(j->mu);
        if (i0 >= j->n) break;
        int k, cnt = (int)(j->n - i0 < (size_t)L ? j->n - i0 : (size_t)L);
        float *in = r->input[j->t];
        if (cnt < L) memset(in, 0, (size_t)3 * L * plane * sizeof(float));
        for (k = 0; k < cnt; k++)
            if (j->prepare(j->ctx, i0 + (size_t)k, in, L, k)) goto fail;
        if (net_forward(r->net, &r->st[j->t], in)) goto fail;
        for (k = 0; k < cnt; k++) j->collect(j->ctx, i0 + (size_t)k, &r->st[j->t], k);
    }
    return NULL;
fail:
    j->rc = -1;
    snprintf(j->err, sizeof j->err, "%s", dt_lasterr());
    /* stop the others */
    pthread_mutex_lock(j->mu);
    *j->next = j->n;
    pthread_mutex_unlock(j->mu);
    return NULL;
}

int runner_forward(dt_runner *r, size_t n, runner_prepare prepare, runner_collect collect, void *ctx)
{
    size_t next = 0;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int nw = r->nworkers;
    /* no more workers than lane batches */
    if ((size_t)nw > (n + (size_t)r->lanes - 1) / (size_t)r->lanes) nw = (int)((n + (size_t)r->lanes - 1) / (size_t)r->lanes);
    if (nw < 1) return 0;
    nw = dt_room_threads(nw); /* under a memory limit, only workers whose BLAS buffer fits */
    /* one worker: its convolutions split over the threads (fixed units, so
     * the same results as a worker of its own) */
    for (int t = 0; t < r->nworkers; t++) r->st[t].nthreads = nw > 1 ? 1 : r->nthreads;
    job *jobs = dt_calloc((size_t)nw, sizeof *jobs);
    pthread_t *th = dt_calloc((size_t)nw, sizeof *th);
    char *started = dt_calloc((size_t)nw, 1);
    if (!jobs || !th || !started) { free(jobs); free(th); free(started); return -1; }
    for (int t = 0; t < nw; t++) {
        jobs[t] = (job){r, t, n, &next, &mu, prepare, collect, ctx, 0, ""};
        if (t > 0 && pthread_create(&th[t], NULL, worker, &jobs[t]) == 0) started[t] = 1;
    }
    worker(&jobs[0]); /* the calling thread is worker 0; unstarted workers' share goes to the others */
    for (int t = 1; t < nw; t++)
        if (started[t]) pthread_join(th[t], NULL);
    int rc = 0;
    for (int t = 0; t < nw && !rc; t++)
        if (jobs[t].rc) rc = dt_seterr("%s", jobs[t].err);
    free(jobs);
    free(th);
    free(started);
    return rc;
}
