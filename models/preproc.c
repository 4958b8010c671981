/* preproc.c — see preproc.h. */
#include "preproc.h"
#include "h5io.h"
#include "image.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void preproc_free(dt_preproc *p)
{
    if (!p) return;
    free(p->mean_image);
    p->mean_image = NULL;
}

int preproc_read(dt_preproc *p, const char *path)
{
    memset(p, 0, sizeof *p);
    p->scale = 1;
    p->std[0] = p->std[1] = p->std[2] = 1;
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1;
    char *order = NULL, *range = NULL, *pre = NULL;
    int64_t size;
    if (h5_attr_get_i64(f, "input_size", &size) || size < 1) {
        dt_seterr("%s: no 'input_size' attribute; is this a deeptune weight file? (override with --input-size)", path);
        goto done;
    }
    p->size = (int)size;
    order = h5_has_attr(f, "channel_order") ? h5_attr_get_str(f, "channel_order") : dt_strdup("RGB");
    range = h5_has_attr(f, "pixel_range") ? h5_attr_get_str(f, "pixel_range") : dt_strdup("0-255");
    if (!order || !range) goto done;
    if (!strcmp(order, "BGR")) p->bgr = 1;
    else if (strcmp(order, "RGB")) { dt_seterr("%s: channel_order '%s' is neither RGB nor BGR", path, order); goto done; }
    if (!strcmp(range, "0-1")) p->scale = 1.0f / 255;
    else if (strcmp(range, "0-255")) { dt_seterr("%s: pixel_range '%s' is neither 0-255 nor 0-1", path, range); goto done; }
    double v[3];
    size_t got;
    /* means and stds are stored in the order their name says */
    const char *names[2][2] = {{"mean_bgr", "mean_rgb"}, {"std_bgr", "std_rgb"}};
    for (int which = 0; which < 2; which++)
        for (int o = 0; o < 2; o++) {
            if (!h5_has_attr(f, names[which][o])) continue;
            if (h5_attr_get_f64v(f, names[which][o], 3, v, &got) || got != 3) {
                dt_seterr("%s: attribute %s must hold 3 numbers", path, names[which][o]);
                goto done;
            }
            int stored_bgr = o == 0;
            float *dst = which ? p->std : p->mean;
            for (int c = 0; c < 3; c++) dst[c] = (float)v[stored_bgr == p->bgr ? c : 2 - c];
        }
    if (h5_exists(f, "mean_image")) {
        int r;
        hsize_t d[4];
        if (h5_shape(f, "mean_image", &r, d, NULL, NULL) || r != 3 || d[0] != 3) {
            dt_seterr("%s: mean_image must be (3, H, W)", path);
            goto done;
        }
        p->mh = (int)d[1];
        p->mw = (int)d[2];
        p->mean_image = dt_malloc(3 * d[1] * d[2] * sizeof(float));
        if (!p->mean_image || h5_read(f, "mean_image", H5T_NATIVE_FLOAT, p->mean_image)) { dt_preerr("%s", path); goto done; }
    }
    p->file_geom = GEOM_WHOLE;
    pre = h5_has_attr(f, "preprocess") ? h5_attr_get_str(f, "preprocess") : NULL;
    if (pre) {
        const char *s;
        int n;
        if ((s = strstr(pre, "shorter side to ")) && sscanf(s, "shorter side to %d", &n) == 1) {
            p->file_geom = GEOM_SHORTER_CROP;
            p->resize_to = n;
        } else if ((s = strstr(pre, "resize to ")) && sscanf(s, "resize to %d", &n) == 1) {
            p->file_geom = GEOM_RESIZE_CROP;
            p->resize_to = n;
        }
    }
    rc = 0;
done:
    free(order);
    free(range);
    free(pre);
    H5Fclose(f);
    if (rc) preproc_free(p);
    return rc;
}

void preproc_describe(const dt_preproc *p, dt_geom g, char *buf, int n)
{
    const char *geo[] = {"resize whole image to %dx%d", "shorter side to %d, centre crop %d", "resize to %dx%d, centre crop %d",
                         "native size (no resizing)"};
    char gs[96];
    if (g == GEOM_WHOLE) snprintf(gs, sizeof gs, geo[0], p->size, p->size);
    else if (g == GEOM_SHORTER_CROP) snprintf(gs, sizeof gs, geo[1], p->resize_to, p->size);
    else if (g == GEOM_RESIZE_CROP) snprintf(gs, sizeof gs, geo[2], p->resize_to, p->resize_to, p->size);
    else snprintf(gs, sizeof gs, "%s", geo[3]);
    char ms[96];
    if (p->mean_image) snprintf(ms, sizeof ms, "the file's mean image (%dx%d, centre part)", p->mw, p->mh);
    else snprintf(ms, sizeof ms, "mean (%g, %g, %g)", p->mean[0], p->mean[1], p->mean[2]);
    snprintf(buf, (size_t)n, "%s; %s; pixels x %g; minus %s; divided by (%g, %g, %g)", gs, p->bgr ? "BGR" : "RGB", p->scale, ms,
             p->std[0], p->std[1], p->std[2]);
}

