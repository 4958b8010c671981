/* fuzz_image.c — libFuzzer harness for PNG and JPEG decoding
 * (image_decode, picked by signature as `deeptune import` does), followed by
 * what import may do to a decoded stimulus: --color gray/rgb
 * (image_convert) and --resize (image_resize_u8). */
#include "fuzz.h"

#include "image.h"

FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    dt_image im;
    if (image_decode(data, n, "fuzz", &im) != 0) return 0;
    if (im.w < 1 || im.h < 1 || (im.c != 1 && im.c != 3) || !im.px) fuzz_fail("image_decode returned an empty image");
    if (im.w > DT_IMAGE_MAX_SIDE || im.h > DT_IMAGE_MAX_SIDE || (long)im.w * im.h > DT_IMAGE_MAX_PIXELS)
        fuzz_fail("image_decode returned an image beyond the limits of image.h");
    volatile uint8_t x = 0;
    for (size_t i = 0; i < (size_t)im.w * (size_t)im.h * (size_t)im.c; i++) x ^= im.px[i];
    (void)x;
    /* gray -> RGB or RGB -> gray, then a shrink and an enlargement */
    if (image_convert(&im, im.c == 1 ? 3 : 1) == 0) {
        dt_image out;
        if (image_resize_u8(&im, 5, 3, &out) == 0) image_free(&out);
        if (im.w * im.h <= 4096 && image_resize_u8(&im, im.w + 3, 2 * im.h, &out) == 0) image_free(&out);
    }
    image_free(&im);
    return 0;
}
