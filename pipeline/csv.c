/* csv.c — reader for numeric 2-D tables in text form, and the dispatcher
 * dt_array_load() that picks a reader from the file name. */
#include "array.h"
#include "h5io.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parse one field [s, e) as a number; NaN for empty/"nan"/"na".  Returns 0
 * if the field is not numeric. */
static int parse_field(const char *s, const char *e, double *out)
{
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (s < e && (*s == '"' || *s == '\'') && e - s >= 2 && e[-1] == *s) { s++; e--; }
    size_t n = (size_t)(e - s);
    if (n == 0 || (n == 2 && strncasecmp(s, "na", 2) == 0) || (n == 3 && strncasecmp(s, "nan", 3) == 0)) {
        *out = NAN;
        return 1;
    }
    char tmp[64];
    if (n >= sizeof tmp) return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    *out = strtod(tmp, &end);
    return *end == 0;
}

int csv_read(const char *path, dt_array *a)
{
    memset(a, 0, sizeof *a);
    uint8_t *buf = NULL;
    size_t n;
    if (dt_read_file(path, &buf, &n) != 0) return -1;
    /* the parser below stops at a NUL, which would drop the rows after it */
    if (memchr(buf, 0, n)) {
        free(buf);
        return dt_seterr("%s: holds a NUL byte, so it is not a text table; save the responses as .csv text or .npy", path);
    }
    char *text = dt_malloc(n + 1);
    if (!text) { free(buf); return -1; }
    memcpy(text, buf, n);
    text[n] = 0;
    free(buf);

    char sep = strchr(text, ',') ? ',' : strchr(text, '\t') ? '\t' : ' ';
    size_t cap = 1024, used = 0, ncol = 0, nrow = 0;
    double *v = dt_malloc(cap * sizeof(double));
    if (!v) { free(text); return -1; }
    size_t lineno = 0;
    char *line = text;
    while (*line) {
        char *eol = strchr(line, '\n');
        char *next = eol ? eol + 1 : line + strlen(line);
        if (eol) *eol = 0;
        if (eol > line && eol[-1] == '\r') eol[-1] = 0;
        lineno++;
        char *s = line;
        line = next;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == 0 || *s == '#') continue;
        /* split */
        size_t k = 0, start = used;
        int numeric = 1;
        const char *f = s;
        for (;;) {
            const char *e = f;
            if (sep == ' ') { while (*e && !isspace((unsigned char)*e)) e++; }
            else { while (*e && *e != sep) e++; }
            if (used == cap) {
                cap *= 2;
                double *nv = realloc(v, cap * sizeof(double));
                if (!nv) { free(v); free(text); return dt_seterr("%s: out of memory", path); }
                v = nv;
            }
            if (!parse_field(f, e, &v[used])) numeric = 0;
            used++;
            k++;
            if (!*e) break;
            f = e + 1;
            if (sep == ' ') {
                while (*f && isspace((unsigned char)*f)) f++;
                if (!*f) break;
            }
        }
        if (!numeric) {
            if (nrow == 0 && ncol == 0 && lineno == 1) { used = start; continue; } /* header */
            free(v); free(text);
            return dt_seterr("%s: line %zu has a non-numeric field; only the first line may be a header", path, lineno);
        }
        if (nrow == 0) ncol = k;
        else if (k != ncol) {
            free(v); free(text);
            return dt_seterr("%s: line %zu has %zu fields, expected %zu like the first row", path, lineno, k, ncol);
        }
        nrow++;
    }
    free(text);
    if (nrow == 0) { free(v); return dt_seterr("%s: no numeric rows", path); }
    a->v = v;
    a->rank = 2;
    a->dim[0] = nrow;
    a->dim[1] = ncol;
    return 0;
}

int dt_array_load(const char *spec, const char *default_dset, dt_array *a)
{
    memset(a, 0, sizeof *a);
    /* "file.h5:/path" — split at the last ':' following an HDF5 suffix. */
    const char *exts[] = {".h5:", ".hdf5:", ".hdf:"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        const char *p = strstr(spec, exts[i]);
        if (p) {
            size_t flen = (size_t)(p - spec) + strlen(exts[i]) - 1;
            char *file = dt_malloc(flen + 1);
            if (!file) return -1;
            memcpy(file, spec, flen);
            file[flen] = 0;
            int rc = h5_read_array(file, spec + flen + 1, a);
            free(file);
            return rc;
        }
    }
    if (dt_has_suffix(spec, ".npy")) return npy_read(spec, a);
    if (dt_has_suffix(spec, ".csv") || dt_has_suffix(spec, ".tsv") || dt_has_suffix(spec, ".txt"))
        return csv_read(spec, a);
    if (dt_has_suffix(spec, ".h5") || dt_has_suffix(spec, ".hdf5") || dt_has_suffix(spec, ".hdf"))
        return h5_read_array(spec, default_dset, a);
    return dt_seterr("%s: unknown file type; use .npy, .csv, or FILE.h5:DATASET", spec);
}
