/* metrics.c — see metrics.h.
 *
 * Noise-corrected R^2.  For stimulus i with n_i >= 2 trials, let m_i be the
 * trial mean, s_i^2 the unbiased trial variance and nu_i = s_i^2 / n_i the
 * unbiased estimate of the noise variance of m_i.  Over N such stimuli,
 *   SSE = sum (m_i - yhat_i)^2,   SST = sum (m_i - mean m)^2,   V = sum nu_i.
 * With independent trial noise, E[SSE] = sum (mu_i - yhat_i)^2 + sum var(m_i)
 * and E[SST] = sum (mu_i - mean mu)^2 + (N-1)/N sum var(m_i), mu_i the
 * noise-free responses.  So SSE - V and SST - (N-1)/N V are unbiased
 * estimates of the noise-free SSE and SST; the explainable variance
 *   EV = (SST - (N-1)/N V) / (N - 1)
 * is the signal-power estimator of Sahani & Linden (2003), "How linear are
 * auditory cortical responses?", NIPS 15, generalised to unequal trial
 * counts, and
 *   R^2_nc = 1 - (SSE - V) / (SST - (N-1)/N V)
 * is the fraction of explainable variance explained (FEVE) of Cadena et al.
 * (2019), "Deep convolutional models improve predictions of macaque V1
 * responses to natural images", PLoS Comput Biol 15(4): e1006897.  A
 * perfect model scores 1 in expectation; the uncorrected R^2 of the same
 * model is capped below 1 by the noise. */
#include "metrics.h"

#include <math.h>

void score_r_r2(const double *y, int stride, const double *yhat, int n, double *r, double *r2)
{
    double sy = 0, sh = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(y[(long)i * stride])) { sy += y[(long)i * stride]; sh += yhat[i]; k++; }
    if (k < 2) { *r = *r2 = NAN; return; }
    double my = sy / k, mh = sh / k, cyy = 0, chh = 0, cyh = 0, sse = 0;
    for (int i = 0; i < n; i++) {
        double v = y[(long)i * stride];
        if (isnan(v)) continue;
        cyy += (v - my) * (v - my);
        chh += (yhat[i] - mh) * (yhat[i] - mh);
        cyh += (v - my) * (yhat[i] - mh);
        sse += (v - yhat[i]) * (v - yhat[i]);
    }
    *r = cyy > 0 && chh > 0 ? cyh / sqrt(cyy * chh) : NAN;
    *r2 = cyy > 0 ? 1 - sse / cyy : NAN;
}

double r2_noise_corrected(const double *trials, int n, int R, long tstride, long kstride, const double *yhat, double *ev,
                          double *noise)
{
    double sm = 0, V = 0;
    int N = 0;
    if (ev) *ev = NAN;
    if (noise) *noise = NAN;
    /* first pass: trial means, noise of the means */
    for (int i = 0; i < n; i++) {
        const double *t = trials + (long)i * tstride;
        double s = 0, ss = 0;
        int c = 0;
        for (int k = 0; k < R; k++)
            if (!isnan(t[k * kstride])) { s += t[k * kstride]; c++; }
        if (c < 2) continue;
        double m = s / c;
        for (int k = 0; k < R; k++)
            if (!isnan(t[k * kstride])) ss += (t[k * kstride] - m) * (t[k * kstride] - m);
        V += ss / (c - 1) / c;
        sm += m;
        N++;
    }
    if (N < 3) return NAN;
    double mean = sm / N, sse = 0, sst = 0;
    for (int i = 0; i < n; i++) {
        const double *t = trials + (long)i * tstride;
        double s = 0;
        int c = 0;
        for (int k = 0; k < R; k++)
            if (!isnan(t[k * kstride])) { s += t[k * kstride]; c++; }
        if (c < 2) continue;
        double m = s / c;
        sse += (m - yhat[i]) * (m - yhat[i]);
        sst += (m - mean) * (m - mean);
    }
    double den = sst - (double)(N - 1) / N * V;
    if (ev) *ev = den / (N - 1);
    if (noise) *noise = V / N;
    if (!(den > 0)) return NAN;
    return 1 - (sse - V) / den;
}
