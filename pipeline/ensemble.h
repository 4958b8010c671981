/* ensemble.h — a set of fitted models (network + layer + readout) read from
 * one or several readouts files, as full image -> response functions with
 * their gradients with respect to the stimulus pixels.  Models that share a
 * network share its weights and one forward pass per evaluation; models at
 * the same layer share one batched backward (net_backward's K lanes).
 *
 * Every model is checked against what it was fitted with: the network
 * weight file, the features file and the dataset must exist and match their
 * recorded sha256, and all models must have been fitted at one stimulus
 * size. */
#ifndef DT_ENSEMBLE_H
#define DT_ENSEMBLE_H

#include "net.h"
#include "preproc.h"

typedef struct {
    dt_net net;
    dt_preproc pp;
    dt_geom geom;
    int ih, iw;                 /* network input */
    char *weights, *sha;        /* weight file and its sha256 */
    uint8_t *need;              /* layers its models need */
    dt_state st;
    int stK;                    /* lanes st was allocated for */
    dt_gradws ws;
    float *in, *dt, *din;       /* input (3, K, ih, iw), upstream and input gradients */
    size_t nin, ndt, ndin;
} ens_net;

typedef struct {
    char *name, *file;          /* model name, readouts file */
    char *label;                /* name, prefixed with the file when several files are given */
    char *method, *layer_name;
    int net, layer;             /* index into nets; layer index in that net */
    int P, m, bootstrap;
    float *W;                   /* (m, P) */
    double *Wd, *b, *r_test;    /* (m, P), (m), (m) */
    int *status;                /* (m) */
} ens_model;

typedef struct {
    ens_net *nets;
    int nnets;
    ens_model *models;
    int nmodels;
    int m;                      /* neurons */
    char **ids;                 /* (m) neuron ids, or NULL */
    size_t nids;
    char *dataset;              /* the dataset the models were fitted on */
    int h, w, c;                /* its stimulus size (c = its channels) */
    int nthreads;
} dt_ensemble;

/* files: comma-separated readouts files; models: comma-separated model
 * names (or NULL: every model that is not a bootstrap refit; "all": every
 * model).  Errors name the file, the model and the fix. */
int ensemble_load(dt_ensemble *e, const char *files, const char *models, int nthreads);
void ensemble_free(dt_ensemble *e);

/* The sha256 of each of the comma-separated readouts files, comma-separated
 * (malloc'd), which a tune file records as readouts_sha256. */
char *ensemble_files_sha256(const char *files);
/* The readouts files a tune file names must still be the ones it was made
 * from: their sha256 against `recorded` (NULL, from an older tune file: not
 * checked).  The error names the tune file, the readouts file and the fix. */
int ensemble_check_files(const char *tune, const char *files, const char *recorded);

/* A worker's view of e, for running neurons on threads: the same networks
 * (weights, preprocessing) and models, read-only, with its own activation
 * and gradient buffers and `nthreads` threads inside each step.  e must
 * outlive it; free it with ensemble_worker_free (not ensemble_free). */
int ensemble_worker(const dt_ensemble *e, int nthreads, dt_ensemble *w);
void ensemble_worker_free(dt_ensemble *w);

/* Predicted responses of neuron j for K images X (K, h, w, c) in 0..255
 * (c = e->c, or 1: a gray image given to every network as three equal
 * channels).
 *   paired = 0: under every model sel[0..ns): vals (K, ns); with grads,
 *               the gradients (K, ns, h, w, c).
 *   paired = 1: image k under model sel[k] only (ns = K): vals (K); grads
 *               (K, h, w, c). */
int ensemble_eval(dt_ensemble *e, int j, const int *sel, int ns, const float *X, int K, int c, int paired, double *vals,
                  float *grads);

/* Activations of layer `layer` of network n for K images: out (K, units). */
int ensemble_embed(dt_ensemble *e, int n, int layer, const float *X, int K, int c, float *out);

#endif
