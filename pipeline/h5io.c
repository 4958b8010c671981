/* h5io.c — see h5io.h.  Pattern: handles start invalid, each call is
 * checked, and one exit path closes what was opened. */
#include "h5io.h"
#include "array.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t h5_create(const char *path)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0) dt_seterr("%s: cannot create HDF5 file", path);
    return f;
}

hid_t h5_open_ro(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        dt_seterr("%s: cannot open (no such file or not readable)", path);
        return H5I_INVALID_HID;
    }
    fclose(fp);
    if (H5Fis_hdf5(path) <= 0) {
        dt_seterr("%s: not an HDF5 file", path);
        return H5I_INVALID_HID;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) dt_seterr("%s: cannot open HDF5 file (corrupt or truncated?)", path);
    return f;
}

int h5_provenance(hid_t file, const char *format, int version)
{
    if (h5_attr_str(file, "format", format) || h5_attr_i64(file, "format_version", version) ||
        h5_attr_str(file, "deeptune_version", DEEPTUNE_VERSION) ||
        h5_attr_str(file, "command_line", dt_cmdline()))
        return -1;
    return 0;
}

static int attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hid_t space, const void *v)
{
    int rc = -1;
    hid_t a = H5I_INVALID_HID;
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    if (H5Awrite(a, mtype, v) < 0) goto done;
    rc = 0;
done:
    if (a >= 0) H5Aclose(a);
    if (rc) dt_seterr("cannot write attribute '%s'", name);
    return rc;
}

int h5_attr_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = attr_write(loc, name, t, t, s, &value);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

int h5_attr_i64(hid_t loc, const char *name, int64_t value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, s, &value);
    H5Sclose(s);
    return rc;
}

int h5_attr_f64(hid_t loc, const char *name, double value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s, &value);
    H5Sclose(s);
    return rc;
}

int h5_attr_f64v(hid_t loc, const char *name, size_t n, const double *v)
{
    hsize_t d = n;
    hid_t s = H5Screate_simple(1, &d, NULL);
    int rc = attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s, v);
    H5Sclose(s);
    return rc;
}

int h5_has_attr(hid_t loc, const char *name) { return H5Aexists(loc, name) > 0; }

int h5_copy_attr(hid_t src, hid_t dst, const char *name)
{
    if (H5Aexists(src, name) <= 0) return dt_seterr("attribute '%s' is missing", name);
    hid_t a = H5Aopen(src, name, H5P_DEFAULT), t = H5Aget_type(a), s = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    int scalar = H5Sget_simple_extent_type(s) == H5S_SCALAR;
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    if (cls == H5T_STRING) {
        char *v = h5_attr_get_str(src, name);
        int rc = v ? h5_attr_str(dst, name, v) : -1;
        free(v);
        return rc;
    }
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || np < 1 || np > 64) return dt_seterr("attribute '%s' cannot be copied", name);
    double v[64];
    size_t got = 0;
    if (h5_attr_get_f64v(src, name, 64, v, &got)) return -1;
    if (cls == H5T_INTEGER && scalar) return h5_attr_i64(dst, name, (int64_t)v[0]);
    return scalar ? h5_attr_f64(dst, name, v[0]) : h5_attr_f64v(dst, name, got, v);
}

char *h5_attr_get_str(hid_t loc, const char *name)
{
    char *out = NULL;
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID, s = H5I_INVALID_HID;
    if (H5Aexists(loc, name) <= 0) { dt_seterr("attribute '%s' is missing", name); return NULL; }
    a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) goto done;
    t = H5Aget_type(a);
    s = H5Aget_space(a);
    if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
        dt_seterr("attribute '%s' is not a single string", name);
        goto done;
    }
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t)); /* no conversion path between charsets */
    if (H5Tis_variable_str(t) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0 || !v) goto done;
        out = dt_strdup(v);
        H5free_memory(v);
    } else {
        size_t n = H5Tget_size(t);
        H5Tset_size(mt, n + 1);
        out = dt_calloc(n + 2, 1);
        if (out && H5Aread(a, mt, out) < 0) { free(out); out = NULL; }
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!out && a >= 0) dt_seterr("cannot read string attribute '%s'", name);
    return out;
}

