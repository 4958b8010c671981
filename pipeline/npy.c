/* npy.c — reader for NumPy's .npy format (format versions 1.0, 2.0, 3.0).
 * Format: numpy/lib/format.py docstring ("magic string, version, header
 * length, then a Python dict literal with descr, fortran_order, shape"). */
#include "array.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dt_array_count(const dt_array *a)
{
    size_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= a->dim[i];
    return n;
}

void dt_array_free(dt_array *a)
{
    if (!a) return;
    free(a->v);
    a->v = NULL;
    a->rank = 0;
}

/* Find `'key':` in the header dict and return a pointer to its value. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p)) p++;
    if (*p != ':') return NULL;
    p++;
    while (isspace((unsigned char)*p)) p++;
    return p;
}

static double load_elem(const uint8_t *p, char kind, int size, int swap)
{
    uint8_t b[8];
    for (int i = 0; i < size; i++) b[i] = swap ? p[size - 1 - i] : p[i];
    switch (kind) {
    case 'f':
        if (size == 4) { float f; memcpy(&f, b, 4); return f; }
        { double d; memcpy(&d, b, 8); return d; }
    case 'i':
        switch (size) {
        case 1: { int8_t x; memcpy(&x, b, 1); return x; }
        case 2: { int16_t x; memcpy(&x, b, 2); return x; }
        case 4: { int32_t x; memcpy(&x, b, 4); return x; }
        default: { int64_t x; memcpy(&x, b, 8); return (double)x; }
        }
    default: /* 'u' and 'b' */
        switch (size) {
        case 1: return b[0];
        case 2: { uint16_t x; memcpy(&x, b, 2); return x; }
        case 4: { uint32_t x; memcpy(&x, b, 4); return x; }
        default: { uint64_t x; memcpy(&x, b, 8); return (double)x; }
        }
    }
}

int npy_read(const char *path, dt_array *a)
{
    memset(a, 0, sizeof *a);
    uint8_t *buf = NULL;
    size_t n = 0;
    char *hdr = NULL;
    if (dt_read_file(path, &buf, &n) != 0) return -1;
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        dt_seterr("%s: not a .npy file (bad magic); save it with numpy.save", path);
        goto fail;
    }
    int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) { dt_seterr("%s: corrupt .npy header (truncated)", path); goto fail; }
        hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        dt_seterr("%s: unsupported .npy format version %d; save it with numpy.save", path, major);
        goto fail;
    }
    if (off + hlen > n) { dt_seterr("%s: corrupt .npy header (header longer than file)", path); goto fail; }
    hdr = dt_malloc(hlen + 1);
    if (!hdr) goto fail;
    memcpy(hdr, buf + off, hlen);
    hdr[hlen] = 0;

    const char *d = dict_value(hdr, "descr"), *fo = dict_value(hdr, "fortran_order"),
               *sh = dict_value(hdr, "shape");
    if (!d || !fo || !sh || (*d != '\'' && *d != '"')) {
        dt_seterr("%s: corrupt .npy header (needs descr, fortran_order and shape)", path);
        goto fail;
    }
    char descr[16] = {0};
    size_t dl = strcspn(d + 1, "'\"");
    if (dl == 0 || dl >= sizeof descr || d[1 + dl] == 0) {
        dt_seterr("%s: corrupt .npy header (bad descr)", path);
        goto fail;
    }
    memcpy(descr, d + 1, dl);
    char order = descr[0];
    char kind = descr[1];
    int size = atoi(descr + 2);
    int ok = (order == '<' || order == '>' || order == '|' || order == '=') &&
             ((kind == 'f' && (size == 4 || size == 8)) ||
              ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
              (kind == 'b' && size == 1)) && descr[2 + strspn(descr + 2, "0123456789")] == 0;
    if (!ok) {
        dt_seterr("%s: unsupported dtype '%s'; convert it to float64, float32 or an integer type", path, descr);
        goto fail;
    }
    uint16_t probe = 1;
    int little = *(uint8_t *)&probe == 1;
    int swap = size > 1 && ((order == '>' && little) || (order == '<' && !little));
    int fortran;
    if (strncmp(fo, "True", 4) == 0) fortran = 1;
    else if (strncmp(fo, "False", 5) == 0) fortran = 0;
    else { dt_seterr("%s: corrupt .npy header (bad fortran_order)", path); goto fail; }

    if (*sh != '(') { dt_seterr("%s: corrupt .npy header (bad shape)", path); goto fail; }
    const char *p = sh + 1;
    a->rank = 0;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) { dt_seterr("%s: corrupt .npy header (bad shape)", path); goto fail; }
        if (a->rank == DT_MAXRANK) { dt_seterr("%s: arrays of more than %d dimensions are not supported", path, DT_MAXRANK); goto fail; }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || (unsigned long long)(size_t)v != v) { dt_seterr("%s: corrupt .npy header (shape too large)", path); goto fail; }
        a->dim[a->rank++] = (size_t)v;
        p = end;
        while (isspace((unsigned char)*p)) p++;
        if (*p == ',') p++;
    }
    /* The element count must not wrap around, or a forged shape could match
     * the file's length; the product of the non-zero dimensions must fit
     * too, since readers multiply dimensions in other orders. */
    size_t nonzero = 1;
    int empty = 0;
    for (int k = 0; k < a->rank; k++) {
        if (!a->dim[k]) { empty = 1; continue; }
        if (nonzero > SIZE_MAX / sizeof(double) / a->dim[k]) {
            dt_seterr("%s: corrupt .npy header (shape too large)", path);
            goto fail;
        }
        nonzero *= a->dim[k];
    }
    size_t count = empty ? 0 : nonzero;
    off += hlen;
    if (count > (n - off) / (size_t)size || off + count * (size_t)size != n) {
        dt_seterr("%s: corrupt .npy file (header says %zu elements of %d bytes, file holds %zu data bytes)",
                  path, count, size, n - off);
        goto fail;
    }
    a->v = dt_malloc(count * sizeof(double));
    if (!a->v) goto fail;
    const uint8_t *data = buf + off;
    if (!fortran || a->rank < 2) {
        for (size_t i = 0; i < count; i++) a->v[i] = load_elem(data + i * (size_t)size, kind, size, swap);
    } else {
        /* Fortran order: element with index (i0,…,ik) is at
         * i0 + d0*(i1 + d1*(…)); walk the C-order index and map it. */
        size_t idx[DT_MAXRANK] = {0};
        for (size_t c = 0; c < count; c++) {
            size_t f = 0;
            for (int k = a->rank - 1; k >= 0; k--) f = f * a->dim[k] + idx[k];
            a->v[c] = load_elem(data + f * (size_t)size, kind, size, swap);
            for (int k = a->rank - 1; k >= 0; k--) {
                if (++idx[k] < a->dim[k]) break;
                idx[k] = 0;
            }
        }
    }
    free(hdr);
    free(buf);
    return 0;
fail:
    free(hdr);
    free(buf);
    dt_array_free(a);
    return -1;
}
