/* fuzz_npy.c — libFuzzer harness for the .npy reader (npy_read), which
 * `deeptune import` runs on the user's responses, trials and split files.
 * A successful read must describe exactly the elements it returns: the
 * dimensions multiply without overflow and every element is readable (ASan
 * checks the last part). */
#include "fuzz.h"

#include "array.h"

FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    dt_array a;
    if (npy_read(fuzz_file(data, n), &a) != 0) return 0;
    size_t count = 1;
    for (int i = 0; i < a.rank; i++)
        if (__builtin_mul_overflow(count, a.dim[i], &count)) fuzz_fail("npy_read accepted dimensions whose product overflows");
    volatile double sum = 0;
    for (size_t i = 0; i < count; i++) sum += a.v[i];
    (void)sum;
    dt_array_free(&a);
    return 0;
}
