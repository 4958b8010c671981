/* fft2.h — in-place 2-D discrete Fourier transforms of (h, w) complex
 * arrays (interleaved re, im), rows then columns, with GSL's mixed-radix
 * FFT (any h and w).  The inverse includes the 1/(h w) factor. */
#ifndef DT_FFT2_H
#define DT_FFT2_H

#include <gsl/gsl_fft_complex.h>

typedef struct {
    int h, w;
    gsl_fft_complex_wavetable *wr, *wc;
    gsl_fft_complex_workspace *kr, *kc;
    double *col;    /* (2h) scratch */
} dt_fft2;

int fft2_init(dt_fft2 *f, int h, int w);   /* 0, or -1 (out of memory) */
void fft2_free(dt_fft2 *f);                /* NULL-safe */
void fft2_run(dt_fft2 *f, double *a, int inverse);

#endif
