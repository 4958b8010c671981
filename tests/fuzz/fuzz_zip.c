/* fuzz_zip.c — libFuzzer harness for the zip reader behind
 * `deeptune import -i IMAGES.zip`: the archive listing in natural name
 * order (imgsrc_open), then every member decompressed and CRC-checked
 * (zip_read), images or not.  Decoding the members is fuzz_image's part. */
#include "fuzz.h"

#include "imgsrc.h"
#include "zip.h"

#include <stdlib.h>

FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fuzz_file(data, n);
    dt_imgsrc s;
    if (imgsrc_open(&s, path) == 0) {
        for (size_t i = 0; i < s.n; i++)
            if (s.member[i] >= s.zip.n) fuzz_fail("imgsrc_open listed a member the archive does not have");
        imgsrc_close(&s);
    }
    zip_archive z;
    if (zip_open(&z, path) != 0) return 0;
    for (size_t i = 0; i < z.n; i++) {
        uint8_t *buf;
        size_t len;
        if (zip_read(&z, i, &buf, &len) != 0) continue;
        volatile uint8_t x = 0;
        for (size_t k = 0; k < len; k++) x ^= buf[k];
        (void)x;
        free(buf);
    }
    zip_close(&z);
    return 0;
}
