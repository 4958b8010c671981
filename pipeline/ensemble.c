/* ensemble.c — see ensemble.h. */
#include "ensemble.h"
#include "dataset.h"
#include "h5io.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the ends of the messages about a damaged readouts file */
#define REFIT "make the readouts again with deeptune fit"
#define PER_NEURON "one per neuron, as the rows of weights"

static void net_release(ens_net *n)
{
    state_free(&n->st, &n->net);
    gradws_free(&n->ws, &n->net);
    net_free(&n->net);
    preproc_free(&n->pp);
    free(n->weights); free(n->sha); free(n->need); free(n->in); free(n->dt); free(n->din);
    memset(n, 0, sizeof *n);
}

void ensemble_free(dt_ensemble *e)
{
    for (int i = 0; i < e->nnets; i++) net_release(&e->nets[i]);
    for (int i = 0; i < e->nmodels; i++) {
        ens_model *m = &e->models[i];
        free(m->name); free(m->file); free(m->label); free(m->method); free(m->layer_name);
        free(m->W); free(m->Wd); free(m->b); free(m->r_test); free(m->status);
    }
    free(e->nets);
    free(e->models);
    dt_strv_free(e->ids, e->nids);
    free(e->dataset);
    memset(e, 0, sizeof *e);
}

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = q ? q + 1 : NULL;
    }
    return 0;
}

typedef struct {
    char **names;
    int n;
} strlist;

/* A recorded input file must exist and match its sha256.  Files already
 * verified against the same sha256 in this load (ok: "sha256 path") are not
 * read again: the 18 models of an ensemble share 3 weights and 3 features
 * files of up to half a gigabyte each. */
static int check_input(const char *file, const char *model, const char *what, const char *path, const char *sha, strlist *ok)
{
    size_t nk = strlen(sha) + strlen(path) + 2;
    char *key = dt_malloc(nk);
    if (!key) return -1;
    snprintf(key, nk, "%s %s", sha, path);
    for (int i = 0; i < ok->n; i++)
        if (!strcmp(ok->names[i], key)) { free(key); return 0; }
    char hex[65];
    if (access(path, R_OK) != 0) {
        free(key);
        return dt_seterr("%s: model %s: its %s %s cannot be found; put it back at that path", file, model, what, path);
    }
    if (dt_sha256_file(path, hex)) { free(key); return -1; }
    if (strcmp(hex, sha)) {
        free(key);
        return dt_seterr("%s: model %s: its %s %s has changed since the fit (sha256 %.12s..., recorded %.12s...); refit with it", file,
                         model, what, path, hex, sha);
    }
    char **nn = realloc(ok->names, (size_t)(ok->n + 1) * sizeof *nn);
    if (!nn) { free(key); return dt_seterr("out of memory"); }
    ok->names = nn;
    ok->names[ok->n++] = key;
    return 0;
}

static herr_t list_group(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    (void)g; (void)info;
    strlist *l = op;
    char **nn = realloc(l->names, (size_t)(l->n + 1) * sizeof *nn);
    if (!nn) return -1;
    l->names = nn;
    l->names[l->n++] = dt_strdup(name);
    return 0;
}

