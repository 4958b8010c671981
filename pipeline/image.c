/* image.c — see image.h.  libpng and libjpeg report errors by longjmp from
 * their error callbacks; both decoders catch them here and turn them into
 * dt_seterr() messages so a bad file never aborts the program. */
#include "image.h"
#include "util.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

void image_free(dt_image *im)
{
    if (!im) return;
    free(im->px);
    im->px = NULL;
}

/* "NAME: PNG declares WxH pixels; ..." when w x h is beyond the limits of
 * image.h, else 0. */
static int too_large(const char *name, const char *kind, unsigned long w, unsigned long h)
{
    if (w <= DT_IMAGE_MAX_SIDE && h <= DT_IMAGE_MAX_SIDE && (double)w * (double)h <= (double)DT_IMAGE_MAX_PIXELS) return 0;
    return dt_seterr("%s: %s declares %lux%lu pixels; deeptune decodes at most %d pixels per side and %ld pixels in all "
                     "(8192x8192); shrink the image first",
                     name, kind, w, h, DT_IMAGE_MAX_SIDE, DT_IMAGE_MAX_PIXELS);
}

/* ---- PNG ---- */

struct png_src {
    const uint8_t *p;
    size_t n, off;
    char msg[200];
};

static void png_read_mem(png_structp png, png_bytep out, size_t len)
{
    struct png_src *s = png_get_io_ptr(png);
    if (s->off + len > s->n) png_error(png, "unexpected end of file (truncated)");
    memcpy(out, s->p + s->off, len);
    s->off += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int decode_png(const uint8_t *buf, size_t n, const char *name, dt_image *im)
{
    struct png_src src = {buf, n, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* volatile: modified between setjmp and a possible longjmp */
    png_bytep *volatile rows = NULL;
    uint8_t *volatile px = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return dt_seterr("%s: cannot initialise libpng", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(px);
        png_destroy_read_struct(&png, &info, NULL);
        return dt_seterr("%s: corrupt or truncated PNG (%s)", name, src.msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* libpng's own limit (1000000 per side) would report a large image as
     * corrupt; let every size through to the check below instead */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (too_large(name, "PNG", w, h)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int ct = png_get_color_type(png, info);
    png_set_expand(png);     /* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha */
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = (ct & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if ((int)png_get_channels(png, info) != c) png_error(png, "unexpected channel count");
    if (w == 0 || h == 0) png_error(png, "zero image size");
    px = dt_malloc((size_t)w * h * (size_t)c);
    rows = dt_malloc(h * sizeof *rows);
    if (!px || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + (size_t)y * w * (size_t)c;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    im->w = (int)w;
    im->h = (int)h;
    im->c = c;
    im->px = px;
    return 0;
}

/* ---- JPEG ---- */

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_on_error(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (level -1) mean corrupt data, e.g. "Premature end of JPEG file";
 * libjpeg would fill the rest with gray.  A stimulus must be exact, so treat
 * them as errors. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_on_error(cinfo);
}

static int decode_jpeg(const uint8_t *buf, size_t n, const char *name, dt_image *im)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err err;
    uint8_t *volatile px = NULL;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    err.msg[0] = 0;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return dt_seterr("%s: corrupt or truncated JPEG (%s)", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (too_large(name, "JPEG", cinfo.image_width, cinfo.image_height)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (cinfo.num_components == 1) cinfo.out_color_space = JCS_GRAYSCALE;
    else if (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) cinfo.out_color_space = JCS_RGB;
    else {
        snprintf(err.msg, sizeof err.msg, "CMYK/YCCK JPEG is not supported; convert it to RGB");
        longjmp(err.jb, 1);
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cinfo.output_components;
    px = dt_malloc((size_t)w * (size_t)h * (size_t)c);
    if (!px) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        longjmp(err.jb, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px + (size_t)cinfo.output_scanline * (size_t)w * (size_t)c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    im->w = w;
    im->h = h;
    im->c = c;
    im->px = px;
    return 0;
}

int image_decode(const uint8_t *buf, size_t n, const char *name, dt_image *im)
{
    memset(im, 0, sizeof *im);
    if (n >= 8 && png_sig_cmp(buf, 0, 8) == 0) return decode_png(buf, n, name, im);
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return decode_jpeg(buf, n, name, im);
    if (n == 0) return dt_seterr("%s: empty file, not an image", name);
    return dt_seterr("%s: not a PNG or JPEG image (unrecognised signature)", name);
}

/* ---- resampling ---- */

/* Weights of the antialiased triangle filter for one axis: for output i,
 * taps [first[i], first[i] + ntap[i]) with weights w[i * maxtap + k]. */
typedef struct {
    int *first, *ntap, maxtap;
    double *w;
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->ntap);
    free(t->w);
}

static int taps_make(taps *t, int in, int out)
{
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, support = fs;
    t->maxtap = (int)ceil(support) * 2 + 1;
    t->first = dt_malloc((size_t)out * sizeof(int));
    t->ntap = dt_malloc((size_t)out * sizeof(int));
    t->w = dt_calloc((size_t)out * (size_t)t->maxtap, sizeof(double));
    if (!t->first || !t->ntap || !t->w) { taps_free(t); return -1; }
    for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale;
        int lo = (int)floor(centre - support + 0.5), hi = (int)floor(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        double sum = 0;
        int k = 0;
        for (int x = lo; x < hi && k < t->maxtap; x++, k++) {
            double d = fabs((x - centre + 0.5) / fs);
            double wt = d < 1 ? 1 - d : 0;
            t->w[(size_t)i * (size_t)t->maxtap + (size_t)k] = wt;
            sum += wt;
        }
        for (int j = 0; j < k && sum > 0; j++) t->w[(size_t)i * (size_t)t->maxtap + (size_t)j] /= sum;
        t->first[i] = lo;
        t->ntap[i] = k;
    }
    return 0;
}

int image_resize_f32(const float *in, int w, int h, int c, float *out, int ow, int oh)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1) return dt_seterr("resize: invalid size %dx%d -> %dx%d", w, h, ow, oh);
    taps tx, ty;
    if (taps_make(&tx, w, ow)) return -1;
    if (taps_make(&ty, h, oh)) { taps_free(&tx); return -1; }
    float *mid = dt_malloc((size_t)h * (size_t)ow * (size_t)c * sizeof(float));
    if (!mid) { taps_free(&tx); taps_free(&ty); return -1; }
    /* horizontal pass: (h, w, c) -> (h, ow, c) */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < ow; x++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                const double *wt = tx.w + (size_t)x * (size_t)tx.maxtap;
                for (int k = 0; k < tx.ntap[x]; k++)
                    s += wt[k] * in[((size_t)y * (size_t)w + (size_t)(tx.first[x] + k)) * (size_t)c + (size_t)ch];
                mid[((size_t)y * (size_t)ow + (size_t)x) * (size_t)c + (size_t)ch] = (float)s;
            }
    /* vertical pass: (h, ow, c) -> (oh, ow, c) */
    for (int y = 0; y < oh; y++) {
        const double *wt = ty.w + (size_t)y * (size_t)ty.maxtap;
        for (size_t i = 0; i < (size_t)ow * (size_t)c; i++) {
            double s = 0;
            for (int k = 0; k < ty.ntap[y]; k++) s += wt[k] * mid[(size_t)(ty.first[y] + k) * (size_t)ow * (size_t)c + i];
            out[(size_t)y * (size_t)ow * (size_t)c + i] = (float)s;
        }
    }
    free(mid);
    taps_free(&tx);
    taps_free(&ty);
    return 0;
}

/* The transpose of image_resize_f32 (same taps): gin (h, w, c) receives the
 * gradient with respect to the input of a resize whose output gradient is
 * gout (oh, ow, c). */
int image_resize_f32_adjoint(const float *gout, int ow, int oh, int c, float *gin, int w, int h)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1) return dt_seterr("resize: invalid size %dx%d -> %dx%d", w, h, ow, oh);
    taps tx, ty;
    if (taps_make(&tx, w, ow)) return -1;
    if (taps_make(&ty, h, oh)) { taps_free(&tx); return -1; }
    double *mid = dt_calloc((size_t)h * (size_t)ow * (size_t)c, sizeof(double));
    double *acc = dt_calloc((size_t)h * (size_t)w * (size_t)c, sizeof(double));
    if (!mid || !acc) { free(mid); free(acc); taps_free(&tx); taps_free(&ty); return -1; }
    size_t row = (size_t)ow * (size_t)c;
    /* vertical pass, transposed: (oh, ow, c) -> (h, ow, c) */
    for (int y = 0; y < oh; y++) {
        const double *wt = ty.w + (size_t)y * (size_t)ty.maxtap;
        for (int k = 0; k < ty.ntap[y]; k++) {
            double *m = mid + (size_t)(ty.first[y] + k) * row;
            const float *g = gout + (size_t)y * row;
            for (size_t i = 0; i < row; i++) m[i] += wt[k] * g[i];
        }
    }
    /* horizontal pass, transposed: (h, ow, c) -> (h, w, c) */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < ow; x++) {
            const double *wt = tx.w + (size_t)x * (size_t)tx.maxtap;
            for (int k = 0; k < tx.ntap[x]; k++)
                for (int ch = 0; ch < c; ch++)
                    acc[((size_t)y * (size_t)w + (size_t)(tx.first[x] + k)) * (size_t)c + (size_t)ch] +=
                        wt[k] * mid[((size_t)y * (size_t)ow + (size_t)x) * (size_t)c + (size_t)ch];
        }
    for (size_t i = 0; i < (size_t)h * (size_t)w * (size_t)c; i++) gin[i] = (float)acc[i];
    free(mid);
    free(acc);
    taps_free(&tx);
    taps_free(&ty);
    return 0;
}

/* 8-bit resampling as PIL does it (Pillow's Resample.c behaviour), so 8-bit
 * pipelines give the same pixels as PIL/torchvision: the same taps in
 * 22-bit fixed point, a horizontal pass rounded and clipped to 8 bits, then
 * a vertical pass rounded and clipped; a pass whose size does not change is
 * skipped. */
#define FIX_BITS 22

static int resample_pass_u8(uint8_t *out, const uint8_t *in, int w, int h, int c, int ow, int oh, int horizontal)
{
    int n_in = horizontal ? w : h, n_out = horizontal ? ow : oh;
    taps t;
    if (taps_make(&t, n_in, n_out)) return -1;
    int32_t *k = dt_malloc((size_t)n_out * (size_t)t.maxtap * sizeof(int32_t));
    if (!k) { taps_free(&t); return -1; }
    for (size_t i = 0; i < (size_t)n_out * (size_t)t.maxtap; i++) {
        double v = t.w[i] * (1 << FIX_BITS);
        k[i] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
    }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int ch = 0; ch < c; ch++) {
                int o = horizontal ? x : y;
                const int32_t *kk = k + (size_t)o * (size_t)t.maxtap;
                int64_t ss = 1 << (FIX_BITS - 1);
                for (int j = 0; j < t.ntap[o]; j++) {
                    int sx = horizontal ? t.first[o] + j : x, sy = horizontal ? y : t.first[o] + j;
                    ss += (int64_t)in[((size_t)sy * (size_t)w + (size_t)sx) * (size_t)c + (size_t)ch] * kk[j];
                }
                out[((size_t)y * (size_t)ow + (size_t)x) * (size_t)c + (size_t)ch] =
                    ss <= 0 ? 0 : ss >= ((int64_t)256 << FIX_BITS) ? 255 : (uint8_t)(ss >> FIX_BITS);
            }
    free(k);
    taps_free(&t);
    return 0;
}

int image_resize_u8(const dt_image *in, int ow, int oh, dt_image *out)
{
    memset(out, 0, sizeof *out);
    if (ow < 1 || oh < 1) return dt_seterr("resize: invalid size %dx%d", ow, oh);
    int c = in->c, w = in->w, h = in->h;
    uint8_t *mid = NULL, *px = dt_malloc((size_t)ow * (size_t)oh * (size_t)c);
    if (!px) return -1;
    const uint8_t *src = in->px;
    if (ow != w) {
        mid = dt_malloc((size_t)ow * (size_t)h * (size_t)c);
        if (!mid || resample_pass_u8(mid, src, w, h, c, ow, h, 1)) goto fail;
        src = mid;
        w = ow;
    }
    if (oh != h) {
        if (resample_pass_u8(px, src, w, h, c, ow, oh, 0)) goto fail;
    } else {
        memcpy(px, src, (size_t)ow * (size_t)oh * (size_t)c);
    }
    free(mid);
    out->w = ow;
    out->h = oh;
    out->c = c;
    out->px = px;
    return 0;
fail:
    free(mid);
    free(px);
    return -1;
}

int image_convert(dt_image *im, int c)
{
    if (c == im->c) return 0;
    size_t np = (size_t)im->w * (size_t)im->h;
    uint8_t *px = dt_malloc(np * (size_t)c);
    if (!px) return -1;
    if (c == 1) {
        for (size_t i = 0; i < np; i++) {
            const uint8_t *p = im->px + 3 * i;
            /* BT.601 luma in 16-bit fixed point, as PIL's convert("L") */
            px[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
        }
    } else {
        for (size_t i = 0; i < np; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = im->px[i];
    }
    free(im->px);
    im->px = px;
    im->c = c;
    return 0;
}

int png_write(const char *path, const uint8_t *px, int w, int h, int c)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, px, 0, NULL))
        return dt_seterr("%s: cannot write PNG (%s)", path, img.message);
    return 0;
}
