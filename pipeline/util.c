/* util.c — see util.h. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char errbuf[1024];

int dt_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

int dt_preerr(const char *fmt, ...)
{
    char pre[512], old[sizeof errbuf], out[sizeof errbuf + sizeof pre + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    snprintf(out, sizeof out, "%s: %s", pre, old);
    memcpy(errbuf, out, sizeof errbuf - 1);
    errbuf[sizeof errbuf - 1] = 0;
    return -1;
}

const char *dt_lasterr(void) { return errbuf[0] ? errbuf : "unknown error"; }

void *dt_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) dt_seterr("out of memory (%zu bytes)", n);
    return p;
}

void *dt_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) dt_seterr("out of memory (%zu x %zu bytes)", count, size);
    return p;
}

static int space_or_empty(const char *arg) { return !*arg || isspace((unsigned char)*arg); }

int dt_arg_int(const char *opt, const char *arg, int *out)
{
    char *end;
    errno = 0;
    long v = space_or_empty(arg) ? 0 : strtol(arg, &end, 10);
    if (space_or_empty(arg) || *end || errno || v < INT_MIN || v > INT_MAX)
        return dt_seterr("%s '%s': expected a whole number, e.g. %s 10", opt, arg, opt);
    *out = (int)v;
    return 0;
}

/* one finite number at s; *end after it */
static int number(const char *s, double *v, char **end)
{
    if (space_or_empty(s)) return -1;
    *v = strtod(s, end); /* an overflow is inf, refused; an underflow is a tiny number, kept */
    return *end == s || !isfinite(*v) ? -1 : 0;
}

int dt_arg_double(const char *opt, const char *arg, double *out)
{
    char *end;
    double v;
    if (number(arg, &v, &end) || *end) {
        size_t n = strlen(opt);
        int optional = n && opt[n - 1] == '='; /* "--check-gradients=": an optional argument */
        return dt_seterr("%.*s '%s': expected a number, e.g. %s%s0.5", (int)(n - (size_t)optional), opt, arg, opt, optional ? "" : " ");
    }
    *out = v;
    return 0;
}

int dt_arg_pair(const char *opt, const char *arg, double *a, double *b)
{
    char *end;
    double x, y = *b;
    int bad = number(arg, &x, &end);
    if (!bad && *end == ':') bad = number(end + 1, &y, &end);
    if (bad || *end) return dt_seterr("%s '%s': expected a number A or a pair A:B, e.g. %s 0.5:2", opt, arg, opt);
    *a = x;
    *b = y;
    return 0;
}

int dt_arg_doubles(const char *opt, const char *arg, double **out, int *n)
{
    *out = NULL;
    *n = 0;
    int cap = 1;
    for (const char *p = arg; *p; p++) cap += *p == ',';
    double *v = dt_malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    const char *p = arg;
    char *end;
    for (int k = 0;; k++) {
        if (number(p, &v[k], &end) || (*end && *end != ',')) {
            free(v);
            return dt_seterr("%s '%s': expected comma-separated numbers, e.g. %s 0.25,0.5", opt, arg, opt);
        }
        if (!*end) {
            *out = v;
            *n = k + 1;
            return 0;
        }
        p = end + 1;
    }
}

int dt_arg_u64(const char *opt, const char *arg, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)*arg) ? strtoull(arg, &end, 10) : 0;
    if (!isdigit((unsigned char)*arg) || *end || errno)
        return dt_seterr("%s '%s': expected a whole number 0..18446744073709551615", opt, arg);
    *out = (uint64_t)v;
    return 0;
}

