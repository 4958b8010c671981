/* runner.h — run many images through a network on worker threads.  Each
 * worker owns a forward state of `lanes` lanes; images are handed out a
 * lane-batch at a time.  Workers run BLAS single-threaded; with one worker,
 * BLAS gets all the threads instead.
 *
 * The caller's prepare() writes image i into a lane of the worker's input
 * and collect() reads image i's results from the worker's state; both run on
 * worker threads and must only touch image i's own memory. */
#ifndef DT_RUNNER_H
#define DT_RUNNER_H

#include "net.h"

#include <stddef.h>

typedef int (*runner_prepare)(void *ctx, size_t i, float *input, int K, int k);
typedef void (*runner_collect)(void *ctx, size_t i, const dt_state *st, int k);

typedef struct {
    const dt_net *net;
    int nworkers, lanes, nthreads;
    dt_state *st;       /* (nworkers) */
    float **input;      /* (nworkers) each (3, lanes, H, W) */
} dt_runner;

/* need: layers to compute (NULL: all).  nthreads >= 1. */
int runner_init(dt_runner *r, const dt_net *net, const uint8_t *need, int nthreads, int lanes);
void runner_free(dt_runner *r);
/* Forward images 0..n-1.  Returns 0, or -1 with the first worker's error. */
int runner_forward(dt_runner *r, size_t n, runner_prepare prepare, runner_collect collect, void *ctx);

#endif
