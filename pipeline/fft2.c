/* fft2.c — see fft2.h. */
#include "fft2.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int fft2_init(dt_fft2 *f, int h, int w)
{
    memset(f, 0, sizeof *f);
    f->h = h;
    f->w = w;
    f->wr = gsl_fft_complex_wavetable_alloc((size_t)w);
    f->wc = gsl_fft_complex_wavetable_alloc((size_t)h);
    f->kr = gsl_fft_complex_workspace_alloc((size_t)w);
    f->kc = gsl_fft_complex_workspace_alloc((size_t)h);
    f->col = malloc(2 * (size_t)h * sizeof(double));
    if (!f->wr || !f->wc || !f->kr || !f->kc || !f->col) {
        fft2_free(f);
        return dt_seterr("out of memory for a %d x %d FFT", h, w);
    }
    return 0;
}

void fft2_free(dt_fft2 *f)
{
    if (!f) return;
    if (f->wr) gsl_fft_complex_wavetable_free(f->wr);
    if (f->wc) gsl_fft_complex_wavetable_free(f->wc);
    if (f->kr) gsl_fft_complex_workspace_free(f->kr);
    if (f->kc) gsl_fft_complex_workspace_free(f->kc);
    free(f->col);
    memset(f, 0, sizeof *f);
}

void fft2_run(dt_fft2 *f, double *a, int inverse)
{
    int h = f->h, w = f->w;
    double *col = f->col;
    for (int r = 0; r < h; r++)
        (inverse ? gsl_fft_complex_inverse : gsl_fft_complex_forward)(a + 2 * (size_t)r * w, 1, (size_t)w, f->wr, f->kr);
    for (int q = 0; q < w; q++) {
        for (int r = 0; r < h; r++) { col[2 * r] = a[2 * ((size_t)r * w + q)]; col[2 * r + 1] = a[2 * ((size_t)r * w + q) + 1]; }
        (inverse ? gsl_fft_complex_inverse : gsl_fft_complex_forward)(col, 1, (size_t)h, f->wc, f->kc);
        for (int r = 0; r < h; r++) { a[2 * ((size_t)r * w + q)] = col[2 * r]; a[2 * ((size_t)r * w + q) + 1] = col[2 * r + 1]; }
    }
}
