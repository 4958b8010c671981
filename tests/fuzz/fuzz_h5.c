/* fuzz_h5.c — libFuzzer harness for the HDF5 readers of every deeptune
 * format: what `deeptune inspect FILE` runs (cmd_inspect: the dataset,
 * features, readouts, tune and cluster checks), and h5_read_array, which
 * `deeptune import -r FILE.h5:DATASET` runs on responses.
 *
 * An input is a list of operations that build an HDF5 file in memory
 * (HDF5's core driver), which is then inspected.  Mutations become what the
 * readers must refuse: a dataset deleted, retyped, reshaped or resized, an
 * attribute missing or of another type, a group where a dataset belongs.
 * scripts/make-fuzz-corpus writes each file of a tiny session in this form.
 *
 * With FUZZ_H5_RAW=1, an input that starts with HDF5's signature byte 0x89
 * is taken as the file itself (the seeds include the tiny session's files
 * as they are).  Mutating raw bytes mostly exercises libhdf5's own parser,
 * and libhdf5 1.10.8 loops forever on some corrupt files (an infinite loop
 * in H5HG_read, which h5py shows too) and leaks when H5Fopen fails on one;
 * deeptune cannot fix either, so this mode is off by default and `make fuzz`
 * does not use it.  Without it such inputs are skipped.
 *
 * Structured format (integers little-endian, str = u8 length + bytes):
 *   op 0 mod 3  dataset    path:str type:u8 rank:u8 (mod 8) dims:u32*rank data
 *   op 1 mod 3  attribute  object:str name:str type:u8 count:u32 data
 *                          (count 0: scalar; the object is made a group if missing)
 *   op 2 mod 3  group      path:str
 *   type mod 8: 0 uint8, 1 int32, 2 int64, 3 float32, 4 float64,
 *               5 variable-length UTF-8 string, 6 fixed string (size:u8 follows), 7 int8
 *   data: numbers are the next count*size bytes (zero-padded at the end of
 *   the input); strings are one str each.  A dataset of more than 64 KiB (or
 *   4096 strings) is created chunked and left unwritten: the readers see its
 *   declared size and HDF5's fill value.
 *
 * After each input no HDF5 object may be left open (a handle leak is a
 * finding, like a memory leak).  FUZZ_SAVE=FILE writes the file a
 * structured input builds to FILE (to keep a finding as an HDF5 file). */
#include "fuzz.h"

#include "array.h"
#include "h5io.h"
#include "stages.h"

#include <string.h>

#define MAX_OPS 1000
#define MAX_DATA_BYTES ((size_t)1 << 16)
#define MAX_STRINGS 4096

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned rd_u8(reader *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static uint32_t rd_u32(reader *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)rd_u8(r) << (8 * i);
    return v;
}

/* A str into out[256]; embedded NULs end it early. */
static void rd_str(reader *r, char out[256])
{
    size_t len = rd_u8(r), k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = rd_u8(r);
        if (c && k == i) out[k++] = (char)c;
    }
    out[k] = 0;
}

static void rd_bytes(reader *r, uint8_t *out, size_t n)
{
    size_t k = n < r->n ? n : r->n;
    memcpy(out, r->p, k);
    memset(out + k, 0, n - k);
    r->p += k;
    r->n -= k;
}

/* File and memory types of type code t (the caller closes both);
 * *str tells strings apart, *esize is the memory element size. */
