/* image.h — decode PNG and JPEG from memory, resample, convert between
 * grayscale and RGB, write PNG.  Pixels are 8-bit, (h, w, c) row-major with
 * c = 1 (gray) or 3 (RGB). */
#ifndef DT_IMAGE_H
#define DT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h, c;
    uint8_t *px;     /* (h, w, c), owned */
} dt_image;

/* The largest image decoded: at most DT_IMAGE_MAX_SIDE pixels per side and
 * DT_IMAGE_MAX_PIXELS pixels in all (8192 x 8192, 192 MB as RGB), far above
 * any stimulus.  A header declaring more is refused before any pixel memory
 * is allocated, so a 100-byte file cannot ask for gigabytes. */
#define DT_IMAGE_MAX_SIDE 16384
#define DT_IMAGE_MAX_PIXELS (8192L * 8192L)

/* Decode a PNG or JPEG (recognised by signature, not name).  Alpha is
 * dropped, palettes expanded, 16-bit reduced to 8-bit; JPEG warnings such as
 * premature end of data are errors.  `name` is used in messages. */
int image_decode(const uint8_t *buf, size_t n, const char *name, dt_image *im);
void image_free(dt_image *im);   /* NULL-safe */

/* Resample with the triangle (bilinear) filter widened by the scale factor
 * when shrinking, so downsampling averages instead of aliasing; the same
 * definition as PIL's Image.resize(BILINEAR) (pixel centres at +0.5, edge
 * weights renormalised).  in: (h, w, c) float, out: (oh, ow, c) float. */
int image_resize_f32(const float *in, int w, int h, int c, float *out, int ow, int oh);
/* Its transpose: the gradient gin (h, w, c) with respect to the input of a
 * resize whose output gradient is gout (oh, ow, c). */
int image_resize_f32_adjoint(const float *gout, int ow, int oh, int c, float *gin, int w, int h);
/* The same filter on 8-bit images, bit-exact with PIL's resize(BILINEAR)
 * on 8-bit images (two rounded fixed-point passes); out is allocated. */
int image_resize_u8(const dt_image *in, int ow, int oh, dt_image *out);

/* Convert in place to c channels (1 or 3).  RGB -> gray uses ITU-R BT.601
 * luma, L = 0.299 R + 0.587 G + 0.114 B, in PIL's 16-bit fixed point (so it
 * equals PIL's convert("L")); gray -> RGB replicates. */
int image_convert(dt_image *im, int c);

/* Write an 8-bit PNG (c = 1 or 3) to path. */
int png_write(const char *path, const uint8_t *px, int w, int h, int c);

#endif
