/* cnnopts.c — see cnnopts.h. */
#include "cnnopts.h"
#include "h5io.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cnnopts_set(dt_cnnopts *o, int c, const char *arg)
{
    switch (c) {
    case 200: o->weights = arg; return 0;
    case 201: o->spec = arg; return 0;
    case 202:
        if (strcmp(arg, "whole") && strcmp(arg, "file") && strcmp(arg, "native")) {
            fprintf(stderr, "error: --geometry %s: use whole, file or native\n", arg);
            return -1;
        }
        o->geometry = arg;
        return 0;
    case 203:
        if (dt_arg_int("--input-size", arg, &o->input_size)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return -1; }
        if (o->input_size < 1) { fprintf(stderr, "error: --input-size %s: expected a positive integer\n", arg); return -1; }
        return 0;
    case 204: {
        float a, b, d;
        char extra;
        if (sscanf(arg, "%f,%f,%f%c", &a, &b, &d, &extra) != 3) {
            fprintf(stderr, "error: --mean %s: expected three numbers, e.g. --mean 104,117,123\n", arg);
            return -1;
        }
        o->mean = arg;
        return 0;
    }
    case 205:
        if (strcmp(arg, "RGB") && strcmp(arg, "BGR")) { fprintf(stderr, "error: --channel-order %s: use RGB or BGR\n", arg); return -1; }
        o->channel_order = arg;
        return 0;
    case 206:
        if (strcmp(arg, "0-255") && strcmp(arg, "0-1")) { fprintf(stderr, "error: --pixel-range %s: use 0-255 or 0-1\n", arg); return -1; }
        o->pixel_range = arg;
        return 0;
    case 207:
        if (dt_arg_int("--threads", arg, &o->threads)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return -1; }
        if (o->threads < 1 || o->threads > 256) { fprintf(stderr, "error: --threads %s: expected 1..256\n", arg); return -1; }
        return 0;
    }
    return -1;
}

void cnnopts_usage(FILE *fp, const dt_cnnopts *d, const char *geom)
{
    fprintf(fp,
            "network:\n"
            "      --weights W.h5       network weights (HDF5, layout of ../shared/data/weights)\n"
            "      --spec FILE          network spec; default: the builtin spec for the file's\n"
            "                           'architecture' (builtin: ");
    for (const char *const *n = net_builtin_names(); *n; n++) fprintf(fp, "%s%s", *n, n[1] ? ", " : ")\n");
    fprintf(fp,
            "      --geometry G         whole: resize the whole stimulus to the input size;\n"
            "                           file: the weight file's 'preprocess' (e.g. resize the\n"
            "                           shorter side, centre crop); native: no resizing [%s]\n"
            "      --input-size N       override the file's input_size\n"
            "      --mean A,B,C         override the mean (network channel order and units)\n"
            "      --channel-order RGB|BGR, --pixel-range 0-255|0-1   override the file's\n"
            "      --threads N          worker threads [%s]\n",
            geom, d->threads ? "" : "all CPUs");
}

int cnn_threads(const dt_cnnopts *o)
{
    return dt_threads(o->threads);
}

int cnn_open(const dt_cnnopts *o, const char *default_geometry, dt_net *net, dt_preproc *pp, dt_geom *geom, char **spec_text)
{
    *spec_text = NULL;
    if (!o->weights) return dt_seterr("no --weights given");
    if (preproc_read(pp, o->weights)) return -1;
    char *text = NULL;
    const char *src;
    if (o->spec) {
        uint8_t *buf;
        size_t n;
        if (dt_read_file(o->spec, &buf, &n)) goto fail;
        /* the parser reads up to the first NUL, which would drop the layers after it */
        if (memchr(buf, 0, n)) {
            free(buf);
            dt_seterr("%s: holds a NUL byte, so it is not a network spec (a text file)", o->spec);
            goto fail;
        }
        text = dt_malloc(n + 1);
        if (!text) { free(buf); goto fail; }
        memcpy(text, buf, n);
        text[n] = 0;
        free(buf);
        src = o->spec;
    } else {
        hid_t f = h5_open_ro(o->weights);
        if (f < 0) goto fail;
        char *arch = h5_has_attr(f, "architecture") ? h5_attr_get_str(f, "architecture") : NULL;
        H5Fclose(f);
        if (!arch) { dt_seterr("%s: no 'architecture' attribute; pass --spec FILE", o->weights); goto fail; }
        const char *name = net_spec_for_arch(arch);
        if (!name) {
            dt_seterr("%s: no builtin spec for architecture '%s'; pass --spec FILE", o->weights, arch);
            free(arch);
            goto fail;
        }
        free(arch);
        text = dt_strdup(net_builtin_text(name));
        src = name;
    }
    if (!text || net_parse(net, text, src)) goto fail;
    if (o->input_size) pp->size = o->input_size;
    if (o->channel_order) pp->bgr = !strcmp(o->channel_order, "BGR");
    if (o->pixel_range) pp->scale = !strcmp(o->pixel_range, "0-1") ? 1.0f / 255 : 1;
    if (o->mean) {
        sscanf(o->mean, "%f,%f,%f", &pp->mean[0], &pp->mean[1], &pp->mean[2]);
        free(pp->mean_image);
        pp->mean_image = NULL;
    }
    const char *g = o->geometry ? o->geometry : default_geometry;
    if (!strcmp(g, "whole")) *geom = GEOM_WHOLE;
    else if (!strcmp(g, "native")) *geom = GEOM_NATIVE;
    else *geom = pp->file_geom;
    *spec_text = text;
    return 0;
fail:
    free(text);
    preproc_free(pp);
    return -1;
}