static int make_type(reader *r, unsigned t, hid_t *ft, hid_t *mt, int *str, size_t *esize)
{
    static const hid_t *file_types[] = {&H5T_STD_U8LE_g, &H5T_STD_I32LE_g, &H5T_STD_I64LE_g, &H5T_IEEE_F32LE_g,
                                        &H5T_IEEE_F64LE_g, NULL, NULL, &H5T_STD_I8LE_g};
    static const hid_t *mem_types[] = {&H5T_NATIVE_UCHAR_g, &H5T_NATIVE_INT_g, &H5T_NATIVE_LLONG_g, &H5T_NATIVE_FLOAT_g,
                                       &H5T_NATIVE_DOUBLE_g, NULL, NULL, &H5T_NATIVE_SCHAR_g};
    t %= 8;
    *str = t == 5 || t == 6;
    if (!*str) {
        H5open();
        *ft = H5Tcopy(*file_types[t]);
        *mt = H5Tcopy(*mem_types[t]);
        *esize = H5Tget_size(*mt);
        return *ft < 0 || *mt < 0 ? -1 : 0;
    }
    *ft = H5Tcopy(H5T_C_S1);
    if (*ft < 0) return -1;
    if (t == 5) {
        H5Tset_size(*ft, H5T_VARIABLE);
        H5Tset_cset(*ft, H5T_CSET_UTF8);
        *esize = sizeof(char *);
    } else {
        unsigned size = rd_u8(r);
        H5Tset_size(*ft, size ? size : 1);
        *esize = size ? size : 1;
    }
    *mt = H5Tcopy(*ft);
    return *mt < 0 ? -1 : 0;
}

/* Read `count` elements of data for a dataset or attribute into a new
 * buffer (NULL when there is nothing to write: too large, or no memory).
 * For variable-length strings the buffer holds char pointers into `pool`. */
static void *read_data(reader *r, int str, size_t esize, int vlen, size_t count, char **pool)
{
    *pool = NULL;
    if (str && vlen) {
        if (count > MAX_STRINGS) return NULL;
        char **s = calloc(count ? count : 1, sizeof *s);
        char *p = *pool = malloc(count * 256 + 1);
        if (!s || !p) { free(s); free(p); *pool = NULL; return NULL; }
        for (size_t i = 0; i < count; i++) {
            rd_str(r, p);
            s[i] = p;
            p += strlen(p) + 1;
        }
        return s;
    }
    if (str && count > MAX_STRINGS) return NULL;
    size_t bytes;
    if (__builtin_mul_overflow(count, esize, &bytes) || bytes > MAX_DATA_BYTES) return NULL;
    uint8_t *b = malloc(bytes ? bytes : 1);
    if (!b) return NULL;
    if (str) {
        for (size_t i = 0; i < count; i++) {
            char s[256];
            rd_str(r, s);
            size_t len = strlen(s);
            memset(b + i * esize, 0, esize);
            memcpy(b + i * esize, s, len < esize ? len : esize);
        }
    } else {
        rd_bytes(r, b, bytes);
    }
    return b;
}

/* The object at path, created as a group (with its parents) when missing. */
static hid_t open_object(hid_t f, const char *path, hid_t lcpl)
{
    if (!path[0] || !strcmp(path, "/")) return H5Oopen(f, "/", H5P_DEFAULT);
    if (!h5_exists(f, path)) {
        hid_t g = H5Gcreate2(f, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) H5Gclose(g);
    }
    return H5Oopen(f, path, H5P_DEFAULT);
}

static void op_dataset(reader *r, hid_t f, hid_t lcpl)
{
    char path[256];
    rd_str(r, path);
    hid_t ft, mt, sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    int str;
    size_t esize;
    unsigned t = rd_u8(r);
    if (make_type(r, t, &ft, &mt, &str, &esize)) goto done;
    int rank = (int)(rd_u8(r) % 8), big = 0;
    hsize_t dims[8], maxd[8], chunk[8];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = rd_u32(r);
        maxd[i] = H5S_UNLIMITED;
        chunk[i] = dims[i] < 1 ? 1 : dims[i] > 64 ? 64 : dims[i];
        if (__builtin_mul_overflow(count, (size_t)dims[i], &count)) big = 1;
    }
    char *pool = NULL;
    void *data = big ? NULL : read_data(r, str, esize, t % 8 == 5, count, &pool);
    if (!path[0]) goto done_data;
    sp = rank ? H5Screate_simple(rank, dims, data ? NULL : maxd) : H5Screate(H5S_SCALAR);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (sp < 0 || dcpl < 0) goto done_data;
    if (!data && rank && H5Pset_chunk(dcpl, rank, chunk) < 0) goto done_data;
    ds = H5Dcreate2(f, path, ft, sp, lcpl, dcpl, H5P_DEFAULT);
    if (ds >= 0 && data) H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
