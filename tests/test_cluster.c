/* test_cluster.c — hierarchical clustering against SciPy (fixtures by
 * scripts/make-cluster-fixtures.py): distances, linkage matrices for every
 * method, cophenetic correlation, leaf order, cuts, adjusted Rand (against
 * scikit-learn); planted groups; stability statistics on a case with a
 * known answer; bad input. */
#include "harness.h"
#include "h5io.h"
#include "hclust.h"
#include "util.h"

#include <string.h>

static const char *FIX = "tests/fixtures/cluster/scipy.h5";

static void *rd(hid_t f, const char *path, hid_t type, size_t es, size_t *count)
{
    int rank;
    hsize_t d[4];
    if (h5_shape(f, path, &rank, d, NULL, NULL)) return NULL;
    size_t c = 1;
    for (int i = 0; i < rank; i++) c *= (size_t)d[i];
    void *p = malloc((c ? c : 1) * es);
    if (p && h5_read(f, path, type, p)) { free(p); return NULL; }
    if (count) *count = c;
    return p;
}

/* Relabel by first appearance so partitions compare as arrays. */
static void canon(const int *in, int *out, size_t n)
{
    int map[4096];
    for (int i = 0; i < 4096; i++) map[i] = -1;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (map[in[i]] < 0) map[in[i]] = k++;
        out[i] = map[in[i]];
    }
}

static void test_scipy_case(hid_t f, const char *cs)
{
    char p[256];
    snprintf(p, sizeof p, "/%s/X", cs);
    int rank;
    hsize_t dims[4];
    CHECK(h5_shape(f, p, &rank, dims, NULL, NULL) == 0, "%s", p);
    size_t n = (size_t)dims[0], d = (size_t)dims[1], N = n * (n - 1) / 2;
    float *X = rd(f, p, H5T_NATIVE_FLOAT, sizeof(float), NULL);
    const char *metrics[] = {"euclidean", "cosine", "correlation"}, *methods[] = {"single", "complete", "average", "ward"};
    double *D = malloc(N * sizeof *D), *W = malloc(N * sizeof *W), *Z = malloc(4 * (n - 1) * sizeof *Z), *coph = malloc(N * sizeof *coph);
    int *lab = malloc(n * sizeof *lab), *ca = malloc(n * sizeof *ca), *cb = malloc(n * sizeof *cb), *leaves = malloc(n * sizeof *leaves);
    for (int mt = 0; mt < 3; mt++) {
        snprintf(p, sizeof p, "/%s/%s/pdist", cs, metrics[mt]);
        double *ref = rd(f, p, H5T_NATIVE_DOUBLE, sizeof(double), NULL);
        CHECK(ref != NULL, "%s", p);
        if (!ref) continue;
        /* distances: double precision through DGEMM, to rounding (the
         * Gram form loses about eps * |x|^2 / d^2 relative; these spreads
         * are modest); single precision to float rounding of the Gram */
        double worst2 = 0, worst1 = 0, dmax = 0;
        CHECK(hc_pdist(X, n, d, mt, 2, D) == 0, "pdist %s: %s", metrics[mt], dt_lasterr());
        for (size_t i = 0; i < N; i++) {
            worst2 = fmax(worst2, fabs(D[i] - ref[i]) / fmax(ref[i], 1e-300));
            dmax = fmax(dmax, ref[i]);
        }
        CHECK(worst2 < 1e-10, "%s %s pdist (double): worst relative error %.3g", cs, metrics[mt], worst2);
        CHECK(hc_pdist(X, n, d, mt, 1, W) == 0, "pdist single: %s", dt_lasterr());
        for (size_t i = 0; i < N; i++) worst1 = fmax(worst1, fabs(W[i] - ref[i]) / dmax);
        CHECK(worst1 < 1e-5, "%s %s pdist (single): worst error %.3g of the largest distance", cs, metrics[mt], worst1);
        for (int me = 0; me < 4; me++) {
            if (me == HC_WARD && mt != HC_EUCLIDEAN) continue;
            char g[200];
            snprintf(g, sizeof g, "/%s/%s/%s", cs, metrics[mt], methods[me]);
            snprintf(p, sizeof p, "%s/Z", g);
            double *Zr = rd(f, p, H5T_NATIVE_DOUBLE, sizeof(double), NULL);
            snprintf(p, sizeof p, "%s/coph", g);
            double *cr = rd(f, p, H5T_NATIVE_DOUBLE, sizeof(double), NULL);
            snprintf(p, sizeof p, "%s/leaves", g);
            int *lr = rd(f, p, H5T_NATIVE_INT, sizeof(int), NULL);
            snprintf(p, sizeof p, "%s/cut", g);
            int *cut = rd(f, p, H5T_NATIVE_INT, sizeof(int), NULL);
            snprintf(p, sizeof p, "%s/coph_corr", g);
            double cc_ref = NAN;
            h5_read(f, p, H5T_NATIVE_DOUBLE, &cc_ref);
            CHECK(Zr && cr && lr && cut, "%s: fixture incomplete", g);
            if (!Zr || !cr || !lr || !cut) { free(Zr); free(cr); free(lr); free(cut); continue; }
            /* on SciPy's own distances: the same merges, heights to 1e-12
             * (Lance-Williams in the same order of operations) */
            for (int pass = 0; pass < 2; pass++) {
                if (pass == 0) memcpy(W, ref, N * sizeof *W);
                else hc_pdist(X, n, d, mt, 2, W);
                CHECK(hc_linkage(W, n, me, Z) == 0, "%s: %s", g, dt_lasterr());
                int same = 1;
                double hw = 0;
                for (size_t r = 0; r + 1 < n; r++) {
                    same &= Z[4 * r] == Zr[4 * r] && Z[4 * r + 1] == Zr[4 * r + 1] && Z[4 * r + 3] == Zr[4 * r + 3];
                    hw = fmax(hw, fabs(Z[4 * r + 2] - Zr[4 * r + 2]) / Zr[4 * r + 2]);
                }
                CHECK(same, "%s (%s distances): merges differ from SciPy's", g, pass ? "our" : "SciPy's");
                CHECK(hw < (pass ? 1e-9 : 1e-12), "%s (%s distances): heights differ by %.3g", g, pass ? "our" : "SciPy's", hw);
            }
            double cc = NAN;
            CHECK(hc_cophenetic(Z, n, ref, coph, &cc) == 0, "%s cophenetic: %s", g, dt_lasterr());
            CHECK_CLOSE(cc, cc_ref, 1e-12, 0, "cophenetic correlation");
            double cw = 0;
            for (size_t i = 0; i < N; i++) cw = fmax(cw, fabs(coph[i] - cr[i]));
            CHECK(cw < 1e-9, "%s: cophenetic distances differ by %.3g", g, cw);
            CHECK(hc_leaves(Z, n, leaves) == 0, "leaves");
            CHECK(memcmp(leaves, lr, n * sizeof(int)) == 0, "%s: leaf order differs from leaves_list", g);
            for (int k = 2; k <= 6; k++) {
                CHECK(hc_cut_k(Z, n, k, lab) == 0, "cut");
                canon(lab, ca, n);
                canon(cut + (size_t)(k - 2) * n, cb, n);
                CHECK(memcmp(ca, cb, n * sizeof(int)) == 0, "%s: cut at k=%d differs from cut_tree", g, k);
                /* a height between the (n-k)-th and the next merge gives the same k clusters */
                double h = (Z[4 * (n - k - 1) + 2] + Z[4 * (n - k) + 2]) / 2;
                int kk = hc_cut_height(Z, n, h, lab);
                canon(lab, cb, n);
                CHECK(kk == k && memcmp(ca, cb, n * sizeof(int)) == 0, "%s: cut at height %g gives %d clusters, not the k=%d cut", g, h, kk, k);
            }
            free(Zr); free(cr); free(lr); free(cut);
        }
        free(ref);
    }
    free(X); free(D); free(W); free(Z); free(coph); free(lab); free(ca); free(cb); free(leaves);
}

