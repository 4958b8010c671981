/* array.h — numeric arrays read from .npy, .csv and HDF5 files, as double.
 *
 * Every reader converts to double in C (row-major) order whatever the source
 * dtype or memory order, and records a one-line error naming the file on
 * failure.  dt_array_load() picks the reader from the file name. */
#ifndef DT_ARRAY_H
#define DT_ARRAY_H

#include <stddef.h>

#define DT_MAXRANK 4

typedef struct {
    double *v;               /* (dim[0], …, dim[rank-1]) row-major, owned */
    int rank;
    size_t dim[DT_MAXRANK];
} dt_array;

size_t dt_array_count(const dt_array *a);
void dt_array_free(dt_array *a);   /* frees v; NULL-safe */

/* .npy versions 1–3; dtypes bool, int8–64, uint8–64, float32/64 in either
 * byte order; C or Fortran order. */
int npy_read(const char *path, dt_array *a);

/* A 2-D table: one row per line, fields separated by ',' (or tab, or
 * blanks when there is no comma).  A first line with a non-numeric field is
 * a header and skipped.  Empty fields, "nan" and "NA" read as NaN. */
int csv_read(const char *path, dt_array *a);

/* A numeric (integer or float) dataset at `dset` inside an HDF5 file. */
int h5_read_array(const char *path, const char *dset, dt_array *a);

/* Dispatch on the name: "F.npy", "F.csv|.tsv|.txt", "F.h5|.hdf5[:DATASET]"
 * (DATASET defaults to `default_dset`). */
int dt_array_load(const char *spec, const char *default_dset, dt_array *a);

#endif