int h5_attr_get_f64v(hid_t loc, const char *name, size_t n, double *v, size_t *got)
{
    int rc = -1;
    hid_t a = H5I_INVALID_HID, s = H5I_INVALID_HID, t = H5I_INVALID_HID;
    if (H5Aexists(loc, name) <= 0) return dt_seterr("attribute '%s' is missing", name);
    a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) goto done;
    s = H5Aget_space(a);
    t = H5Aget_type(a);
    H5T_class_t c = H5Tget_class(t);
    if (c != H5T_INTEGER && c != H5T_FLOAT) { dt_seterr("attribute '%s' is not numeric", name); goto done; }
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (np < 0) goto done;
    if (got) *got = (size_t)np;
    if ((size_t)np > n) { dt_seterr("attribute '%s' has %lld values, expected at most %zu", name, (long long)np, n); goto done; }
    if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) goto done;
    rc = 0;
done:
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (a >= 0) H5Aclose(a);
    return rc;
}

int h5_attr_get_i64(hid_t loc, const char *name, int64_t *v)
{
    double d;
    size_t got = 0;
    if (h5_attr_get_f64v(loc, name, 1, &d, &got) || got != 1) return dt_seterr("attribute '%s' is not a number", name);
    /* converting a double outside int64's range (or NaN) is undefined */
    if (!(d >= -0x1p63 && d < 0x1p63)) return dt_seterr("attribute '%s' is not an integer in range (%g)", name, d);
    *v = (int64_t)d;
    return 0;
}

/* Create the missing parent groups of `name`, with time tracking off (the
 * link-creation "intermediate group" property would record times). */
static int ensure_parents(hid_t loc, const char *name)
{
    char buf[1024];
    if (strlen(name) >= sizeof buf) return dt_seterr("path too long: %s", name);
    strcpy(buf, name);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    int rc = 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) {
            hid_t g = H5Gcreate2(loc, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0) { rc = dt_seterr("cannot create group '%s'", buf); *p = '/'; break; }
            H5Gclose(g);
        }
        *p = '/';
    }
    H5Pclose(gcpl);
    return rc;
}

static hid_t make_lcpl(void)
{
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(l, 1);
    H5Pset_char_encoding(l, H5T_CSET_UTF8);
    return l;
}

hid_t h5_create_chunked(hid_t loc, const char *name, hid_t file_type, int rank, const hsize_t *dims,
                        hsize_t chunk0, int compress)
{
    if (ensure_parents(loc, name)) return H5I_INVALID_HID;
    hid_t d = H5I_INVALID_HID, s = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = make_lcpl();
    s = H5Screate_simple(rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    size_t esize = H5Tget_size(file_type), row = esize;
    for (int i = 1; i < rank; i++) row *= (size_t)dims[i];
    if (rank > 0 && dims[0] > 0 && row > 0 && (compress || chunk0)) {
        hsize_t c[8];
        for (int i = 0; i < rank; i++) c[i] = dims[i];
        if (!chunk0) {
            chunk0 = (hsize_t)((1u << 20) / row);
            if (chunk0 < 1) chunk0 = 1;
        }
        c[0] = chunk0 < dims[0] ? chunk0 : dims[0];
        /* HDF5 chunks are limited to 4 GiB; a single row larger than that
         * stays contiguous. */
        if ((double)row * (double)c[0] < 4e9) {
            H5Pset_chunk(dcpl, rank, c);
            if (compress) {
                if (esize > 1) H5Pset_shuffle(dcpl);
                H5Pset_deflate(dcpl, 1);
            }
        }
    }
    d = H5Dcreate2(loc, name, file_type, s, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0) dt_seterr("cannot create dataset '%s'", name);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(s);
    return d;
}

int h5_write_rows(hid_t dset, hid_t mem_type, hsize_t row, hsize_t nrows, const void *data)
{
    int rc = -1;
    hid_t fs = H5Dget_space(dset), ms = H5I_INVALID_HID;
    hsize_t dims[8], start[8] = {0}, count[8];
    int rank = H5Sget_simple_extent_dims(fs, dims, NULL);
    for (int i = 0; i < rank; i++) count[i] = dims[i];
    start[0] = row;
    count[0] = nrows;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    ms = H5Screate_simple(rank, count, NULL);
    if (H5Dwrite(dset, mem_type, ms, fs, H5P_DEFAULT, data) < 0) goto done;
    rc = 0;
done:
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs);
    if (rc) dt_seterr("cannot write rows %llu..%llu", (unsigned long long)row, (unsigned long long)(row + nrows));
    return rc;
}