void preproc_input_size(const dt_preproc *p, dt_geom g, int w, int h, int *iw, int *ih)
{
    if (g == GEOM_NATIVE) { *iw = w; *ih = h; }
    else *iw = *ih = p->size;
}

/* Size before the crop, and the input size, for a w x h image. */
static void geometry(const dt_preproc *p, dt_geom g, int w, int h, int *rw, int *rh, int *ow, int *oh)
{
    int S = p->size;
    *rw = w;
    *rh = h;
    if (g == GEOM_WHOLE) *rw = *rh = S;
    else if (g == GEOM_RESIZE_CROP) *rw = *rh = p->resize_to;
    else if (g == GEOM_SHORTER_CROP) {
        /* shorter side to resize_to, the other rounded to nearest */
        if (w <= h) { *rw = p->resize_to; *rh = (int)floor((double)h * p->resize_to / w + 0.5); }
        else { *rh = p->resize_to; *rw = (int)floor((double)w * p->resize_to / h + 0.5); }
    }
    *ow = g == GEOM_NATIVE ? w : S;
    *oh = g == GEOM_NATIVE ? h : S;
}

/* Centre crop (ow, oh) out of src (rh, rw, c), channel order, scale, mean
 * (a mean image is centre-cropped to the input, as the crop of the resized
 * image it was computed on), std; into lane k of out (3, K, oh, ow). */
static int crop_normalize(const dt_preproc *p, const float *src, int rw, int rh, int c, int ow, int oh, float *out, int K, int k)
{
    if (rw < ow || rh < oh) return dt_seterr("image resized to %dx%d is smaller than the input %dx%d", rw, rh, ow, oh);
    if (p->mean_image && (p->mw < ow || p->mh < oh))
        return dt_seterr("the weight file's mean image (%dx%d) is smaller than the input %dx%d", p->mw, p->mh, ow, oh);
    int x0 = (rw - ow) / 2, y0 = (rh - oh) / 2, mx0 = (p->mw - ow) / 2, my0 = (p->mh - oh) / 2;
    size_t plane = (size_t)ow * oh;
    for (int ch = 0; ch < 3; ch++) {
        int sc = c == 1 ? 0 : (p->bgr ? 2 - ch : ch);
        float *dst = out + ((size_t)ch * K + k) * plane;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float v = src[((size_t)(y + y0) * rw + (x + x0)) * c + sc] * p->scale;
                v -= p->mean_image ? p->mean_image[((size_t)ch * p->mh + y + my0) * p->mw + x + mx0] : p->mean[ch];
                dst[(size_t)y * ow + x] = v / p->std[ch];
            }
    }
    return 0;
}

int preproc_image(const dt_preproc *p, dt_geom g, const float *img, int w, int h, int c, float *out, int K, int k)
{
    int rw, rh, ow, oh;
    geometry(p, g, w, h, &rw, &rh, &ow, &oh);
    if (rw == w && rh == h) return crop_normalize(p, img, w, h, c, ow, oh, out, K, k);
    float *tmp = dt_malloc((size_t)rw * rh * c * sizeof(float));
    if (!tmp) return -1;
    int rc = image_resize_f32(img, w, h, c, tmp, rw, rh) || crop_normalize(p, tmp, rw, rh, c, ow, oh, out, K, k) ? -1 : 0;
    free(tmp);
    return rc;
}

