/* cnnopts.h — the options every stage that runs a CNN shares (weights,
 * spec, preprocessing overrides, threads), and opening the network they
 * describe. */
#ifndef DT_CNNOPTS_H
#define DT_CNNOPTS_H

#include "net.h"
#include "preproc.h"

#include <getopt.h>
#include <stdio.h>

typedef struct {
    const char *weights;       /* HDF5 weight file */
    const char *spec;          /* spec file overriding the builtin one */
    const char *geometry;      /* whole | file | native; NULL = the stage's default */
    int input_size;            /* 0 = the file's */
    const char *mean;          /* "a,b,c" in the network's channel order and units */
    const char *channel_order; /* RGB | BGR */
    const char *pixel_range;   /* 0-255 | 0-1 */
    int threads;
} dt_cnnopts;

/* getopt_long entries (values 200..) for the shared options */
#define CNN_LONGOPTS                                                                            \
    {"weights", required_argument, 0, 200}, {"spec", required_argument, 0, 201},                \
    {"geometry", required_argument, 0, 202}, {"input-size", required_argument, 0, 203},         \
    {"mean", required_argument, 0, 204}, {"channel-order", required_argument, 0, 205},          \
    {"pixel-range", required_argument, 0, 206}, {"threads", required_argument, 0, 207}

/* Handle option c (>= 200); returns 0, or -1 after printing an error. */
int cnnopts_set(dt_cnnopts *o, int c, const char *arg);
void cnnopts_usage(FILE *fp, const dt_cnnopts *defaults, const char *default_geometry);

/* Parse the spec (builtin from the weight file's `architecture`, or
 * --spec), read the preprocessing and apply the overrides.  Does not plan
 * or load weights.  *spec_text receives the spec's text (caller frees). */
int cnn_open(const dt_cnnopts *o, const char *default_geometry, dt_net *net, dt_preproc *pp, dt_geom *geom,
             char **spec_text);

/* The number of threads to use: --threads, else the online CPUs. */
int cnn_threads(const dt_cnnopts *o);

#endif
