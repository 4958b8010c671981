/* tuner.h — DeepTune: gradient ascent on the stimulus pixels to maximise a
 * model's predicted response (single-model), or several models' at once
 * (consensus: every pixel moves by the element-wise minimum of the models'
 * absolute gradients, with a sign rule), under image regularisers. */
#ifndef DT_TUNER_H
#define DT_TUNER_H

#include "ensemble.h"

#include <stdint.h>

typedef enum { RULE_MINMOD, RULE_MEAN, RULE_ARGMIN } tune_rule;
typedef enum { INIT_NOISE, INIT_GRAY, INIT_NATURAL } tune_init;

typedef struct {
    int steps;             /* gradient steps [200] */
    double lr, lr_end;     /* step size in pixel units per unit-RMS step, linearly from lr to lr_end [2, 0.2] */
    int inits;             /* initialisations per neuron [3] */
    tune_init init;        /* noise (seeded, around mid-gray), gray, or natural (the best natural stimuli) */
    double init_sd;        /* standard deviation of the initial noise, pixels [24] */
    uint64_t seed;
    tune_rule rule;        /* consensus sign rule [minmod] */
    int single, consensus; /* which runs [both] */
    double tv, tv_beta;    /* total variation weight and exponent [0.1, 2] (image in 0..1 units) */
    double lp, lp_p;       /* l_p penalty on the image around mid-gray [0.05, 6] */
    double blur0, blur1;   /* Gaussian blur sigma (pixels), from blur0 to blur1 over the steps [1, 0.5] */
    int blur_grad;         /* blur the gradient (1, default) or the image (0) */
    int jitter;            /* random roll of up to this many pixels each step [2] */
    int gradnorm;          /* normalise each step's gradient to unit RMS [1] */
    int clip;              /* clip to 0..255 [1] */
    double contrast;       /* > 0: hold the image's standard deviation at this value (pixel units) */
    int gray;              /* one channel, tiled to three for the networks */
    double fourier;        /* > 0: steps in a Fourier parameterisation scaled by 1/f^fourier (the
                              consensus is taken there, coefficient by coefficient) [0: pixels] */
} tune_opts;

void tune_opts_default(tune_opts *o);

/* The consensus of M gradients g (M, n): out (n); agree[i] += 1 where
 * every model's gradient has the same sign (and none is zero). */
/* Gaussian blur of an (h, w, c) image in place, along height and width:
 * weights exp(-i^2 / 2 sigma^2) normalised over |i| <= ceil(3 sigma) (at
 * most 32), borders reflected once (d c b a | a b c d) and the edge pixel
 * repeated beyond that; sigma <= 0.05 leaves x as it is.  tmp: h*w*c floats. */
void tune_blur(float *x, int h, int w, int c, double sigma, float *tmp);
void tune_consensus(const float *g, int M, size_t n, tune_rule rule, float *out, float *agree);
/* The same, split over nthreads threads by blocks of pixels (identical
 * results). */
void tune_consensus_par(const float *g, int M, size_t n, tune_rule rule, float *out, float *agree, int nthreads);

typedef struct {
    int V, K, M, S, h, w, c;   /* variants (M single + 1 consensus, or fewer), inits, models, steps, image */
    int *variant_model;        /* (V): the model a single-model variant optimises, -1 = consensus */
    float *img;                /* (V, K, h, w, c) pixels 0..255 */
    double *pred;              /* (V, K, M) final images' predicted responses under every model */
    double *trace;             /* (V, K, S) objective per step (consensus: mean over models) */
    float *agree;              /* (K, h, w) fraction of steps at which the models agreed (consensus), or NULL */
} tune_result;

void tune_result_free(tune_result *r);

/* Tune neuron j over the models mods[0..M).  natural (K, h, w, c) are the
 * initial images for INIT_NATURAL (else NULL). */
int tune_neuron(dt_ensemble *e, int j, const int *mods, int M, const tune_opts *o, const float *natural, tune_result *r);

/* The regularisers of image x (h, w, c; pixels 0..255): TV = sum over
 * pixels of (dx^2 + dy^2)^(beta/2) on u = x/255 (forward differences), and
 * LP = sum |v|^p with v = (x - 128)/128.  *tv_out and *lp_out (may be NULL)
 * receive the two sums; with d, subtracts tv * dTV/du + lp * dLP/dv from d
 * (the step's descent on them).  Returns tv * TV + lp * LP. */
double tune_penalty(const float *x, int h, int w, int c, const tune_opts *o, double *tv_out, double *lp_out, float *d);

/* Directional central differences against the analytic gradient of the
 * full image -> response function of neuron j, at a random image and
 * direction (seeded): the worst relative error over the models, computed
 * alone (single-model step) and all together (consensus step). */
int tune_gradcheck(dt_ensemble *e, int j, const int *mods, int M, int c, uint64_t seed, double eps, double *worst_single,
                   double *worst_consensus);

/* The Fourier parameterisation of an (h, w, c) image: coefficients
 * z (c, h, w, 2) with x = 128 + Re F^-1(s . z) per channel, s = 1/f^alpha
 * (f the spatial frequency in cycles per image, at least 1).  A pixel
 * gradient g maps to the coefficients' gradient s . F g (fourier_grad, up
 * to the constant of F's normalisation), and a coefficient step dz to the
 * pixel step Re F^-1(s . dz) (fourier_step).  Exposed for the tests. */
typedef struct fourier_param fourier_param;
fourier_param *fourier_alloc(int h, int w, int c, double alpha);
void fourier_free(fourier_param *f);
void fourier_grad(fourier_param *f, const float *g, float *z);
void fourier_step(fourier_param *f, const float *z, float *d);

/* Mean pairwise Pearson correlation of n vectors of length len (rows of x,
 * stride ld). */
double mean_pairwise_corr(const float *x, int n, size_t len, size_t ld);

#endif
