/* util.h — error reporting, memory, strings, atomic output files and run
 * statistics shared by every stage.
 *
 * Error convention: library functions return 0 on success and -1 on failure
 * after recording a one-line message with dt_seterr(); only the command-line
 * layer prints it (as "error: <message>") and decides to exit.  Messages name
 * the file, the dataset or option, and the fix. */
#ifndef DT_UTIL_H
#define DT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifndef DEEPTUNE_VERSION
#define DEEPTUNE_VERSION "0.0.0"
#endif

/* A hot loop compiled for AVX-512, AVX2 and the baseline, picked at run time
 * (GCC function multi-versioning); the engine's kernels and the consensus use it. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define DT_VEC __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DT_VEC
#endif

/* Record the current error message (printf-style); always returns -1 so a
 * caller can write `return dt_seterr(...)`.  Thread-local. */
int dt_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the current message with "<prefix>: " (for adding a file name). */
int dt_preerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dt_lasterr(void);

/* malloc/calloc that record "out of memory (N bytes)" on failure. */
void *dt_malloc(size_t n);
void *dt_calloc(size_t count, size_t size);
char *dt_strdup(const char *s);
/* Free an array of n strings and the array itself (NULL-safe). */
void dt_strv_free(char **v, size_t n);

/* Command-line numbers, read strictly: all of `arg` must be one number
 * that fits the type (an int; a finite decimal such as 0.5 or 1e-3; an
 * unsigned 64-bit seed without a sign).  Otherwise record
 * "<opt> <arg>: expected ..." and return -1, so `--steps abc` or
 * `--lr 1x` is an error instead of 0.  Each option keeps its own range
 * check; these only make sure a number was given. */
int dt_arg_int(const char *opt, const char *arg, int *out);
int dt_arg_double(const char *opt, const char *arg, double *out);
int dt_arg_u64(const char *opt, const char *arg, uint64_t *out);
/* "A" or "A:B", each a number as for dt_arg_double; B is left as it was
 * when absent. */
int dt_arg_pair(const char *opt, const char *arg, double *a, double *b);
/* "A,B,...": one or more numbers as for dt_arg_double, no empty items;
 * *out is malloc'd (*n of them). */
int dt_arg_doubles(const char *opt, const char *arg, double **out, int *n);

/* Natural order: digit runs compare by value, so "image2" < "image10". */
int dt_natcmp(const char *a, const char *b);
/* Case-insensitive suffix test. */
int dt_has_suffix(const char *s, const char *suffix);
/* Last path component (pointer into s). */
const char *dt_basename(const char *s);

/* The command line of this run, saved by main() and written into every
 * output file.  dt_cmdline() returns a static string. */
void dt_set_cmdline(int argc, char **argv);
const char *dt_cmdline(void);

/* An output file written under a temporary name in the same directory and
 * renamed over the final name only by dt_out_commit(), so an error or a kill
 * never leaves a half-written result that looks complete. */
typedef struct {
    char *path; /* final name */
    char *tmp;  /* temporary name, exists between begin and commit/abort */
} dt_outfile;

/* Reserve a temporary name next to `path` (the file is created empty, which
 * also proves the directory is writable).  Fails if `path` exists and
 * `force` is 0.  First removes the stale temporaries of `path` that killed
 * runs left (dt_remove_stale). */
int dt_out_begin(dt_outfile *o, const char *path, int force);
int dt_out_commit(dt_outfile *o);   /* rename tmp -> path, free names */
void dt_out_abort(dt_outfile *o);   /* unlink tmp, free names; NULL-safe */

/* Run statistics: call dt_stats_start() first; dt_stats_print() prints one
 * line "<stage>: wall 1.23 s, cpu 2.34 s, peak memory 56.7 MB" to stderr. */
void dt_stats_start(void);
void dt_stats_print(const char *stage);

/* SHA-256 of a file as 64 hex characters plus NUL into hex[65]. */
int dt_sha256_file(const char *path, char hex[65]);
/* SHA-256 of a buffer into out[32]. */
void dt_sha256(const void *data, size_t n, uint8_t out[32]);