static int add_model(dt_ensemble *e, const char *file, hid_t f, const char *name, int nfiles, strlist *ok)
{
    int rc = -1;
    char gname[600];
    snprintf(gname, sizeof gname, "/models/%s", name);
    hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
    char *spec = NULL, *weights = NULL, *wsha = NULL, *features = NULL, *fsha = NULL, *layer = NULL, *method = NULL;
    ens_model *m = NULL;
    if (g < 0) return dt_seterr("%s: no model '%s'", file, name);
    spec = h5_attr_get_str(g, "network_spec");
    weights = h5_attr_get_str(g, "weights");
    wsha = h5_attr_get_str(g, "weights_sha256");
    features = h5_attr_get_str(g, "features");
    fsha = h5_attr_get_str(g, "features_sha256");
    layer = h5_attr_get_str(g, "layer");
    method = h5_attr_get_str(g, "method");
    if (!spec || !weights || !wsha || !features || !fsha || !layer || !method) {
        dt_seterr("%s: model %s lacks its provenance attributes; refit it with this version of deeptune fit", file, name);
        goto done;
    }
    double lags[64];
    size_t nl = 0;
    if (h5_has_attr(g, "lags") && h5_attr_get_f64v(g, "lags", 64, lags, &nl) == 0 && (nl > 1 || (nl == 1 && lags[0] != 0))) {
        dt_seterr("%s: model %s reads features of earlier stimuli (time lags); DeepTune needs a model of one image, fit without --lags",
                  file, name);
        goto done;
    }
    if (check_input(file, name, "network weight file", weights, wsha, ok) || check_input(file, name, "features file", features, fsha, ok))
        goto done;
    /* the network: shared with an earlier model of the same weights */
    int ni = -1;
    for (int i = 0; i < e->nnets; i++)
        if (!strcmp(e->nets[i].sha, wsha)) ni = i;
    if (ni < 0) {
        ens_net *nn = realloc(e->nets, (size_t)(e->nnets + 1) * sizeof *nn);
        if (!nn) { dt_seterr("out of memory"); goto done; }
        e->nets = nn;
        ens_net *n = &e->nets[e->nnets];
        memset(n, 0, sizeof *n);
        gradws_init(&n->ws);
        int64_t ih = 0, iw = 0;
        h5_attr_get_i64(g, "input_height", &ih);
        h5_attr_get_i64(g, "input_width", &iw);
        if (net_parse(&n->net, spec, name) || preproc_read(&n->pp, weights) || preproc_read_attrs(&n->pp, &n->geom, g, file) ||
            net_plan(&n->net, (int)ih, (int)iw) || net_load_weights(&n->net, weights, -1)) {
            dt_preerr("%s: model %s", file, name);
            net_release(n);
            goto done;
        }
        n->ih = (int)ih;
        n->iw = (int)iw;
        n->weights = dt_strdup(weights);
        n->sha = dt_strdup(wsha);
        n->need = dt_calloc((size_t)n->net.n, 1);
        n->ws.nthreads = n->st.nthreads = e->nthreads;
        if (!n->weights || !n->sha || !n->need) { net_release(n); goto done; }
        ni = e->nnets++;
    }
    ens_net *n = &e->nets[ni];
    int t = net_find(&n->net, layer);
    if (t < 0 || t >= n->net.nweights) {
        if (t < 0) dt_seterr("%s: model %s: layer %s is not in the recorded network", file, name, layer);
        else dt_seterr("%s: model %s: the weight file %s lacks the weights up to layer %s", file, name, weights, layer);
        goto done;
    }
    net_ancestors(&n->net, t, n->need);
    hsize_t wd[2] = {H5_ANY, H5_ANY};
    if (h5_read_expect(g, "weights", H5T_NATIVE_DOUBLE, 2, wd, "neurons, features", REFIT, NULL)) goto done;
    const dt_layer *l = &n->net.L[t];
    size_t P = (size_t)l->c * l->h * l->w;
    if (wd[1] != P) {
        dt_seterr("%s: model %s has %llu weights per neuron, but layer %s has %zu units", file, name, (unsigned long long)wd[1], layer, P);
        goto done;
    }
    if (e->nmodels && (int)wd[0] != e->m) {
        dt_seterr("%s: model %s has %llu neurons, the models before it %d; combine models of one session", file, name,
                  (unsigned long long)wd[0], e->m);
        goto done;
    }
    ens_model *mm = realloc(e->models, (size_t)(e->nmodels + 1) * sizeof *mm);
    if (!mm) { dt_seterr("out of memory"); goto done; }
    e->models = mm;
    m = &e->models[e->nmodels];
    memset(m, 0, sizeof *m);
    m->m = (int)wd[0];
    m->P = (int)P;
    m->net = ni;
    m->layer = t;
    m->name = dt_strdup(name);
    m->file = dt_strdup(file);
    size_t ll = strlen(file) + strlen(name) + 2;
    m->label = dt_malloc(ll);
    if (m->label) snprintf(m->label, ll, "%s%s%s", nfiles > 1 ? file : "", nfiles > 1 ? ":" : "", name);
    m->method = method;
    m->layer_name = layer;
    method = layer = NULL;
    int64_t bs = 0;
    if (h5_has_attr(g, "bootstrap")) h5_attr_get_i64(g, "bootstrap", &bs);
    m->bootstrap = (int)bs;
    m->Wd = dt_malloc((size_t)m->m * P * sizeof(double));
    m->W = dt_malloc((size_t)m->m * P * sizeof(float));
    m->b = dt_malloc((size_t)m->m * sizeof(double));
    m->r_test = dt_malloc((size_t)m->m * sizeof(double));
    m->status = dt_malloc((size_t)m->m * sizeof(int));
    if (!m->name || !m->file || !m->label || !m->Wd || !m->W || !m->b || !m->r_test || !m->status) goto fail;
    /* every per-neuron dataset must have exactly the weights' rows */
    hsize_t md = wd[0];
    if (h5_read_expect(g, "weights", H5T_NATIVE_DOUBLE, 2, wd, NULL, REFIT, m->Wd) ||
        h5_read_expect(g, "intercepts", H5T_NATIVE_DOUBLE, 1, &md, PER_NEURON, REFIT, m->b) ||
        h5_read_expect(g, "r_test", H5T_NATIVE_DOUBLE, 1, &md, PER_NEURON, REFIT, m->r_test) ||
        h5_read_expect(g, "status", H5T_NATIVE_INT, 1, &md, PER_NEURON, REFIT, m->status))
        goto fail;
    for (size_t i = 0; i < (size_t)m->m * P; i++) m->W[i] = (float)m->Wd[i];
    e->m = m->m;
    e->nmodels++;
    rc = 0;
    goto done;
fail:
    free(m->name); free(m->file); free(m->label); free(m->method); free(m->layer_name);
    free(m->Wd); free(m->W); free(m->b); free(m->r_test); free(m->status);
done:
    H5Gclose(g);
    free(spec); free(weights); free(wsha); free(features); free(fsha); free(layer); free(method);
    return rc;
}

