/* test_metrics.c — Pearson r and R^2 against direct formulas, and the
 * noise-corrected R^2 on simulated neurons whose noise-free responses (so
 * whose explainable variance) are known: the explainable-variance estimate
 * and the corrected SSE must be unbiased; a perfect model must score about
 * 1 while its raw R^2 is capped by the noise, and an imperfect model about
 * its true noise-free R^2 (their ratio has a small bias of its own). */
#include "harness.h"
#include "metrics.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

static void test_score(void)
{
    double y[6] = {1, 2, NAN, 4, 3, 7}, h[6] = {1.5, 2, 100, 3, 3.5, 6};
    double r, r2;
    score_r_r2(y, 1, h, 6, &r, &r2);
    /* by hand over the 5 finite pairs */
    double yy[5] = {1, 2, 4, 3, 7}, hh[5] = {1.5, 2, 3, 3.5, 6}, my = 17 / 5.0, mh = 16 / 5.0, a = 0, b = 0, c = 0, sse = 0;
    for (int i = 0; i < 5; i++) {
        a += (yy[i] - my) * (hh[i] - mh);
        b += (yy[i] - my) * (yy[i] - my);
        c += (hh[i] - mh) * (hh[i] - mh);
        sse += (yy[i] - hh[i]) * (yy[i] - hh[i]);
    }
    CHECK_CLOSE(r, a / sqrt(b * c), 1e-14, 0, "Pearson r");
    CHECK_CLOSE(r2, 1 - sse / b, 1e-14, 0, "R^2");
    double one[2] = {1, NAN};
    score_r_r2(one, 1, h, 2, &r, &r2);
    CHECK(isnan(r) && isnan(r2), "one pair gives NaN");
}

/* N stimuli with noise-free responses mu (fixed), trials with
 * heteroscedastic noise and 2..6 repeats (NaN-padded to 6). */
static void test_noise_corrected(void)
{
    enum { N = 60, R = 6, SIMS = 4000 };
    double mu[N], sd[N], good[N], bad[N], trials[N * R];
    int reps[N];
    for (int i = 0; i < N; i++) {
        mu[i] = 5 + 2 * nrand();
        sd[i] = 1.5 + 2 * urand();
        reps[i] = 2 + i % 5;
        good[i] = mu[i];
        bad[i] = mu[i] + 1.2 * nrand(); /* a fixed model error */
    }
    double m = 0, ev_true = 0, sse_bad = 0;
    for (int i = 0; i < N; i++) m += mu[i] / N;
    for (int i = 0; i < N; i++) {
        ev_true += (mu[i] - m) * (mu[i] - m) / (N - 1);
        sse_bad += (mu[i] - bad[i]) * (mu[i] - bad[i]);
    }
    double r2_bad_true = 1 - sse_bad / (ev_true * (N - 1));
    double s_sse = 0, s_sse2 = 0, s_ev = 0, s_ev2 = 0, s_good = 0, s_good2 = 0, s_bad = 0, s_bad2 = 0, s_raw = 0;
    for (int s = 0; s < SIMS; s++) {
        for (int i = 0; i < N; i++)
            for (int k = 0; k < R; k++) trials[i * R + k] = k < reps[i] ? mu[i] + sd[i] * nrand() : NAN;
        double ev, noise;
        double g = r2_noise_corrected(trials, N, R, R, 1, good, &ev, &noise);
        double b = r2_noise_corrected(trials, N, R, R, 1, bad, NULL, NULL);
        s_ev += ev; s_ev2 += ev * ev;
        /* the corrected SSE, (1 - R2_nc) EV (N - 1): unbiased for the noise-free SSE */
        double e = (1 - b) * ev * (N - 1);
        s_sse += e; s_sse2 += e * e;
        s_good += g; s_good2 += g * g;
        s_bad += b; s_bad2 += b * b;
        /* the raw R^2 of the perfect model against the trial means */
        double means[N], r, r2;
        for (int i = 0; i < N; i++) {
            double t = 0;
            for (int k = 0; k < reps[i]; k++) t += trials[i * R + k];
            means[i] = t / reps[i];
        }
        score_r_r2(means, 1, good, N, &r, &r2);
        s_raw += r2;
    }
    double ev_mean = s_ev / SIMS, ev_se = sqrt((s_ev2 / SIMS - ev_mean * ev_mean) / SIMS);
    double g_mean = s_good / SIMS, g_se = sqrt((s_good2 / SIMS - g_mean * g_mean) / SIMS);
    double b_mean = s_bad / SIMS, b_se = sqrt((s_bad2 / SIMS - b_mean * b_mean) / SIMS);
    double sse_mean = s_sse / SIMS, sse_se = sqrt((s_sse2 / SIMS - sse_mean * sse_mean) / SIMS);
    /* numerator and denominator unbiased: within 4 standard errors of the truth */
    CHECK(fabs(ev_mean - ev_true) < 4 * ev_se, "explainable variance: mean estimate %.4f, truth %.4f (se %.4f)", ev_mean, ev_true, ev_se);
    CHECK(fabs(sse_mean - sse_bad) < 4 * sse_se, "noise-corrected SSE: mean %.4f, truth %.4f (se %.4f)", sse_mean, sse_bad, sse_se);
    /* their ratio is consistent, with a small ratio bias at 60 stimuli */
    CHECK(fabs(g_mean - 1) < 0.03, "perfect model: mean noise-corrected R^2 %.4f (se %.4f), expected 1", g_mean, g_se);
    CHECK(fabs(b_mean - r2_bad_true) < 0.03, "imperfect model: mean %.4f (se %.4f), true noise-free R^2 %.4f", b_mean, b_se,
          r2_bad_true);
    CHECK(s_raw / SIMS < 0.8, "the raw R^2 of a perfect model is capped by the noise (%.3f)", s_raw / SIMS);
    printf("  %d simulated neurons, %d stimuli, 2-6 trials: explainable variance %.4f +- %.4f (truth %.4f), "
           "corrected SSE %.3f +- %.3f (truth %.3f);\n  perfect model R2_nc %.4f +- %.4f (raw R2 %.3f); imperfect model %.4f +- %.4f "
           "(truth %.4f)\n",
           SIMS, N, ev_mean, ev_se, ev_true, sse_mean, sse_se, sse_bad, g_mean, g_se, s_raw / SIMS, b_mean, b_se, r2_bad_true);
    /* degenerate inputs */
    double few[2 * R];
    for (int k = 0; k < 2 * R; k++) few[k] = k;
    CHECK(isnan(r2_noise_corrected(few, 2, R, R, 1, good, NULL, NULL)), "fewer than 3 stimuli: NaN");
}

int main(void)
{
    test_score();
    test_noise_corrected();
    return th_summary("test_metrics");
}