/* Run fn(ctx, i) for i = 0..n-1 on n threads (the caller is thread 0). */
void dt_parallel(int n, void (*fn)(void *ctx, int i), void *ctx);
/* Run fn(ctx, u, t) for units u = 0..n-1 on min(nt, n) threads; t names the
 * thread (0 <= t < nt), for per-thread scratch (threads.c). */
void dt_parallel_units(int nt, int n, void (*fn)(void *ctx, int u, int t), void *ctx);
/* Default thread count: OMP_NUM_THREADS if set, else the CPUs in this
 * process's affinity mask (taskset, cgroups, SLURM), at most 256. */
int dt_default_threads(void);
/* `requested` threads (0: the default), at most as many as the memory
 * limit allows (dt_limit_threads). */
int dt_threads(int requested);
/* Under an address-space limit (ulimit -v), cap the thread count so every
 * thread's BLAS work buffer fits; -1 if not even one fits (main.c). */
int dt_limit_threads(void);
/* At most T threads, fewer if the memory limit leaves no room for their
 * BLAS work buffers now (OpenBLAS would otherwise retry forever). */
int dt_room_threads(int T);

/* SplitMix64 (Steele, Lea & Flood 2014): the seeded generator behind every
 * split, fold, resample, jitter and noise image; dt_unif is in (0, 1). */
uint64_t dt_splitmix(uint64_t *s);
double dt_unif(uint64_t *s);

/* Output directories (outdir.c): remove a tree; move a finished temporary
 * directory onto its final name, replacing an older one only now. */
int dt_rmtree(const char *path);
int dt_dir_commit(const char *tmp, const char *path);
/* The same in two halves, for a directory that goes with an output file:
 * dt_dir_swap moves an older `path` aside (*old, malloc'd, or NULL when
 * there was none) and `tmp` onto `path`; then dt_dir_settle(path, old, ok)
 * removes the older one (ok) or removes the new one and puts the older one
 * back (the file's commit failed), and frees old. */
int dt_dir_swap(const char *tmp, const char *path, char **old);
void dt_dir_settle(const char *path, char *old, int ok);
/* Commit an output file and the directory that goes with it (*tmpdir, or
 * none when NULL) onto `path`: the directory goes in first and the older one
 * is put back if the file cannot be committed.  Frees and clears *tmpdir
 * once it is in place. */
int dt_commit_with_dir(dt_outfile *of, char **tmpdir, const char *path);
/* Remove an unfinished temporary directory and free its name (NULL-safe). */
void dt_dir_abort(char *tmp);
/* Temporary directories a signal must remove (util.c): added by
 * dt_dir_begin, dropped on commit or abort.  Adding fails (dt_seterr) when
 * 16 are already registered. */
int dt_pending_dir(const char *tmp, int add);
/* Start one: strip trailing slashes from path into *final, refuse an
 * existing directory unless force (the message names the option `what`),
 * and create the temporary directory *tmp next to it.  Both malloc'd. */
int dt_dir_begin(const char *path, int force, const char *what, char **final, char **tmp);

/* Temporary names (outdir.c).  Every temporary output file or directory of
 * `path` is named "<path>.tmp.<host>.<pid>.XXXXXX" (host: the first label of
 * this machine's name); dt_tmp_template returns that template, malloc'd,
 * for mkstemp/mkdtemp.  A run ended by SIGKILL cannot remove its own, so
 * dt_remove_stale(path, dirs) removes the regular files (dirs = 0) or
 * directory trees (dirs = 1) of exactly that pattern made on this machine
 * by a process that no longer exists (kill(pid, 0) fails with ESRCH);
 * those of this process or of a live one are left alone. */
char *dt_tmp_template(const char *path);
void dt_remove_stale(const char *path, int dirs);

/* Read a whole file into a malloc'd buffer (caller frees). */
int dt_read_file(const char *path, uint8_t **buf, size_t *n);

#endif