char *ensemble_files_sha256(const char *files)
{
    size_t nf = 1;
    for (const char *p = files; *p; p++) nf += *p == ',';
    char *list = dt_strdup(files), *out = dt_malloc(nf * 65), *save = NULL;
    if (!list || !out) { free(list); free(out); return NULL; }
    out[0] = 0;
    for (char *file = strtok_r(list, ",", &save); file; file = strtok_r(NULL, ",", &save)) {
        char hex[65];
        if (dt_sha256_file(file, hex)) { free(list); free(out); return NULL; }
        if (out[0]) strcat(out, ",");
        strcat(out, hex);
    }
    free(list);
    return out;
}

int ensemble_check_files(const char *tune, const char *files, const char *recorded)
{
    if (!recorded) return 0;
    char *list = dt_strdup(files), *save = NULL;
    if (!list) return -1;
    size_t lr = strlen(recorded), i = 0;
    int rc = 0;
    /* file i against the i-th recorded sha256 */
    for (char *file = strtok_r(list, ",", &save); file && !rc; file = strtok_r(NULL, ",", &save), i++) {
        char hex[65];
        const char *want = 65 * i + 64 <= lr ? recorded + 65 * i : "";
        if (dt_sha256_file(file, hex)) rc = dt_preerr("%s: its readouts", tune);
        else if (strncmp(hex, want, 64))
            rc = dt_seterr("%s: the readouts file %s has changed since the tune run (sha256 %.12s..., recorded %.12s...); "
                           "use the readouts it was made with, or run deeptune tune again", tune, file, hex, want);
    }
    free(list);
    return rc;
}

