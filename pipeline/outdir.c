/* outdir.c — output directories, and the names of temporary outputs and
 * the removal of those a killed run left behind (see util.h): nftw needs
 * X/Open. */
#define _XOPEN_SOURCE 700
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* This machine's name as it appears in temporary names: the first label of
 * the host name, letters, digits, '-' and '_' only (never '.'), so a run
 * on another machine sharing the file system is never taken for dead. */
static void host_label(char out[40])
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0) h[0] = 0;
    size_t k = 0;
    for (const char *p = h; *p && *p != '.' && k < 32; p++)
        out[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ? *p : '_';
    if (!k) k = (size_t)snprintf(out, 40, "host");
    out[k] = 0;
}

char *dt_tmp_template(const char *path)
{
    char host[40];
    host_label(host);
    size_t n = strlen(path) + strlen(host) + 48;
    char *t = dt_malloc(n);
    if (t) snprintf(t, n, "%s.tmp.%s.%ld.XXXXXX", path, host, (long)getpid());
    return t;
}

/* The pid in a temporary name of `base` made by dt_tmp_template on this
 * machine ("BASE.tmp.HOST.PID.XXXXXX", the X's letters or digits), or 0
 * when `name` is anything else. */
static long tmp_owner(const char *name, const char *base, const char *host)
{
    size_t lb = strlen(base), lh = strlen(host);
    if (strncmp(name, base, lb) || strncmp(name + lb, ".tmp.", 5) || strncmp(name + lb + 5, host, lh) || name[lb + 5 + lh] != '.')
        return 0;
    const char *p = name + lb + 5 + lh + 1;
    long pid = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++) pid = pid * 10 + (*p - '0');
    if (!digits || *p++ != '.' || strlen(p) != 6) return 0;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return 0;
    return pid;
}

void dt_remove_stale(const char *path, int dirs)
{
    char host[40];
    host_label(host);
    const char *base = dt_basename(path);
    size_t ld = (size_t)(base - path);
    char *dir = dt_malloc(ld + 2);
    if (!dir) return;
    if (ld) snprintf(dir, ld + 1, "%s", path); /* keeps the '/', so "/" stays the root */
    else snprintf(dir, 2, ".");
    DIR *d = *base ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = tmp_owner(e->d_name, base, host);
        /* only a run that is gone: kill(pid, 0) fails with ESRCH.  Ours,
         * a live one, or one we may not signal (EPERM) is left alone. */
        if (pid <= 0 || pid == (long)getpid() || (pid_t)pid != pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *f = dt_malloc(n);
        if (!f) break;
        snprintf(f, n, "%s%s%s", dir, ld ? "" : "/", e->d_name);
        struct stat st;
        if (lstat(f, &st) == 0) {
            if (!dirs && S_ISREG(st.st_mode)) unlink(f);
            else if (dirs && S_ISDIR(st.st_mode)) dt_rmtree(f);
        }
        free(f);
    }
    if (d) closedir(d);
    free(dir);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb; (void)flag; (void)f;
    return remove(path);
}

int dt_rmtree(const char *path) { return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

int dt_dir_swap(const char *tmp, const char *path, char **old)
{
    struct stat st;
    *old = NULL;
    if (stat(path, &st) == 0) {
        size_t n = strlen(path) + 32;
        *old = dt_malloc(n);
        if (!*old) return -1;
        snprintf(*old, n, "%s.old.%ld", path, (long)getpid());
        if (rename(path, *old)) {
            dt_seterr("%s: cannot move the older directory aside (%s)", path, strerror(errno));
            free(*old);
            *old = NULL;
            return -1;
        }
    }
    if (rename(tmp, path)) {
        int e = errno;
        if (*old && rename(*old, path) != 0)
            dt_seterr("%s: cannot rename %s into place (%s); the older directory is now %s", path, tmp, strerror(e), *old);
        else
            dt_seterr("%s: cannot rename %s into place (%s)", path, tmp, strerror(e));
        free(*old);
        *old = NULL;
        return -1;
    }
    dt_pending_dir(tmp, 0);
    return 0;
}

void dt_dir_settle(const char *path, char *old, int ok)
{
    if (!ok) {
        dt_rmtree(path);
        if (old && rename(old, path) != 0) { /* add to the file's error where the older directory is */
            char why[1024];
            snprintf(why, sizeof why, "%s", dt_lasterr());
            dt_seterr("%s; and the older %s could not be put back: it is %s", why, path, old);
        }
    } else if (old) {
        dt_rmtree(old);
    }
    free(old);
}

int dt_dir_commit(const char *tmp, const char *path)
{
    char *old;
    if (dt_dir_swap(tmp, path, &old)) return -1;
    dt_dir_settle(path, old, 1);
    return 0;
}

int dt_commit_with_dir(dt_outfile *of, char **tmpdir, const char *path)
{
    char *old = NULL;
    int swapped = 0;
    if (*tmpdir) {
        if (dt_dir_swap(*tmpdir, path, &old)) return -1;
        free(*tmpdir);
        *tmpdir = NULL;
        swapped = 1;
    }
    int rc = dt_out_commit(of);
    if (swapped) dt_dir_settle(path, old, rc == 0);
    return rc;
}

void dt_dir_abort(char *tmp)
{
    if (!tmp) return;
    dt_rmtree(tmp);
    dt_pending_dir(tmp, 0);
    free(tmp);
}

int dt_dir_begin(const char *path, int force, const char *what, char **final, char **tmp)
{
    *final = *tmp = NULL;
    char *p = dt_strdup(path);
    if (!p) return -1;
    for (size_t l = strlen(p); l > 1 && p[l - 1] == '/'; l--) p[l - 1] = 0;
    struct stat st;
    if (!force && stat(p, &st) == 0) {
        dt_seterr("%s: already exists; remove it, choose another %s, or pass --force", p, what);
        free(p);
        return -1;
    }
    dt_remove_stale(p, 1);
    char *t = dt_tmp_template(p);
    if (!t) { free(p); return -1; }
    if (!mkdtemp(t)) {
        dt_seterr("%s: cannot create (%s)", p, strerror(errno));
        free(p);
        free(t);
        return -1;
    }
    mode_t um = umask(0);   /* mkdtemp makes 0700; give it the usual permissions */
    umask(um);
    chmod(t, 0777 & ~um);
    if (dt_pending_dir(t, 1)) {
        rmdir(t);
        free(p);
        free(t);
        return -1;
    }
    *final = p;
    *tmp = t;
    return 0;
}
