/* net.h — a CNN described as data: a spec (models/NAME.spec) gives the layers,
 * a weight file (HDF5, one group per layer with `weight` and `bias`) gives
 * the frozen parameters.  The engine runs forward to any set of layers on K
 * lanes (images) and backward from one layer to the input pixels for K
 * upstream gradients at once.  All buffers use the (C, K, H, W) layout of
 * kernels.h.
 *
 * Lifetimes (llama2.c style): dt_net holds the spec, the planned shapes and
 * the frozen weights; dt_state holds the activations of one forward pass;
 * dt_gradws holds the gradient buffers of backward passes.  Each is freed
 * by its own _free. */
#ifndef DT_NET_H
#define DT_NET_H

#include "kernels.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    L_INPUT, L_CONV, L_RELU, L_MAXPOOL, L_AVGPOOL, L_ADAPTAVG, L_LRN, L_CONCAT, L_FC, L_SOFTMAX, L_DROPOUT
} dt_kind;

#define DT_MAXIN 8

typedef struct {
    dt_kind kind;
    char name[96];
    int in[DT_MAXIN], nin;        /* indices of input layers */
    /* spec parameters */
    int out, kh, kw, sh, sw, ph, pw, groups, ceil_mode;
    int lrn_n;
    float alpha, beta, lrn_k;
    int aho, awo;                 /* adaptive pooling output */
    /* planned output shape per lane */
    int c, h, w;
    dt_conv_shape cs;
    dt_pool_shape ps;
    /* frozen weights (conv, fc), owned */
    float *W;                     /* conv (out, c_in/groups, kh, kw); fc (out, c_in*h_in*w_in) */
    float *b;                     /* (out) */
} dt_layer;

typedef struct {
    char name[64];                /* spec's network name */
    char arch[128];               /* weight-file architecture string it serves */
    dt_layer *L;
    int n;
    int H, W;                     /* planned input size (0 before net_plan) */
    int nweights;                 /* layers 0..nweights-1 have their weights loaded */
} dt_net;

/* Names of the specs compiled into the binary (models/NAME.spec), NULL-ended. */
const char *const *net_builtin_names(void);
const char *net_builtin_text(const char *name);
/* Builtin spec serving a weight file's `architecture` attribute, or NULL. */
const char *net_spec_for_arch(const char *arch);

/* Parse a spec; `src` names it in errors. */
int net_parse(dt_net *net, const char *text, const char *src);
void net_free(dt_net *net);                     /* NULL-safe */
int net_find(const dt_net *net, const char *name);
/* Comma-separated layer names (for error messages); caller frees. */
char *net_layer_list(const dt_net *net, int upto);

/* Compute every layer's output shape for an H x W input.  Fails, naming the
 * layer and the smallest workable input, if the input is too small. */
int net_plan(dt_net *net, int H, int W);

/* Load weights from an HDF5 file for every layer up to and including
 * `last` (-1: as many as the file holds, stopping at the first layer whose
 * weights are missing).  Shapes are checked against the spec; NaN/Inf are
 * errors.  Requires net_plan first (fc shapes depend on it). */
int net_load_weights(dt_net *net, const char *path, int last);

/* Mark layer `t` and everything it depends on in need[n]. */
void net_ancestors(const dt_net *net, int t, uint8_t *need);

typedef struct {
    int K;                        /* lanes */
    float **out;                  /* per layer (c, K, h, w), NULL if not computed */
    uint8_t *alias;               /* out[i] points into another layer's buffer */
    int32_t **argmax;             /* max pooling */
    float **aux;                  /* LRN: s^-beta and y/s (2, c, K, h, w) */
    float *scratch;               /* im2col / fc gather, shared by layers */
    size_t nscratch;
    int nthreads;                 /* > 1: split each convolution over threads (set by the caller) */
    uint8_t *need;                /* layers computed (from state_alloc) */
} dt_state;

/* Allocate a forward state for K lanes computing the layers in need[]
 * (NULL: all).  Returns 0 or -1 (out of memory). */
int state_alloc(dt_state *st, const dt_net *net, int K, const uint8_t *need);
void state_free(dt_state *st, const dt_net *net);
/* Forward pass.  in: (3, K, H, W) preprocessed input. */
int net_forward(const dt_net *net, dt_state *st, const float *in);

typedef struct dt_gradws {
    float **g;                    /* per layer gradient (c, K, h, w) */
    size_t *cap;
    float *scratch;
    size_t nscratch;
    int nthreads;                 /* > 1: split lanes (or, for one lane, convolutions) over threads */
    struct dt_gradws *sub;        /* (nthreads) per-thread workspaces for the lane split */
    float *lanebuf;               /* staging for the lane split */
    size_t nlanebuf;
} dt_gradws;

void gradws_init(dt_gradws *ws);
void gradws_free(dt_gradws *ws, const dt_net *net);
/* Input gradients for K upstream gradients at layer t over a forward state
 * of Kf lanes (K a multiple of Kf; lane k uses forward lane k / (K/Kf)).
 * dt: (c_t, K, h_t, w_t); din: (3, K, H, W), overwritten. */
int net_backward(const dt_net *net, const dt_state *st, int t, const float *dt, int K, float *din, dt_gradws *ws);

/* Number of multiply-adds of a forward pass up to layer t per lane. */
double net_macs(const dt_net *net, int t);

#endif