int ensemble_load(dt_ensemble *e, const char *files, const char *models, int nthreads)
{
    memset(e, 0, sizeof *e);
    e->nthreads = nthreads > 0 ? nthreads : 1;
    char *list = dt_strdup(files), *save = NULL;
    if (!list) return -1;
    int nfiles = 1;
    for (const char *p = files; *p; p++) nfiles += *p == ',';
    int rc = -1;
    strlist ok = {0};
    for (char *file = strtok_r(list, ",", &save); file; file = strtok_r(NULL, ",", &save)) {
        hid_t f = h5_open_ro(file);
        if (f < 0) goto done;
        if (!h5_is_format(f, "deeptune-readouts")) { H5Fclose(f); dt_seterr("%s: not a deeptune readouts file; make one with deeptune fit", file); goto done; }
        if (h5_check_version(f, file, "deeptune-readouts", DT_READOUTS_VERSION)) { H5Fclose(f); goto done; }
        /* the dataset: one for all files */
        char *ds = h5_attr_get_str(f, "dataset"), *dsha = h5_attr_get_str(f, "dataset_sha256");
        int e2 = !ds || !dsha || check_input(file, "(all)", "dataset", ds, dsha, &ok);
        if (!e2 && e->dataset && strcmp(e->dataset, ds))
            e2 = dt_seterr("%s: fitted on dataset %s, but %s was fitted on %s; a consensus needs one session", file, ds, e->models[0].file,
                           e->dataset);
        if (!e2 && !e->dataset) {
            e->dataset = dt_strdup(ds);
            dt_dataset d;
            memset(&d, 0, sizeof d);
            e2 = dataset_read(ds, &d, 0);
            e->h = d.h; e->w = d.w; e->c = d.c;
            dataset_free(&d);
            if (!e2 && h5_exists(f, "neuron_ids")) e->ids = h5_read_strings(f, "neuron_ids", &e->nids);
        }
        free(ds);
        free(dsha);
        if (e2) { H5Fclose(f); goto done; }
        strlist names = {0};
        hid_t g = H5Gopen2(f, "/models", H5P_DEFAULT);
        if (g >= 0) {
            H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, list_group, &names);
            H5Gclose(g);
        }
        int err = 0;
        for (int i = 0; i < names.n && !err; i++) {
            int boot = strchr(names.names[i], '#') != NULL;
            int want = models && strcmp(models, "all") ? in_list(models, names.names[i]) : (!boot || (models && !strcmp(models, "all")));
            if (want) err = add_model(e, file, f, names.names[i], nfiles, &ok);
        }
        dt_strv_free(names.names, (size_t)names.n);
        H5Fclose(f);
        if (err) goto done;
    }
    if (models && strcmp(models, "all")) /* every named model must exist */
        for (const char *p = models; *p;) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            int found = 0;
            for (int i = 0; i < e->nmodels; i++) found |= strlen(e->models[i].name) == len && !strncmp(e->models[i].name, p, len);
            if (!found) { dt_seterr("--models: no model '%.*s' in %s", (int)len, p, files); goto done; }
            p = q ? q + 1 : "";
        }
    if (!e->nmodels) { dt_seterr("%s: no model%s%s found", files, models ? " named " : "", models ? models : ""); goto done; }
    rc = 0;
done:
    free(list);
    dt_strv_free(ok.names, (size_t)ok.n);
    if (rc) ensemble_free(e);
    return rc;
}

int ensemble_worker(const dt_ensemble *e, int nthreads, dt_ensemble *w)
{
    *w = *e;
    w->nthreads = nthreads > 0 ? nthreads : 1;
    w->nets = dt_malloc((size_t)e->nnets * sizeof *w->nets);
    if (!w->nets) return -1;
    for (int i = 0; i < e->nnets; i++) {
        ens_net *n = &w->nets[i];
        *n = e->nets[i];
        memset(&n->st, 0, sizeof n->st);
        n->stK = 0;
        gradws_init(&n->ws);
        n->ws.nthreads = n->st.nthreads = w->nthreads;
        n->in = n->dt = n->din = NULL;
        n->nin = n->ndt = n->ndin = 0;
    }
    return 0;
}

void ensemble_worker_free(dt_ensemble *w)
{
    for (int i = 0; w->nets && i < w->nnets; i++) {
        ens_net *n = &w->nets[i];
        if (n->stK) state_free(&n->st, &n->net);
        gradws_free(&n->ws, &n->net);
        free(n->in); free(n->dt); free(n->din);
    }
    free(w->nets);
    memset(w, 0, sizeof *w);
}