char *dt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = dt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void dt_strv_free(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int dt_natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (is_digit(*a) && is_digit(*b)) {
            /* Compare digit runs by value: skip leading zeros, then the
             * longer run is larger, then lexicographic.  Ties on value fall
             * back to the run with fewer leading zeros first. */
            const char *a0 = a, *b0 = b;
            while (*a == '0') a++;
            while (*b == '0') b++;
            const char *as = a, *bs = b;
            while (is_digit(*a)) a++;
            while (is_digit(*b)) b++;
            size_t la = (size_t)(a - as), lb = (size_t)(b - bs);
            if (la != lb) return la < lb ? -1 : 1;
            int c = memcmp(as, bs, la);
            if (c) return c < 0 ? -1 : 1;
            size_t za = (size_t)(as - a0), zb = (size_t)(bs - b0);
            if (za != zb) return za < zb ? -1 : 1;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    if (*a) return 1;
    if (*b) return -1;
    return 0;
}

int dt_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++) {
        char x = s[n - m + i], y = suffix[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return 1;
}

const char *dt_basename(const char *s)
{
    const char *p = strrchr(s, '/');
    return p ? p + 1 : s;
}

static char cmdline[8192];

void dt_set_cmdline(int argc, char **argv)
{
    size_t k = 0;
    cmdline[0] = 0;
    for (int i = 0; i < argc && k + 1 < sizeof cmdline; i++) {
        int quote = argv[i][strcspn(argv[i], " \t'\"$\\")] != 0 || !argv[i][0];
        int w = snprintf(cmdline + k, sizeof cmdline - k, quote ? "%s'%s'" : "%s%s",
                         i ? " " : "", argv[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

const char *dt_cmdline(void) { return cmdline; }

/* Temporary output names pending removal if a signal ends the run.  The
 * handler uses only async-signal-safe calls: unlink() for files; for a
 * directory, fork() and execve() of rm -rf, and waitpid(). */
#define MAX_PENDING 16
static char *volatile pending[MAX_PENDING];
static const char *volatile pending_dirs[MAX_PENDING];

static void on_signal(int sig)
{
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) unlink(pending[i]);
    for (int i = 0; i < MAX_PENDING; i++) {
        const char *d = pending_dirs[i];
        if (!d) continue;
        pid_t p = fork();
        if (p == 0) {
            char *const argv[] = {"rm", "-rf", "--", (char *)d, NULL}, *const envp[] = {NULL};
            execve("/bin/rm", argv, envp);
            _exit(127);
        }
        if (p > 0) waitpid(p, NULL, 0);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void);

int dt_pending_dir(const char *tmp, int add)
{
    install_handlers();
    for (int i = 0; i < MAX_PENDING; i++)
        if (add ? !pending_dirs[i] : pending_dirs[i] == tmp) {
            pending_dirs[i] = add ? tmp : NULL;
            return 0;
        }
    return add ? dt_seterr("%s: more than %d temporary directories at once; a signal could not remove this one", tmp, MAX_PENDING) : 0;
}

static int pending_add(char *name)
{
    install_handlers();
    for (int i = 0; i < MAX_PENDING; i++)
        if (!pending[i]) { pending[i] = name; return 0; }
    return dt_seterr("%s: more than %d temporary outputs at once; a signal could not remove this one", name, MAX_PENDING);
}

static void install_handlers(void)
{
    static int installed;
    if (!installed) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        /* a crash must not leave a temporary output behind either */
        signal(SIGSEGV, on_signal);
        signal(SIGBUS, on_signal);
        signal(SIGABRT, on_signal);
        installed = 1;
    }
}

static void pending_remove(const char *name)
{
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i] == name) pending[i] = NULL;
}

int dt_out_begin(dt_outfile *o, const char *path, int force)
{
    o->path = o->tmp = NULL;
    struct stat st;
    if (!force && stat(path, &st) == 0)
        return dt_seterr("%s: output already exists; remove it, choose another name, or pass --force", path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return dt_seterr("%s: output is a directory; give a file name", path);
    dt_remove_stale(path, 0);
    o->path = dt_strdup(path);
    o->tmp = dt_tmp_template(path);
    if (!o->path || !o->tmp) goto fail;
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        dt_seterr("%s: cannot write output (%s); choose a writable location", path, strerror(errno));
        goto fail;
    }
    close(fd);
    if (pending_add(o->tmp)) {
        unlink(o->tmp);
        goto fail;
    }
    return 0;
fail:
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return -1;
}

int dt_out_commit(dt_outfile *o)
{
    int rc = 0;
    /* mkstemp creates 0600; give the result the usual umask-based mode. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(o->tmp, 0666 & ~mask);
    if (rename(o->tmp, o->path) != 0) {
        rc = dt_seterr("%s: cannot rename %s into place (%s)", o->path, o->tmp, strerror(errno));
        unlink(o->tmp);
    }
    pending_remove(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return rc;
}

void dt_out_abort(dt_outfile *o)
{
    if (!o || !o->tmp) return;
    unlink(o->tmp);
    pending_remove(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
}

static struct timespec t0;

void dt_stats_start(void) { clock_gettime(CLOCK_MONOTONIC, &t0); }

void dt_stats_print(const char *stage)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    int ncpu = dt_default_threads();
    fprintf(stderr, "%s: wall %.2f s, cpu %.2f s, peak memory %.1f MB, %d CPU%s available\n", stage, wall, cpu,
            (double)ru.ru_maxrss / 1024.0, ncpu, ncpu == 1 ? "" : "s");
}

int dt_read_file(const char *path, uint8_t **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return dt_seterr("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dt_seterr("%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *b = dt_malloc(size);
    if (!b) { fclose(f); return -1; }
    if (fread(b, 1, size, f) != size) {
        free(b);
        fclose(f);
        return dt_seterr("%s: read error", path);
    }
    fclose(f);
    *buf = b;
    *n = size;
    return 0;
}

typedef struct {
    void (*fn)(void *, int);
    void *ctx;
    int i, n, stride;
} par_arg;

/* items i, i + stride, ... below n */
static void *par_main(void *a)
{
    par_arg *p = a;
    for (int i = p->i; i < p->n; i += p->stride) p->fn(p->ctx, i);
    return NULL;
}

void dt_parallel(int n, void (*fn)(void *ctx, int i), void *ctx)
{
    if (n <= 1) {
        if (n == 1) fn(ctx, 0);
        return;
    }
    enum { MAXT = 64 };
    pthread_t th[MAXT];
    par_arg args[MAXT];
    int started[MAXT] = {0}, T = n < MAXT ? n : MAXT; /* beyond 64 threads, each runs every 64th item */
    T = dt_room_threads(T); /* under a memory limit, only threads whose BLAS buffer fits */
    for (int t = 0; t < T; t++) args[t] = (par_arg){fn, ctx, t, n, T};
    for (int t = 1; t < T; t++) {
        started[t] = pthread_create(&th[t], NULL, par_main, &args[t]) == 0;
        if (!started[t]) par_main(&args[t]); /* run them here rather than lose them */
    }
    par_main(&args[0]);
    for (int t = 1; t < T; t++)
        if (started[t]) pthread_join(th[t], NULL);
}

uint64_t dt_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double dt_unif(uint64_t *s) { return ((double)(dt_splitmix(s) >> 11) + 0.5) * 0x1.0p-53; }
