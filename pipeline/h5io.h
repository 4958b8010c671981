/* h5io.h — the HDF5 conventions every deeptune file follows.
 *
 * Files are created with object time tracking off, so the same inputs give
 * byte-identical outputs.  Every file starts with the self-description
 * written by h5_provenance(): format name and version, deeptune version and
 * command line.  File types are little-endian IEEE/STD types; memory types
 * are the native ones.  All functions return 0 / a valid id on success and
 * -1 / H5I_INVALID_HID after dt_seterr() on failure. */
#ifndef DT_H5IO_H
#define DT_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* The layout versions this deeptune reads (docs/formats.md); the writers
 * (features.c, fit.c, tune.c, cluster.c) write these same numbers. */
#define DT_FEATURES_VERSION 1
#define DT_READOUTS_VERSION 1
#define DT_TUNE_VERSION 1
#define DT_CLUSTER_VERSION 1

void h5_quiet(void);                   /* turn off HDF5's own error printing */
hid_t h5_create(const char *path);     /* truncate-create */
hid_t h5_open_ro(const char *path);    /* error names the path if not HDF5 */

/* Root self-description: format, format_version, deeptune_version,
 * command_line. */
int h5_provenance(hid_t file, const char *format, int version);

int h5_attr_str(hid_t loc, const char *name, const char *value);
int h5_attr_i64(hid_t loc, const char *name, int64_t value);
int h5_attr_f64(hid_t loc, const char *name, double value);
int h5_attr_f64v(hid_t loc, const char *name, size_t n, const double *v);
int h5_has_attr(hid_t loc, const char *name);
/* Copy a string or numeric attribute (numbers become float64, or int64 for a
 * scalar integer). */
int h5_copy_attr(hid_t src, hid_t dst, const char *name);
/* Read a string attribute (fixed or variable length); caller frees. NULL if
 * absent or not a string (with dt_seterr). */
char *h5_attr_get_str(hid_t loc, const char *name);
int h5_attr_get_i64(hid_t loc, const char *name, int64_t *v);
/* Read up to n doubles; *got receives the attribute's element count. */
int h5_attr_get_f64v(hid_t loc, const char *name, size_t n, double *v, size_t *got);

/* Write a dataset, creating intermediate groups.  Chunked along the first
 * dimension (chunks of about 1 MiB) and deflate-compressed when `compress`. */
int h5_write(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank,
             const hsize_t *dims, const void *data, int compress);
/* Create an empty chunked dataset to be filled slab by slab along dim 0. */
hid_t h5_create_chunked(hid_t loc, const char *name, hid_t file_type, int rank,
                        const hsize_t *dims, hsize_t chunk0, int compress);
/* Write rows [row, row+nrows) of a dataset created above. */
int h5_write_rows(hid_t dset, hid_t mem_type, hsize_t row, hsize_t nrows, const void *data);
int h5_write_strings(hid_t loc, const char *name, size_t n, char *const *s);
/* Read a 1-D string dataset; *n receives its length; caller frees with
 * dt_strv_free. */
char **h5_read_strings(hid_t loc, const char *name, size_t *n);

int h5_exists(hid_t loc, const char *path);
/* Shape and type class of a dataset; rank <= 4. */
int h5_shape(hid_t loc, const char *name, int *rank, hsize_t dims[4], H5T_class_t *cls, size_t *size);
/* Read a whole dataset converting to mem_type; caller provides memory.
 * Only for a buffer sized from the same dataset's h5_shape(); anything
 * sized from other information goes through h5_read_expect(). */
int h5_read(hid_t loc, const char *name, hid_t mem_type, void *out);

/* A length in h5_read_expect's dims that may be anything. */
#define H5_ANY ((hsize_t)-1)
/* Check the dataset `name` (relative to loc, or absolute) against the
 * layout its reader expects, then read it whole into `out`.
 *   mem_type  the memory type; the dataset's type must be of its class
 *             (integer, float; H5T_C_S1 for strings, check only)
 *   rank, dims  the expected shape; a dims[i] of H5_ANY accepts any length
 *             and receives the declared one
 *   why       what the expected shape means, e.g. "one per neuron, as the
 *             rows of weights" (NULL: nothing)
 *   fix       the end of the message: what the user can do about it
 *   out       room for the product of dims elements of mem_type, or NULL
 *             to check only (it must be NULL when a dims[i] is H5_ANY)
 * A missing dataset, another type class or another shape is an error
 * naming the file (found from loc), the dataset's full path, its declared
 * and the expected shape, e.g.
 *   r.h5: dataset '/models/m/intercepts' has shape 5, expected 4 (WHY); FIX
 * so a longer or shorter dataset never overruns or under-fills `out`. */
int h5_read_expect(hid_t loc, const char *name, hid_t mem_type, int rank, hsize_t *dims, const char *why, const char *fix,
                   void *out);

/* The root `format_version` of a file of kind `format` is one this
 * deeptune reads (1..version); otherwise an error naming path, the
 * version found, the one supported and the deeptune that wrote it. */
int h5_check_version(hid_t f, const char *path, const char *format, int version);
/* rows [row, row + nrows) along the first dimension */
int h5_read_rows(hid_t loc, const char *name, hid_t mem_type, hsize_t row, hsize_t nrows, void *out);
hid_t h5_open_rw(const char *path);
/* the file's root `format` attribute is `format` */
int h5_is_format(hid_t f, const char *format);

/* Comma-separated list of the datasets in a file (for error messages);
 * caller frees. */
char *h5_list_datasets(hid_t file);

#endif