/* Buffers of network n for K forward lanes and KB backward lanes. */
static int net_buffers(ens_net *n, int K, int KB)
{
    if (n->stK < K) {
        state_free(&n->st, &n->net);
        if (state_alloc(&n->st, &n->net, K, n->need)) { n->stK = 0; return dt_seterr("out of memory for %d images", K); }
        n->st.nthreads = n->ws.nthreads;
        n->stK = K;
    }
    size_t nin = (size_t)3 * K * n->ih * n->iw, nd = (size_t)3 * KB * n->ih * n->iw;
    if (n->nin < nin) {
        free(n->in);
        n->in = dt_malloc(nin * sizeof(float));
        n->nin = n->in ? nin : 0;
    }
    if (nd && n->ndin < nd) {   /* none for a forward-only pass */
        free(n->din);
        n->din = dt_malloc(nd * sizeof(float));
        n->ndin = n->din ? nd : 0;
    }
    return n->in && (n->din || !nd) ? 0 : -1;
}

/* Forward images idx[0..K) of X through network n. */
static int forward(dt_ensemble *e, ens_net *n, const float *X, const int *idx, int K, int c, int KB)
{
    if (net_buffers(n, K, KB)) return -1;
    size_t px = (size_t)e->h * e->w * c;
    n->st.K = K;
    for (int k = 0; k < K; k++)
        if (preproc_image(&n->pp, n->geom, X + (size_t)idx[k] * px, e->w, e->h, c, n->in, K, k)) return -1;
    return net_forward(&n->net, &n->st, n->in);
}

/* b + w . a for lane k of the layer's output (c, K, h, w). */
static double readout_lane(const dt_net *net, const ens_model *m, int j, const dt_state *st, int k)
{
    const dt_layer *l = &net->L[m->layer];
    size_t hw = (size_t)l->h * l->w;
    const float *a = st->out[m->layer];
    const double *w = m->Wd + (size_t)j * m->P;
    double s = m->b[j];
    for (int ch = 0; ch < l->c; ch++) {
        const float *ac = a + ((size_t)ch * st->K + k) * hw;
        const double *wc = w + (size_t)ch * hw;
        for (size_t q = 0; q < hw; q++) s += wc[q] * ac[q];
    }
    return s;
}

/* The transposed preprocessing of lanes [a, b) on thread i of parts. */
typedef struct {
    const dt_ensemble *e;
    const ens_net *n;
    int KB, c, parts;
    float **out;
    int rc[64];         /* per part: no two threads write the same slot */
    char err[64][160];
} adj_job;

static void adjoint_part(void *ctx, int i)
{
    adj_job *j = ctx;
    for (int L = j->KB * i / j->parts; L < j->KB * (i + 1) / j->parts; L++)
        if (preproc_image_adjoint(&j->n->pp, j->n->geom, j->n->din, j->KB, L, j->e->w, j->e->h, j->c, j->out[L])) {
            snprintf(j->err[i], sizeof j->err[i], "%s", dt_lasterr());
            j->rc[i] = -1;
            return;
        }
}

/* Upstream gradients: lane L of dt (c, KB, h, w) = the readout of model
 * mods[L]; backward; then each lane's input gradient carried back to the
 * stimulus into out[L] (h, w, c). */
static int backward(dt_ensemble *e, ens_net *n, int layer, const int *mods, int j, int KB, int c, float **out)
{
    const dt_layer *l = &n->net.L[layer];
    size_t hw = (size_t)l->h * l->w, nd = (size_t)l->c * KB * hw;
    if (n->ndt < nd) {
        free(n->dt);
        n->dt = dt_malloc(nd * sizeof(float));
        n->ndt = n->dt ? nd : 0;
        if (!n->dt) return -1;
    }
    for (int L = 0; L < KB; L++) {
        const float *w = e->models[mods[L]].W + (size_t)j * e->models[mods[L]].P;
        for (int ch = 0; ch < l->c; ch++) memcpy(n->dt + ((size_t)ch * KB + L) * hw, w + (size_t)ch * hw, hw * sizeof(float));
    }
    if (net_backward(&n->net, &n->st, layer, n->dt, KB, n->din, &n->ws)) return -1;
    adj_job aj = {.e = e, .n = n, .KB = KB, .c = c, .parts = e->nthreads < KB ? e->nthreads : KB, .out = out};
    if (aj.parts > 64) aj.parts = 64;
    dt_parallel(aj.parts, adjoint_part, &aj);
    for (int i = 0; i < aj.parts; i++)
        if (aj.rc[i]) return dt_seterr("%s", aj.err[i]);
    return 0;
}

