/* kernels.h — the CNN layer kernels, in float (the engine) and double (the
 * finite-difference tests), generated from one source (kernels.inc).
 *
 * Data layout everywhere: (C, K, H, W), "lanes inside channels".  K lanes are
 * independent images in a forward pass, or independent upstream gradients in
 * a backward pass.  A convolution is a GEMM (Cout x Cin*kh*kw) * (Cin*kh*kw x
 * H*W) per lane, cut into fixed units (kernels.inc) so that no result
 * depends on the number of lanes or threads.
 *
 * Conventions (llm.c style): outputs first, const inputs next, sizes last.
 * Forward kernels overwrite their outputs and save what backward needs in
 * caller-owned buffers (max-pool argmax, LRN scale).  Backward kernels
 * accumulate (+=) into input gradients the caller zeroed; those with an
 * `acc` flag assign instead when it is 0 (the gradient's only writer), which
 * spares a pass that zeroes the buffer out of cache.  Only gradients
 * with respect to the input are computed; weights are frozen.
 *
 * Backward with K gradient lanes over a forward of Kf lanes (Kf divides K):
 * gradient lane k uses forward lane k / (K / Kf). */
#ifndef DT_KERNELS_H
#define DT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int cin, h, w;        /* input */
    int cout, ho, wo;     /* output */
    int kh, kw, sh, sw, ph, pw, groups;
} dt_conv_shape;

typedef struct {
    int c, h, w, ho, wo;
    int kh, kw, sh, sw, ph, pw;
} dt_pool_shape;

/* Output size of a convolution / pooling along one axis; Caffe's ceil rule
 * for pooling drops a last window that would start in the right padding. */
int dt_conv_out(int in, int k, int s, int p);
int dt_pool_out(int in, int k, int s, int p, int ceil_mode);
/* Runs fn(ctx, u, t) for every unit u = 0..n-1 on at most nt threads; t
 * (0 <= t < nt) names the thread, for per-thread scratch.  Which thread runs
 * a unit must never change what the unit computes. */
typedef void (*dt_parfor)(int nt, int n, void (*fn)(void *ctx, int u, int t), void *ctx);


/* the LRN backward's window sums run in blocks of LRN_BLOCK positions (L1) */
#define LRN_BLOCK 512
static inline size_t lrn_backward_scratch(int n, int K, size_t hw) { return (size_t)n * K * hw + LRN_BLOCK; }

#define DT_DECLARE_KERNELS(T, S)                                                                       \
    /* out (cout, K, ho, wo); in (cin, K, h, w); w (cout, cin/groups, kh, kw); b (cout) or NULL.    \
     * Computed in fixed units (one lane, a block of output rows, a block of channels; see         \
     * kernels.inc), so results do not depend on K, on the thread count or on the path taken.     \
     * col: conv_scratch(s, 1) elements serially, conv_scratch(s, nt) on nt threads */              \
    size_t conv_scratch_##S(const dt_conv_shape *s, int nt);                                         \
    void conv_forward_##S(T *out, const T *in, const T *w, const T *b, const dt_conv_shape *s, int K, T *col); \
    void conv_forward_par_##S(T *out, const T *in, const T *w, const T *b, const dt_conv_shape *s, int K, T *col, int nt, \
                              dt_parfor pf);                                                          \
    void conv_backward_par_##S(T *din, const T *dout, const T *w, const dt_conv_shape *s, int K, T *col, int nt, \
                               dt_parfor pf, int acc);                                                \
    void conv_forward_naive_##S(T *out, const T *in, const T *w, const T *b, const dt_conv_shape *s, int K); \
    void conv_backward_##S(T *din, const T *dout, const T *w, const dt_conv_shape *s, int K, T *col, int acc); \
    void conv_backward_naive_##S(T *din, const T *dout, const T *w, const dt_conv_shape *s, int K);   \
    void relu_forward_##S(T *out, const T *in, size_t n);                                            \
    /* out: forward output (c, Kf, hw); acc = 0 assigns din instead of adding */                     \
    void relu_backward_##S(T *din, const T *dout, const T *out, int c, int Kf, int K, size_t hw, int acc); \
    void maxpool_forward_##S(T *out, int32_t *argmax, const T *in, const dt_pool_shape *s, int K);    \
    void maxpool_backward_##S(T *din, const T *dout, const int32_t *argmax, const dt_pool_shape *s, int Kf, int K, int acc); \
    void avgpool_forward_##S(T *out, const T *in, const dt_pool_shape *s, int K);                    \
    void avgpool_backward_##S(T *din, const T *dout, const dt_pool_shape *s, int K);                 \
    /* adaptive average pooling to (ho, wo): bin i spans [floor(i*H/ho), ceil((i+1)*H/ho)) */       \
    void adaptavg_forward_##S(T *out, const T *in, int c, int h, int w, int ho, int wo, int K);      \
    void adaptavg_backward_##S(T *din, const T *dout, int c, int h, int w, int ho, int wo, int K);   \
    /* LRN across channels (Caffe): y = x / (k + alpha/n * sum_window x^2)^beta;                    \
     * aux (2, c, K, hw) saves s^-beta and y/s for backward; relu = 1 also applies the backward    \
     * of the ReLU that produced x */                                                               \
    void lrn_forward_##S(T *out, T *aux, const T *in, int c, int K, size_t hw, int n, T alpha, T beta, T k); \
    /* output channels [cb, ce) only (a thread's share; the windows still see all c) */              \
    void lrn_forward_ch_##S(T *out, T *aux, const T *in, int c, int K, size_t hw, int n, T alpha, T beta, T k, int cb, int ce); \
    /* ring: scratch of lrn_backward_scratch(n, K, hw) elements */                                 \
    void lrn_backward_##S(T *din, const T *dout, const T *in, const T *aux, int c, int Kf, int K, size_t hw, int n, \
                          T alpha, T beta, int acc, int relu, T *ring);                               \
    /* fully connected: in (c, K, hw) flattened per lane in (c, hw) order; w (nout, c*hw);          \
     * out (nout, K); scratch of c*hw + nout elements */                                                  \
    void fc_forward_##S(T *out, const T *in, const T *w, const T *b, int nout, int c, size_t hw, int K, T *scratch); \
    void fc_backward_##S(T *din, const T *dout, const T *w, int nout, int c, size_t hw, int K, T *scratch); \
    /* softmax over channels at each (lane, position) */                                            \
    void softmax_forward_##S(T *out, const T *in, int c, int K, size_t hw);                          \
    void softmax_backward_##S(T *din, const T *dout, const T *out, int c, int Kf, int K, size_t hw);

DT_DECLARE_KERNELS(float, f32)
DT_DECLARE_KERNELS(double, f64)

#endif
