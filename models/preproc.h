/* preproc.h — turning a stimulus into a network input, as the weight file
 * says: input size, channel order, pixel range, mean (per channel or a mean
 * image), standard deviation, and the geometry (resize the whole image, or
 * resize and centre-crop).  Every step is linear in the pixels, so the input
 * gradient can later be carried back to the stimulus.
 *
 * Weight-file attributes read (see ../shared/data/README.md and
 * scripts/pth-to-h5.py): input_size, channel_order (RGB|BGR), pixel_range
 * (0-255|0-1), mean_bgr or mean_rgb (pixel_range units), std_rgb/std_bgr
 * (optional), dataset mean_image (3, H, W) in the network's channel order,
 * preprocess (free text; "shorter side to N" means shorter side to N then
 * centre crop; "resize to NxN" means resize then centre crop). */
#ifndef DT_PREPROC_H
#define DT_PREPROC_H

#include "image.h"

typedef enum { GEOM_WHOLE, GEOM_SHORTER_CROP, GEOM_RESIZE_CROP, GEOM_NATIVE } dt_geom;

typedef struct {
    int size;            /* network input side (square) */
    int bgr;             /* the network takes BGR */
    float scale;         /* pixel (0..255) -> network units: 1 or 1/255 */
    float mean[3];       /* network channel order, network units */
    float std[3];
    float *mean_image;   /* (3, mh, mw) network order and units, or NULL; owned */
    int mh, mw;
    dt_geom file_geom;   /* geometry the file's `preprocess` describes */
    int resize_to;       /* shorter side, or square side, before the crop */
} dt_preproc;

/* Read from an open weight file's attributes; errors name `path`. */
int preproc_read(dt_preproc *p, const char *path);
void preproc_free(dt_preproc *p);   /* NULL-safe */
/* Human-readable one-line description, for attributes and logs. */
void preproc_describe(const dt_preproc *p, dt_geom g, char *buf, int n);

/* Record the preprocessing as structured attributes (preprocess_geometry,
 * preprocess_size, preprocess_resize_to, preprocess_bgr, preprocess_scale,
 * preprocess_mean, preprocess_std, preprocess_mean_image) on an HDF5 object,
 * so a later stage can rebuild exactly the same input; and read them back
 * over a dt_preproc read from the weight file (which supplies the mean
 * image when one was used). */
int preproc_write_attrs(const dt_preproc *p, dt_geom g, long long loc);
int preproc_read_attrs(dt_preproc *p, dt_geom *g, long long loc, const char *name);

/* Input size for an image of w x h under geometry g (native keeps it). */
void preproc_input_size(const dt_preproc *p, dt_geom g, int w, int h, int *iw, int *ih);

/* img: (h, w, c) float pixels 0..255, c = 1 (replicated) or 3 (RGB).
 * Writes lane k of out (3, K, ih, iw).  Linear in the pixels (float
 * resampling), so gradients can be carried back through it. */
int preproc_image(const dt_preproc *p, dt_geom g, const float *img, int w, int h, int c, float *out, int K, int k);
/* The transpose of preproc_image's linear part: from the gradient gin
 * (lane k of (3, K, ih, iw)) with respect to the network input, the
 * gradient gimg (h, w, c) with respect to the image (c = 1: the three input
 * channels' contributions summed). */
int preproc_image_adjoint(const dt_preproc *p, dt_geom g, const float *gin, int K, int k, int w, int h, int c, float *gimg);
/* The same for an 8-bit image with 8-bit resampling, bit-exact with a
 * PIL/torchvision pipeline on 8-bit images (used by classify). */
int preproc_image_u8(const dt_preproc *p, dt_geom g, const dt_image *im, float *out, int K, int k);

#endif