int ensemble_eval(dt_ensemble *e, int j, const int *sel, int ns, const float *X, int K, int c, int paired, double *vals,
                  float *grads)
{
    size_t px = (size_t)e->h * e->w * c;
    int rc = -1;
    int *idx = dt_malloc((size_t)(K > ns ? K : ns) * sizeof(int)), *mods = dt_malloc((size_t)K * (ns > 0 ? ns : 1) * sizeof(int));
    float **outp = dt_malloc((size_t)K * (ns > 0 ? ns : 1) * sizeof(float *));
    int *lay = dt_malloc((size_t)(ns > 0 ? ns : 1) * sizeof(int));
    if (!idx || !mods || !outp || !lay) goto done;
    for (int ni = 0; ni < e->nnets; ni++) {
        ens_net *n = &e->nets[ni];
        /* the distinct layers of this network's selected models */
        int nlay = 0;
        for (int s = 0; s < ns; s++) {
            const ens_model *m = &e->models[sel[s]];
            if (m->net != ni) continue;
            int seen = 0;
            for (int q = 0; q < nlay; q++) seen |= lay[q] == m->layer;
            if (!seen) lay[nlay++] = m->layer;
        }
        if (!nlay) continue;
        if (paired) {
            /* one forward and backward per layer group: its images only */
            for (int q = 0; q < nlay; q++) {
                int Kg = 0;
                for (int k = 0; k < K; k++)
                    if (e->models[sel[k]].net == ni && e->models[sel[k]].layer == lay[q]) idx[Kg++] = k;
                if (forward(e, n, X, idx, Kg, c, grads ? Kg : 0)) goto done;
                for (int g = 0; g < Kg; g++) {
                    vals[idx[g]] = readout_lane(&n->net, &e->models[sel[idx[g]]], j, &n->st, g);
                    mods[g] = sel[idx[g]];
                    outp[g] = grads ? grads + (size_t)idx[g] * px : NULL;
                }
                if (grads && backward(e, n, lay[q], mods, j, Kg, c, outp)) goto done;
            }
        } else {
            for (int k = 0; k < K; k++) idx[k] = k;
            int KBmax = 0;
            for (int q = 0; q < nlay; q++) {
                int M = 0;
                for (int s = 0; s < ns; s++) M += e->models[sel[s]].net == ni && e->models[sel[s]].layer == lay[q];
                KBmax = M * K > KBmax ? M * K : KBmax;
            }
            if (forward(e, n, X, idx, K, c, grads ? KBmax : 0)) goto done;
            for (int s = 0; s < ns; s++)
                if (e->models[sel[s]].net == ni)
                    for (int k = 0; k < K; k++) vals[(size_t)k * ns + s] = readout_lane(&n->net, &e->models[sel[s]], j, &n->st, k);
            if (grads)
                for (int q = 0; q < nlay; q++) {
                    int M = 0;
                    for (int k = 0; k < K; k++)
                        for (int s = 0; s < ns; s++)
                            if (e->models[sel[s]].net == ni && e->models[sel[s]].layer == lay[q]) {
                                mods[M] = sel[s];
                                outp[M] = grads + ((size_t)k * ns + s) * px;
                                M++;
                            }
                    if (backward(e, n, lay[q], mods, j, M, c, outp)) goto done;
                }
        }
    }
    rc = 0;
done:
    free(idx); free(mods); free(outp); free(lay);
    return rc;
}

int ensemble_embed(dt_ensemble *e, int ni, int layer, const float *X, int K, int c, float *out)
{
    ens_net *n = &e->nets[ni];
    int *idx = dt_malloc((size_t)K * sizeof(int));
    if (!idx) return -1;
    for (int k = 0; k < K; k++) idx[k] = k;
    int rc = forward(e, n, X, idx, K, c, 0);
    free(idx);
    if (rc) return -1;
    const dt_layer *l = &n->net.L[layer];
    size_t hw = (size_t)l->h * l->w, P = (size_t)l->c * hw;
    for (int k = 0; k < K; k++)
        for (int ch = 0; ch < l->c; ch++)
            memcpy(out + (size_t)k * P + (size_t)ch * hw, n->st.out[layer] + ((size_t)ch * K + k) * hw, hw * sizeof(float));
    return 0;
}
