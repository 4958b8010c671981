/* harness.h — the test harness: CHECK macros that count failures, a
 * summary that makes the binary exit non-zero on any failure, and the shared
 * data directory.  Each test_*.c is its own binary run by tests/run. */
#ifndef DT_HARNESS_H
#define DT_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int th_checks, th_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        th_checks++;                                                            \
        if (!(cond)) {                                                          \
            th_failed++;                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* |got - want| <= atol + rtol * |want|; the caller states why the tolerance
 * is what it is. */
#define CHECK_CLOSE(got, want, atol, rtol, what)                                \
    CHECK(fabs((double)(got) - (double)(want)) <= (atol) + (rtol) * fabs((double)(want)), \
          "%s: got %.9g, want %.9g", what, (double)(got), (double)(want))

static inline int th_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, th_checks, th_failed);
    return th_failed ? 1 : 0;
}

/* The shared data directory, or NULL with a SKIP line when it is absent. */
static inline const char *th_data(const char *what)
{
    const char *d = getenv("DEEPTUNE_DATA");
    if (!d) d = "../shared/data";
    FILE *f;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/README.md", d);
    if (!(f = fopen(probe, "r"))) {
        printf("SKIP %s: shared data directory %s is absent (set DEEPTUNE_DATA)\n", what, d);
        return NULL;
    }
    fclose(f);
    return d;
}

#endif
