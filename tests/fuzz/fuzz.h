/* fuzz.h — shared by the libFuzzer harnesses in tests/fuzz/ (built and run by
 * `make fuzz`).
 *
 * The parsers take file names, so each input is written to one file in a
 * private temporary directory (under $TMPDIR, else /tmp), removed at exit;
 * nothing else is written.  (An anonymous memfd would avoid the disk, but
 * HDF5 resolves the real path of the files it opens, which a memfd lacks.)
 * Stages print to stdout and stderr through stdio; both are sent to
 * /dev/null so a run's log holds only libFuzzer's and the sanitizers'
 * reports, which write to file descriptor 2 directly. */
#ifndef DT_FUZZ_H
#define DT_FUZZ_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_dir[4096], fuzz_path[4200];

static void fuzz_cleanup(void)
{
    unlink(fuzz_path);
    rmdir(fuzz_dir);
}

/* Put data into the input file and return its name (static storage).  The
 * same file is reused for every input. */
static inline const char *fuzz_file(const uint8_t *data, size_t n)
{
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/deeptune-fuzz.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir)) { perror("mkdtemp"); abort(); }
        snprintf(fuzz_path, sizeof fuzz_path, "%s/input", fuzz_dir);
        atexit(fuzz_cleanup);
    }
    int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(fuzz_path); abort(); }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    close(fd);
    return fuzz_path;
}

/* Silence the program's own stdio output (see the file comment), unless
 * FUZZ_VERBOSE is set (to see what a saved input does).  glibc's stdout and
 * stderr are plain variables; libFuzzer keeps its own copy of the original
 * stderr, and the sanitizers write to fd 2. */
static inline void fuzz_quiet(void)
{
    if (getenv("FUZZ_VERBOSE")) return;
    FILE *null = fopen("/dev/null", "w");
    if (!null) abort();
    stdout = null;
    stderr = null;
}

/* The libFuzzer start-up hook of a harness that needs nothing but quiet stdio. */
#define FUZZ_QUIET_INIT                                                                                                \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                                                  \
    {                                                                                                                  \
        (void)argc;                                                                                                    \
        (void)argv;                                                                                                    \
        fuzz_quiet();                                                                                                  \
        return 0;                                                                                                      \
    }

/* A finding that no sanitizer sees (a broken invariant): report it on fd 2
 * and abort, which libFuzzer records as a crash with its input. */
static inline void fuzz_fail(const char *what)
{
    static const char pre[] = "fuzz: invariant broken: ";
    size_t n = 0;
    while (what[n]) n++;
    if (write(2, pre, sizeof pre - 1) < 0 || write(2, what, n) < 0 || write(2, "\n", 1) < 0) abort();
    abort();
}

#endif
