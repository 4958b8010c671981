/* outdir.c — output directories (see util.h): nftw needs X/Open. */
#define _XOPEN_SOURCE 700
#include "util.h"

#include <errno.h>
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

int dt_dir_commit(const char *tmp, const char *path)
{
    char old[4200];
    struct stat st;
    int had = stat(path, &st) == 0;
    snprintf(old, sizeof old, "%s.old.%ld", path, (long)getpid());
    if ((had && rename(path, old)) || rename(tmp, path)) return dt_seterr("%s: cannot rename (%s)", path, strerror(errno));
    if (had) dt_rmtree(old);
    return 0;
}