int h5_read_rows(hid_t loc, const char *name, hid_t mem_type, hsize_t row, hsize_t nrows, void *out)
{
    int rc = -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT), fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    if (ds < 0) return dt_seterr("dataset '%s' is missing", name);
    fs = H5Dget_space(ds);
    hsize_t dims[8], start[8] = {0}, count[8];
    int rank = H5Sget_simple_extent_dims(fs, dims, NULL);
    if (rank < 1 || rank > 8 || row + nrows > dims[0]) goto done;
    for (int i = 0; i < rank; i++) count[i] = dims[i];
    start[0] = row;
    count[0] = nrows;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    ms = H5Screate_simple(rank, count, NULL);
    if (H5Dread(ds, mem_type, ms, fs, H5P_DEFAULT, out) < 0) goto done;
    rc = 0;
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(ds);
    if (rc) dt_seterr("cannot read rows %llu..%llu of '%s'", (unsigned long long)row, (unsigned long long)(row + nrows), name);
    return rc;
}

int h5_is_format(hid_t f, const char *format)
{
    char *fmt = h5_has_attr(f, "format") ? h5_attr_get_str(f, "format") : NULL;
    int ok = fmt && !strcmp(fmt, format);
    free(fmt);
    return ok;
}

hid_t h5_open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) dt_seterr("%s: cannot open for writing as HDF5", path);
    return f;
}

int h5_write(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank, const hsize_t *dims,
             const void *data, int compress)
{
    hid_t d = h5_create_chunked(loc, name, file_type, rank, dims, 0, compress);
    if (d < 0) return -1;
    int rc = 0;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    if (n > 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = dt_seterr("cannot write dataset '%s'", name);
    H5Dclose(d);
    return rc;
}

int h5_write_strings(hid_t loc, const char *name, size_t n, char *const *s)
{
    int rc = -1;
    if (ensure_parents(loc, name)) return -1;
    hsize_t d = n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &d, NULL), lcpl = make_lcpl(),
          dcpl = H5Pcreate(H5P_DATASET_CREATE), ds = H5I_INVALID_HID;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    H5Pset_obj_track_times(dcpl, 0);
    ds = H5Dcreate2(loc, name, t, sp, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0) goto done;
    if (n > 0 && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) goto done;
    rc = 0;
done:
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(t);
    if (rc) dt_seterr("cannot write string dataset '%s'", name);
    return rc;
}

char **h5_read_strings(hid_t loc, const char *name, size_t *n)
{
    char **out = NULL;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    *n = 0;
    ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { dt_seterr("dataset '%s' is missing", name); goto done; }
    sp = H5Dget_space(ds);
    t = H5Dget_type(ds);
    if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_ndims(sp) != 1) {
        dt_seterr("dataset '%s' is not a 1-D string array", name);
        goto done;
    }
    hsize_t len;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Tis_variable_str(t) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char **v = dt_calloc(len, sizeof *v);
        if (!v) goto done;
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) { free(v); dt_seterr("cannot read '%s'", name); goto done; }
        out = dt_calloc(len, sizeof *out);
        for (hsize_t i = 0; out && i < len; i++) out[i] = dt_strdup(v[i] ? v[i] : "");
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        free(v);
    } else {
        size_t w = H5Tget_size(t);
        H5Tset_size(mt, w + 1);
        char *flat = dt_calloc(len, w + 1);
        if (!flat) goto done;
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat) < 0) { free(flat); dt_seterr("cannot read '%s'", name); goto done; }
        out = dt_calloc(len, sizeof *out);
        for (hsize_t i = 0; out && i < len; i++) out[i] = dt_strdup(flat + i * (w + 1));
        free(flat);
    }
    if (out) *n = (size_t)len;
done:
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return out;
}

int h5_exists(hid_t loc, const char *path)
{
    /* H5Lexists needs every intermediate link to exist: walk the path. */
    char buf[1024];
    if (strlen(path) >= sizeof buf) return 0;
    strcpy(buf, path);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            if (buf[0] && strcmp(buf, "/") != 0 && H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            if (c == 0) break;
            *p = '/';
        }
    }
    return 1;
}

/* Callers allocate what a dataset declares, so the declared size must be
 * backed by the data in the file: a few hundred bytes of HDF5 can declare
 * terabytes of never-written elements (fill values).  Deflate expands at
 * most 1032 times (RFC 1951), and up to 16 MiB may be unwritten, so no
 * dataset deeptune or h5py writes is refused.  *declared: the bytes. */
