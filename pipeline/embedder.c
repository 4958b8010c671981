/* embedder.c — see embedder.h. */
#include "embedder.h"
#include "cnnopts.h"
#include "h5io.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define EMB_LANES 8

void embedder_free(embedder *E)
{
    if (!E) return;
    if (E->st.out) state_free(&E->st, &E->net);
    net_free(&E->net);
    preproc_free(&E->pp);
    free(E->need);
    free(E->in);
    free(E->weights);
    free(E->layer_name);
    memset(E, 0, sizeof *E);
}

/* A model in the readouts files whose network is `weights`: its spec,
 * preprocessing and input size reproduce the network the models saw.
 * Returns 1 when found (and filled in), 0 when not, -1 on error. */
static int from_readouts(embedder *E, const char *weights, const char *files)
{
    char *list = dt_strdup(files), *save = NULL;
    if (!list) return -1;
    int found = 0;
    for (char *file = strtok_r(list, ",", &save); file && !found; file = strtok_r(NULL, ",", &save)) {
        hid_t f = h5_open_ro(file);
        if (f < 0) { free(list); return -1; }
        char *names = h5_has_attr(f, "models") ? h5_attr_get_str(f, "models") : NULL, *s2 = NULL;
        for (char *m = names ? strtok_r(names, ",", &s2) : NULL; m && !found; m = strtok_r(NULL, ",", &s2)) {
            char g[600];
            snprintf(g, sizeof g, "/models/%s", m);
            hid_t gid = H5Gopen2(f, g, H5P_DEFAULT);
            if (gid < 0) continue;
            char *w = h5_attr_get_str(gid, "weights");
            if (w && !strcmp(w, weights)) {
                char *spec = h5_attr_get_str(gid, "network_spec");
                int64_t ih = 0, iw = 0;
                h5_attr_get_i64(gid, "input_height", &ih);
                h5_attr_get_i64(gid, "input_width", &iw);
                if (!spec || net_parse(&E->net, spec, m) || preproc_read(&E->pp, weights) ||
                    preproc_read_attrs(&E->pp, &E->geom, gid, file)) {
                    found = -1;
                } else {
                    E->ih = (int)ih;
                    E->iw = (int)iw;
                    found = 1;
                }
                free(spec);
            }
            free(w);
            H5Gclose(gid);
        }
        free(names);
        H5Fclose(f);
    }
    free(list);
    return found;
}

int embedder_open(embedder *E, const char *weights, const char *spec, const char *layer, const char *readouts, int h, int w,
                  int nthreads)
{
    memset(E, 0, sizeof *E);
    int got = 0;
    if (!spec && readouts) got = from_readouts(E, weights, readouts);
    if (got < 0) goto fail;
    if (!got) {
        dt_cnnopts o = {0};
        o.weights = weights;
        o.spec = spec;
        char *text = NULL;
        if (cnn_open(&o, "whole", &E->net, &E->pp, &E->geom, &text)) goto fail;
        free(text);
        preproc_input_size(&E->pp, E->geom, w, h, &E->iw, &E->ih);
    }
    if (net_plan(&E->net, E->ih, E->iw)) { dt_preerr("%s", weights); goto fail; }
    E->layer = net_find(&E->net, layer);
    if (E->layer < 0) {
        char *l = net_layer_list(&E->net, -1);
        dt_seterr("%s: the network has no layer '%s'; its layers: %s", weights, layer, l ? l : "?");
        free(l);
        goto fail;
    }
    if (net_load_weights(&E->net, weights, E->layer)) goto fail;
    E->need = dt_calloc((size_t)E->net.n, 1);
    E->in = dt_malloc((size_t)3 * EMB_LANES * E->ih * E->iw * sizeof(float));
    if (!E->need || !E->in) goto fail;
    net_ancestors(&E->net, E->layer, E->need);
    if (state_alloc(&E->st, &E->net, EMB_LANES, E->need)) { dt_seterr("out of memory for the embedding network"); goto fail; }
    E->st.nthreads = nthreads;
    const dt_layer *l = &E->net.L[E->layer];
    E->P = (size_t)l->c * l->h * l->w;
    E->h = h;
    E->w = w;
    E->weights = dt_strdup(weights);
    E->layer_name = dt_strdup(layer);
    if (!E->weights || !E->layer_name) goto fail;
    return 0;
fail:
    embedder_free(E);
    return -1;
}

int embedder_run(embedder *E, const float *X, size_t n, int c, float *out)
{
    size_t px = (size_t)E->h * E->w * c;
    const dt_layer *l = &E->net.L[E->layer];
    size_t hw = (size_t)l->h * l->w;
    for (size_t a = 0; a < n; a += EMB_LANES) {
        int K = (int)(n - a < EMB_LANES ? n - a : EMB_LANES);
        E->st.K = K;
        for (int k = 0; k < K; k++)
            if (preproc_image(&E->pp, E->geom, X + (a + k) * px, E->w, E->h, c, E->in, K, k)) return -1;
        if (net_forward(&E->net, &E->st, E->in)) return -1;
        const float *o = E->st.out[E->layer];
        for (int k = 0; k < K; k++)
            for (int ch = 0; ch < l->c; ch++)
                memcpy(out + (a + k) * E->P + (size_t)ch * hw, o + ((size_t)ch * K + k) * hw, hw * sizeof(float));
    }
    return 0;
}
