/* embedder.h — images through a network to one layer, flattened: the CNN
 * feature space in which DeepTune images are compared and clustered.
 *
 * The network is the one a readouts file recorded when one of its models
 * was fitted on these weights (the same spec, preprocessing and input
 * size), else the weight file's builtin spec with its own preprocessing
 * (or --spec). */
#ifndef DT_EMBEDDER_H
#define DT_EMBEDDER_H

#include "net.h"
#include "preproc.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    dt_net net;
    dt_preproc pp;
    dt_geom geom;
    int ih, iw;           /* network input */
    int h, w;             /* image size */
    int layer;
    size_t P;             /* units of the layer */
    uint8_t *need;
    dt_state st;
    float *in;            /* (3, lanes, ih, iw) */
    char *weights, *layer_name;
} embedder;

/* readouts: comma-separated readouts files to take the network from (may be
 * NULL); spec: a spec file (may be NULL).  Errors name the file and, for an
 * unknown layer, list the network's layers. */
int embedder_open(embedder *E, const char *weights, const char *spec, const char *layer, const char *readouts, int h, int w,
                  int nthreads);
void embedder_free(embedder *E);   /* NULL-safe */

/* n images X (n, h, w, c) in 0..255 (c = 1: gray, tiled) -> out (n, P). */
int embedder_run(embedder *E, const float *X, size_t n, int c, float *out);

#endif