static int storage_backs(hid_t ds, hid_t t, int r, const hsize_t *dims, double *declared)
{
    *declared = (double)H5Tget_size(t);
    for (int i = 0; i < r; i++) *declared *= (double)dims[i];
    return *declared <= 1032.0 * (double)H5Dget_storage_size(ds) + (double)(16 << 20);
}

int h5_shape(hid_t loc, const char *name, int *rank, hsize_t dims[4], H5T_class_t *cls, size_t *size)
{
    int rc = -1;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
    if (!h5_exists(loc, name)) return dt_seterr("dataset '%s' is missing", name);
    ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { dt_seterr("'%s' is not a dataset", name); goto done; }
    sp = H5Dget_space(ds);
    t = H5Dget_type(ds);
    int r = H5Sget_simple_extent_ndims(sp);
    if (r < 0 || r > 4) { dt_seterr("dataset '%s' has rank %d (at most 4 supported)", name, r); goto done; }
    *rank = r;
    H5Sget_simple_extent_dims(sp, dims, NULL);
    double declared;
    if (!storage_backs(ds, t, r, dims, &declared)) {
        dt_seterr("dataset '%s' declares %.0f bytes but the file stores far less (corrupt or truncated file)", name, declared);
        goto done;
    }
    if (cls) *cls = H5Tget_class(t);
    if (size) *size = H5Tget_size(t);
    rc = 0;
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

int h5_read(hid_t loc, const char *name, hid_t mem_type, void *out)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return dt_seterr("dataset '%s' is missing", name);
    int rc = H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0 ? dt_seterr("cannot read dataset '%s'", name) : 0;
    H5Dclose(ds);
    return rc;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* "4x3x2" ("scalar" for rank 0, "*" for an H5_ANY length) */
static void shape_str(char *buf, size_t n, int rank, const hsize_t *d)
{
    size_t len = 0;
    buf[0] = 0;
    if (rank == 0) snprintf(buf, n, "scalar");
    for (int i = 0; i < rank && len < n; i++) {
        int w = d[i] == H5_ANY ? snprintf(buf + len, n - len, "%s*", i ? "x" : "")
                               : snprintf(buf + len, n - len, "%s%llu", i ? "x" : "", (unsigned long long)d[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

int h5_read_expect(hid_t loc, const char *name, hid_t mem_type, int rank, hsize_t *dims, const char *why, const char *fix,
                   void *out)
{
    char file[1024] = "?", full[1024], base[512] = "";
    if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    if (name[0] != '/' && H5Iget_name(loc, base, sizeof base) < 0) base[0] = 0;
    size_t bl = strlen(base);
    snprintf(full, sizeof full, "%s%s%s", name[0] == '/' ? "" : base, name[0] == '/' || (bl && base[bl - 1] == '/') ? "" : "/", name);
    int rc = -1, any = 0;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
    H5T_class_t want = H5Tget_class(mem_type);
    for (int i = 0; i < rank; i++) any |= dims[i] == H5_ANY;
    if (rank < 0 || rank > H5S_MAX_RANK || (out && (any || want == H5T_STRING)))
        return dt_seterr("%s: dataset '%s': h5_read_expect called without a definite shape to read", file, full);
    if (!h5_exists(loc, name)) return dt_seterr("%s: dataset '%s' is missing; %s", file, full, fix);
    ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { dt_seterr("%s: '%s' is not a dataset; %s", file, full, fix); goto done; }
    sp = H5Dget_space(ds);
    t = H5Dget_type(ds);
    if (sp < 0 || t < 0) { dt_seterr("%s: cannot read dataset '%s'; %s", file, full, fix); goto done; }
    H5T_class_t cls = H5Tget_class(t);
    if (cls != want) {
        dt_seterr("%s: dataset '%s' has type %s, expected %s; %s", file, full, class_name(cls), class_name(want), fix);
        goto done;
    }
    hsize_t have[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(sp);
    int null = H5Sget_simple_extent_type(sp) == H5S_NULL;
    if (r < 0 || H5Sget_simple_extent_dims(sp, have, NULL) < 0) {
        dt_seterr("%s: cannot read the shape of dataset '%s'; %s", file, full, fix);
        goto done;
    }
    int same = !null && r == rank;
    for (int i = 0; same && i < rank; i++) same = dims[i] == H5_ANY || dims[i] == have[i];
    if (!same) {
        char hs[256], ws[256];
        shape_str(hs, sizeof hs, r, have);
        if (null) snprintf(hs, sizeof hs, "empty (no dataspace)");
        shape_str(ws, sizeof ws, rank, dims);
        dt_seterr("%s: dataset '%s' has shape %s, expected %s%s%s%s; %s", file, full, hs, ws, why ? " (" : "", why ? why : "",
                  why ? ")" : "", fix);
        goto done;
    }
    double declared;
    if (!storage_backs(ds, t, r, have, &declared)) {
        dt_seterr("%s: dataset '%s' declares %.0f bytes but the file stores far less; %s", file, full, declared, fix);
        goto done;
    }
    hsize_t count = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = have[i];
        count *= have[i];
    }
    if (out && count > 0 && H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        dt_seterr("%s: cannot read dataset '%s' (corrupt?); %s", file, full, fix);
        goto done;
    }
    rc = 0;
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

int h5_check_version(hid_t f, const char *path, const char *format, int version)
{
    int64_t v = 0;
    if (!h5_has_attr(f, "format_version") || h5_attr_get_i64(f, "format_version", &v))
        return dt_seterr("%s: a %s file without a numeric format_version attribute; this deeptune (%s) reads version %d", path,
                         format, DEEPTUNE_VERSION, version);
    if (v >= 1 && v <= version) return 0;
    char *by = h5_has_attr(f, "deeptune_version") ? h5_attr_get_str(f, "deeptune_version") : NULL;
    if (v > version)
        dt_seterr("%s: %s format_version %lld, but this deeptune (%s) reads version %d; open it with the deeptune that wrote it%s%s%s",
                  path, format, (long long)v, DEEPTUNE_VERSION, version, by ? " (deeptune_version " : "", by ? by : "", by ? ")" : "");
    else
        dt_seterr("%s: %s format_version %lld, but this deeptune (%s) reads version %d; the file is damaged", path, format,
                  (long long)v, DEEPTUNE_VERSION, version);
    free(by);
    return -1;
}

struct listing { char *s; size_t len, cap; };

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t obj_info;
#define VISIT(f, cb, op) H5Ovisit3(f, H5_INDEX_NAME, H5_ITER_NATIVE, cb, op, H5O_INFO_BASIC)
#else
typedef H5O_info_t obj_info;
#define VISIT(f, cb, op) H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, cb, op, H5O_INFO_BASIC)
#endif

static herr_t list_cb(hid_t o, const char *name, const obj_info *info, void *op)
{
    (void)o;
    struct listing *l = op;
    if (info->type != H5O_TYPE_DATASET) return 0;
    size_t need = l->len + strlen(name) + 4;
    if (need > l->cap) {
        size_t cap = need * 2;
        char *s = realloc(l->s, cap);
        if (!s) return -1;
        l->s = s;
        l->cap = cap;
    }
    l->len += (size_t)sprintf(l->s + l->len, "%s/%s", l->len ? ", " : "", name);
    return 0;
}

char *h5_list_datasets(hid_t file)
{
    struct listing l = {NULL, 0, 0};
    VISIT(file, list_cb, &l);
    return l.s ? l.s : dt_strdup("no datasets");
}

int h5_read_array(const char *path, const char *dset, dt_array *a)
{
    memset(a, 0, sizeof *a);
    int rc = -1;
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rank;
    hsize_t dims[4];
    H5T_class_t cls;
    if (!dset || !*dset || !h5_exists(f, dset)) {
        char *have = h5_list_datasets(f);
        dt_seterr("%s: no dataset '%s'; name one with %s:DATASET (it has: %s)", path, dset ? dset : "", path,
                  have ? have : "?");
        free(have);
        goto done;
    }
    if (h5_shape(f, dset, &rank, dims, &cls, NULL) != 0) { dt_preerr("%s", path); goto done; }
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        dt_seterr("%s: dataset '%s' is not numeric", path, dset);
        goto done;
    }
    a->rank = rank;
    for (int i = 0; i < rank; i++) a->dim[i] = (size_t)dims[i];
    a->v = dt_malloc(dt_array_count(a) * sizeof(double));
    if (!a->v) goto done;
    if (h5_read(f, dset, H5T_NATIVE_DOUBLE, a->v) != 0) { dt_preerr("%s", path); dt_array_free(a); goto done; }
    rc = 0;
done:
    H5Fclose(f);
    return rc;
}