done_data:
    free(data);
    free(pool);
done:
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
}

static void op_attribute(reader *r, hid_t f, hid_t lcpl)
{
    char obj[256], name[256];
    rd_str(r, obj);
    rd_str(r, name);
    hid_t ft, mt, sp = H5I_INVALID_HID, o = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int str;
    size_t esize;
    unsigned t = rd_u8(r);
    if (make_type(r, t, &ft, &mt, &str, &esize)) goto done;
    uint32_t count = rd_u32(r);
    char *pool = NULL;
    void *data = read_data(r, str, esize, t % 8 == 5, count ? count : 1, &pool);
    if (!data || !name[0]) goto done_data;
    hsize_t d = count;
    sp = count ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_SCALAR);
    o = open_object(f, obj, lcpl);
    if (sp < 0 || o < 0) goto done_data;
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    a = H5Acreate2(o, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, mt, data);
done_data:
    free(data);
    free(pool);
done:
    if (a >= 0) H5Aclose(a);
    if (o >= 0) H5Oclose(o);
    if (sp >= 0) H5Sclose(sp);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
}

/* Build the file an input describes; returns its image (malloc'd) or NULL. */
static uint8_t *build(const uint8_t *data, size_t n, size_t *len)
{
    reader r = {data, n};
    uint8_t *img = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), lcpl = H5Pcreate(H5P_LINK_CREATE), f = H5I_INVALID_HID;
    if (fapl < 0 || lcpl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto done;
    f = H5Fcreate("fuzz.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) goto done;
    for (int k = 0; k < MAX_OPS && r.n; k++) {
        switch (rd_u8(&r) % 3) {
        case 0: op_dataset(&r, f, lcpl); break;
        case 1: op_attribute(&r, f, lcpl); break;
        default: {
            char path[256];
            rd_str(&r, path);
            hid_t g = path[0] && !h5_exists(f, path) ? H5Gcreate2(f, path, lcpl, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
            if (g >= 0) H5Gclose(g);
        }
        }
    }
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) goto done;
    ssize_t size = H5Fget_file_image(f, NULL, 0);
    if (size <= 0 || !(img = malloc((size_t)size))) goto done;
    if (H5Fget_file_image(f, img, (size_t)size) != size) {
        free(img);
        img = NULL;
        goto done;
    }
    *len = (size_t)size;
done:
    if (f >= 0) H5Fclose(f);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (fapl >= 0) H5Pclose(fapl);
    return img;
}

/* raw inputs are skipped unless FUZZ_H5_RAW=1 (see the file comment) */
static int no_raw = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    h5_quiet();
    const char *raw = getenv("FUZZ_H5_RAW");
    no_raw = !(raw && !strcmp(raw, "1"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    uint8_t *img = NULL;
    const char *path;
    if (n && data[0] == 0x89) {
        if (no_raw) return 0;
        path = fuzz_file(data, n);
    } else {
        size_t len = 0;
        if (!(img = build(data, n, &len))) return 0;
        path = fuzz_file(img, len);
        /* FUZZ_SAVE=FILE keeps the file built, for tests/badinput/h5 */
        const char *save = getenv("FUZZ_SAVE");
        FILE *fp = save ? fopen(save, "wb") : NULL;
        if (fp) {
            fwrite(img, 1, len, fp);
            fclose(fp);
        }
        free(img);
    }
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) fuzz_fail("the builder left HDF5 objects open");
    char *argv[] = {"inspect", (char *)path, NULL};
    cmd_inspect(2, argv);
    dt_array a;
    if (h5_read_array(path, "responses", &a) == 0) {
        size_t count = 1;
        for (int i = 0; i < a.rank; i++)
            if (__builtin_mul_overflow(count, a.dim[i], &count)) fuzz_fail("h5_read_array accepted dimensions whose product overflows");
        volatile double sum = 0;
        for (size_t i = 0; i < count; i++) sum += a.v[i];
        (void)sum;
        dt_array_free(&a);
    }
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) fuzz_fail("the readers left HDF5 objects open");
    return 0;
}