static void test_ari(hid_t f)
{
    size_t c;
    int *a = rd(f, "/ari/a", H5T_NATIVE_INT, sizeof(int), &c), *b = rd(f, "/ari/b", H5T_NATIVE_INT, sizeof(int), NULL);
    double *v = rd(f, "/ari/value", H5T_NATIVE_DOUBLE, sizeof(double), NULL);
    CHECK(a && b && v, "ari fixture");
    if (a && b && v) {
        size_t n = c / 10;
        for (int i = 0; i < 10; i++) CHECK_CLOSE(hc_ari(a + i * n, b + i * n, n), v[i], 1e-12, 0, "ARI against sklearn");
        CHECK_CLOSE(hc_ari(a, a, n), 1, 1e-15, 0, "ARI of a labelling with itself");
    }
    free(a); free(b); free(v);
}

/* Five groups of 30 points around well-separated centres in 40 dims, with
 * noise: every linkage recovers them (ARI >= 0.9) at k = 5. */
static void test_planted(void)
{
    size_t n = 150, d = 40, G = 5;
    float *X = malloc(n * d * sizeof *X);
    int *truth = malloc(n * sizeof *truth), *lab = malloc(n * sizeof *lab);
    double *D = malloc(n * (n - 1) / 2 * sizeof *D), *Z = malloc(4 * (n - 1) * sizeof *Z);
    uint64_t s = 42;
    float centre[5][40];
    for (size_t g = 0; g < G; g++)
        for (size_t q = 0; q < d; q++) centre[g][q] = (float)(6 * (dt_unif(&s) - 0.5));
    for (size_t i = 0; i < n; i++) {
        /* interleaved, so the order gives nothing away */
        truth[i] = (int)((i * 7) % G);
        for (size_t q = 0; q < d; q++) {
            double u1 = dt_unif(&s), u2 = dt_unif(&s);
            X[i * d + q] = centre[truth[i]][q] + (float)(0.5 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    for (int mt = 0; mt < 3; mt++)
        for (int me = 0; me < 4; me++) {
            if (me == HC_WARD && mt != HC_EUCLIDEAN) continue;
            CHECK(hc_pdist(X, n, d, mt, 1, D) == 0 && hc_linkage(D, n, me, Z) == 0 && hc_cut_k(Z, n, 5, lab) == 0, "planted: %s",
                  dt_lasterr());
            double ari = hc_ari(truth, lab, n);
            CHECK(ari >= 0.9, "planted groups, %s %s: ARI %.3f", hc_metric_name(mt), hc_method_name(me), ari);
        }
    free(X); free(truth); free(lab); free(D); free(Z);
}

/* Reference: A = {0..9}, B = {10..19}.  Perturbation 0 keeps both; 1 and
 * 2 split B in halves ({10..14}, {15..19}), 1 also moves nothing of A.
 * Jaccard: A 1 in all three -> 1; B 1, 0.5, 0.5 -> 2/3.  Co-assignment of
 * 10 and 19: 1/3; of 10 and 11: 1; of 0 and 10: 0.  ARI of perturbation 1
 * against the reference, by hand: pairs together in both: 45 + 2*10 = 65;
 * reference 90 pairs, perturbation 65 pairs, 190 in all; expected
 * 90*65/190; ARI = (65 - 30.789...)/((90 + 65)/2 - 30.789...). */
static void test_stability(void)
{
    size_t n = 20;
    int ref[20], p0[20], p1[20], p2[20];
    for (size_t i = 0; i < n; i++) {
        ref[i] = p0[i] = i < 10 ? 0 : 1;
        p1[i] = p2[i] = i < 10 ? 0 : i < 15 ? 1 : 2;
    }
    const int *P[3] = {p0, p1, p2};
    double jac[6], mean[2];
    CHECK(hc_jaccard(ref, 2, P, 3, n, jac, mean) == 0, "jaccard: %s", dt_lasterr());
    CHECK_CLOSE(mean[0], 1, 1e-15, 0, "Jaccard of the stable cluster");
    CHECK_CLOSE(mean[1], 2.0 / 3, 1e-15, 0, "Jaccard of the cluster that splits");
    CHECK_CLOSE(jac[1 * 2 + 1], 0.5, 1e-15, 0, "Jaccard of the split cluster in one perturbation");
    float co[400];
    hc_coassign(P, 3, n, co);
    CHECK_CLOSE(co[10 * 20 + 19], 1.0 / 3, 1e-7, 0, "co-assignment across the split");
    CHECK_CLOSE(co[10 * 20 + 11], 1, 0, 0, "co-assignment within a half");
    CHECK_CLOSE(co[0 * 20 + 10], 0, 0, 0, "co-assignment across clusters");
    double e = 90.0 * 65 / 190;
    CHECK_CLOSE(hc_ari(ref, p1, n), (65 - e) / ((90 + 65) / 2.0 - e), 1e-14, 0, "ARI by hand");
    CHECK_CLOSE(hc_ari(ref, p0, n), 1, 1e-15, 0, "ARI of an identical clustering");
}

static void test_bad(void)
{
    float X[12] = {1, 2, 3, 4, 5, 5, 5, 5, 0, 1, 0, 1};
    double D[3];
    CHECK(hc_pdist(X, 3, 4, HC_CORRELATION, 1, D) != 0 && strstr(dt_lasterr(), "row 1"), "zero variance row named: %s", dt_lasterr());
    X[9] = NAN;
    CHECK(hc_pdist(X, 3, 4, HC_EUCLIDEAN, 1, D) != 0 && strstr(dt_lasterr(), "row 2"), "NaN row named: %s", dt_lasterr());
    double Dd[3] = {1, NAN, 2}, Z[8];
    CHECK(hc_linkage(Dd, 3, HC_AVERAGE, Z) != 0, "NaN distance refused");
    int lab[3];
    double Zok[8] = {0, 1, 1, 2, 2, 3, 2, 3};
    CHECK(hc_cut_k(Zok, 3, 4, lab) != 0, "k > n refused");
    CHECK(hc_cut_k(Zok, 3, 3, lab) == 0 && lab[0] != lab[1], "k = n: singletons");
}

int main(void)
{
    hid_t f = h5_open_ro(FIX);
    CHECK(f >= 0, "%s: %s", FIX, dt_lasterr());
    if (f >= 0) {
        test_scipy_case(f, "small");
        test_scipy_case(f, "medium");
        test_ari(f);
        H5Fclose(f);
    }
    test_planted();
    test_stability();
    test_bad();
    return th_summary("test_cluster");
}
