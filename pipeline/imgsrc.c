/* imgsrc.c — see imgsrc.h. */
#include "imgsrc.h"
#include "utf8.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_image_name(const char *name)
{
    const char *b = dt_basename(name);
    if (b[0] == '.' || b[0] == 0 || strstr(name, "__MACOSX/")) return 0;
    return dt_has_suffix(b, ".png") || dt_has_suffix(b, ".jpg") || dt_has_suffix(b, ".jpeg");
}

struct named { char *name; size_t member; };

static int cmp_named(const void *a, const void *b)
{
    return dt_natcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names go into the dataset as UTF-8 strings and must name one image each:
 * refuse a name that is not UTF-8 and a zip member that appears twice. */
static int check_names(const char *path, int is_zip, const struct named *v, size_t n)
{
    char esc[600];
    for (size_t i = 0; i < n; i++)
        if (!dt_utf8_valid(v[i].name)) {
            dt_escape(v[i].name, esc, sizeof esc);
            return is_zip ? dt_seterr("%s: entry name '%s' is not valid UTF-8; rename it and re-create the zip with UTF-8 names", path, esc)
                          : dt_seterr("%s: file name '%s' is not valid UTF-8; rename the file", path, esc);
        }
    char **sorted = dt_malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return dt_seterr("%s: out of memory listing images", path);
    for (size_t i = 0; i < n; i++) sorted[i] = v[i].name;
    qsort(sorted, n, sizeof *sorted, cmp_str);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            dt_escape(sorted[i], esc, sizeof esc);
            rc = dt_seterr("%s: entry '%s' appears more than once; remove the duplicate and re-create the zip", path, esc);
        }
    free(sorted);
    return rc;
}

void imgsrc_close(dt_imgsrc *s)
{
    if (!s) return;
    zip_close(&s->zip);
    dt_strv_free(s->names, s->n);
    free(s->member);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int imgsrc_open(dt_imgsrc *s, const char *path)
{
    memset(s, 0, sizeof *s);
    struct stat st;
    if (stat(path, &st) != 0) return dt_seterr("%s: no such file or directory", path);
    struct named *v = NULL;
    size_t n = 0, cap = 0;
    s->path = dt_strdup(path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) { imgsrc_close(s); return dt_seterr("%s: cannot read directory (%s)", path, strerror(errno)); }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!is_image_name(e->d_name)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                struct named *nv = realloc(v, cap * sizeof *v);
                if (!nv) { closedir(d); goto oom; }
                v = nv;
            }
            v[n].name = dt_strdup(e->d_name);
            v[n].member = 0;
            if (!v[n].name) { closedir(d); goto oom; }
            n++;
        }
        closedir(d);
    } else {
        if (zip_open(&s->zip, path) != 0) { imgsrc_close(s); return -1; }
        s->is_zip = 1;
        v = dt_calloc(s->zip.n ? s->zip.n : 1, sizeof *v);
        if (!v) goto oom;
        for (size_t i = 0; i < s->zip.n; i++) {
            const char *nm = s->zip.e[i].name;
            if (nm[0] && nm[strlen(nm) - 1] == '/') continue;   /* directory entry */
            if (!is_image_name(nm)) continue;
            v[n].name = dt_strdup(nm);
            if (!v[n].name) goto oom;
            v[n++].member = i;
        }
    }
    if (n == 0) {
        free(v);
        imgsrc_close(s);
        return dt_seterr("%s: no .png or .jpg images found", path);
    }
    if (check_names(path, s->is_zip, v, n)) {
        for (size_t i = 0; i < n; i++) free(v[i].name);
        free(v);
        imgsrc_close(s);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_named);
    s->names = dt_calloc(n, sizeof *s->names);
    s->member = dt_calloc(n, sizeof *s->member);
    if (!s->names || !s->member) goto oom;
    for (size_t i = 0; i < n; i++) {
        s->names[i] = v[i].name;
        s->member[i] = v[i].member;
    }
    s->n = n;
    free(v);
    return 0;
oom:
    for (size_t i = 0; v && i < n; i++) free(v[i].name);
    free(v);
    imgsrc_close(s);
    return dt_seterr("%s: out of memory listing images", path);
}

int imgsrc_load(dt_imgsrc *s, size_t i, dt_image *im)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    char label[4096];
    int rc;
    if (s->is_zip) {
        if (zip_read(&s->zip, s->member[i], &buf, &n) != 0) return -1;
        snprintf(label, sizeof label, "%s: %s", s->path, s->names[i]);
    } else {
        snprintf(label, sizeof label, "%s/%s", s->path, s->names[i]);
        if (dt_read_file(label, &buf, &n) != 0) return -1;
    }
    rc = image_decode(buf, n, label, im);
    free(buf);
    return rc;
}