int preproc_image_adjoint(const dt_preproc *p, dt_geom g, const float *gin, int K, int k, int w, int h, int c, float *gimg)
{
    int rw, rh, ow, oh;
    geometry(p, g, w, h, &rw, &rh, &ow, &oh);
    if (rw < ow || rh < oh) return dt_seterr("image resized to %dx%d is smaller than the input %dx%d", rw, rh, ow, oh);
    int x0 = (rw - ow) / 2, y0 = (rh - oh) / 2, same = rw == w && rh == h;
    size_t plane = (size_t)ow * oh, nr = (size_t)rw * rh * c;
    float *src = same ? gimg : dt_malloc(nr * sizeof(float));
    if (!src) return -1;
    memset(src, 0, nr * sizeof(float));
    /* crop_normalize, transposed: out = (src * scale - mean) / std */
    for (int ch = 0; ch < 3; ch++) {
        int sc = c == 1 ? 0 : (p->bgr ? 2 - ch : ch);
        const float *gc = gin + ((size_t)ch * K + k) * plane;
        float f = p->scale / p->std[ch];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) src[((size_t)(y + y0) * rw + (x + x0)) * c + sc] += gc[(size_t)y * ow + x] * f;
    }
    if (same) return 0;
    int rc = image_resize_f32_adjoint(src, rw, rh, c, gimg, w, h);
    free(src);
    return rc;
}

int preproc_image_u8(const dt_preproc *p, dt_geom g, const dt_image *im, float *out, int K, int k)
{
    int rw, rh, ow, oh;
    geometry(p, g, im->w, im->h, &rw, &rh, &ow, &oh);
    dt_image r = *im;
    if ((rw != im->w || rh != im->h) && image_resize_u8(im, rw, rh, &r)) return -1;
    size_t n = (size_t)rw * rh * im->c;
    float *f = dt_malloc(n * sizeof(float));
    int rc = -1;
    if (f) {
        for (size_t i = 0; i < n; i++) f[i] = r.px[i];
        rc = crop_normalize(p, f, rw, rh, im->c, ow, oh, out, K, k);
    }
    free(f);
    if (r.px != im->px) image_free(&r);
    return rc;
}

int preproc_write_attrs(const dt_preproc *p, dt_geom g, long long loc)
{
    hid_t h = (hid_t)loc;
    const char *gs = g == GEOM_WHOLE ? "whole" : g == GEOM_SHORTER_CROP ? "shorter-crop" : g == GEOM_RESIZE_CROP ? "resize-crop" : "native";
    double mean[3] = {p->mean[0], p->mean[1], p->mean[2]}, sd[3] = {p->std[0], p->std[1], p->std[2]};
    if (h5_attr_str(h, "preprocess_geometry", gs) || h5_attr_i64(h, "preprocess_size", p->size) ||
        h5_attr_i64(h, "preprocess_resize_to", p->resize_to) || h5_attr_i64(h, "preprocess_bgr", p->bgr) ||
        h5_attr_f64(h, "preprocess_scale", p->scale) || h5_attr_f64v(h, "preprocess_mean", 3, mean) ||
        h5_attr_f64v(h, "preprocess_std", 3, sd) || h5_attr_i64(h, "preprocess_mean_image", p->mean_image != NULL))
        return -1;
    return 0;
}

int preproc_read_attrs(dt_preproc *p, dt_geom *g, long long loc, const char *name)
{
    hid_t h = (hid_t)loc;
    char *gs = h5_has_attr(h, "preprocess_geometry") ? h5_attr_get_str(h, "preprocess_geometry") : NULL;
    int64_t size, rt, bgr, mi;
    double scale, mean[3], sd[3];
    size_t got;
    int bad = !gs || h5_attr_get_i64(h, "preprocess_size", &size) || h5_attr_get_i64(h, "preprocess_resize_to", &rt) ||
              h5_attr_get_i64(h, "preprocess_bgr", &bgr) || h5_attr_get_f64v(h, "preprocess_scale", 1, &scale, &got) ||
              h5_attr_get_f64v(h, "preprocess_mean", 3, mean, &got) || h5_attr_get_f64v(h, "preprocess_std", 3, sd, &got) ||
              h5_attr_get_i64(h, "preprocess_mean_image", &mi);
    if (bad) { free(gs); return dt_seterr("%s: the preprocessing attributes are missing; re-run the stage that wrote it", name); }
    *g = !strcmp(gs, "whole") ? GEOM_WHOLE : !strcmp(gs, "shorter-crop") ? GEOM_SHORTER_CROP
       : !strcmp(gs, "resize-crop") ? GEOM_RESIZE_CROP : GEOM_NATIVE;
    free(gs);
    p->size = (int)size;
    p->resize_to = (int)rt;
    p->bgr = (int)bgr;
    p->scale = (float)scale;
    for (int c = 0; c < 3; c++) { p->mean[c] = (float)mean[c]; p->std[c] = (float)sd[c]; }
    if (mi && !p->mean_image) return dt_seterr("%s: the features used the weight file's mean image, which the weight file lacks", name);
    if (!mi) { free(p->mean_image); p->mean_image = NULL; }
    return 0;
}
