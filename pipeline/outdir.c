/* outdir.c — output directories (see util.h): nftw needs X/Open. */
#define _XOPEN_SOURCE 700
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    size_t n = strlen(p) + 16;
    char *t = dt_malloc(n);
    if (!t) { free(p); return -1; }
    snprintf(t, n, "%s.tmp.XXXXXX", p);
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
