/* dataset.h — one recording session in a deeptune dataset file
 * (format "deeptune-dataset", version 1; layout in docs/formats.md).
 *
 *   /stimuli          uint8 (N, H, W) gray or (N, H, W, 3) RGB, 0..255;
 *                     or float32 of the same shape in [0, 1]
 *   /responses        float64 (N, M), NaN = not recorded
 *   /trials           float64 (N, M, R), NaN-padded (optional)
 *   /stimulus_names   string (N)  (optional)
 *   /neuron_ids       string (M)  (optional)
 *   /split            uint8 (N): 0 train, 1 test (optional)
 */
#ifndef DT_DATASET_H
#define DT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DT_DATASET_FORMAT "deeptune-dataset"
#define DT_DATASET_VERSION 1

typedef struct {
    size_t n, m, r;       /* stimuli, neurons, repeats (r = 0: no trials) */
    int h, w, c;          /* stimulus height, width, channels (1 or 3) */
    uint8_t *stim;        /* (n, h, w, c) 0..255, or NULL when stimf is set */
    float *stimf;         /* (n, h, w, c) in [0, 1] (float files), or NULL */
    double *resp;         /* (n, m) */
    double *trials;       /* (n, m, r) or NULL */
    char **stim_names;    /* (n) or NULL */
    char **neuron_ids;    /* (m) or NULL */
    uint8_t *split;       /* (n) 0 train / 1 test, or NULL */
} dt_dataset;

void dataset_free(dt_dataset *d);   /* frees members; NULL-safe */

/* Check internal consistency (shapes, finite responses, split values);
 * messages are prefixed with `name`. */
int dataset_check(const dt_dataset *d, const char *name);

/* Write every present member into an open file (no provenance: the caller
 * adds the root attributes). */
int dataset_write(int64_t file_id, const dt_dataset *d);

/* Read and validate a dataset file.  With load_stimuli = 0 the stimuli are
 * not read (shapes are still filled in).  Errors name the file and say what
 * does not follow the format. */
int dataset_read(const char *path, dt_dataset *d, int load_stimuli);

/* Stimulus i as float (h, w, c) in 0..255 into out. */
void dataset_stimulus(const dt_dataset *d, size_t i, float *out);

/* Streaming access to the stimuli of a dataset file, a block of rows at a
 * time, so stages that go through every stimulus hold only one block. */
typedef struct {
    int64_t file, dset;  /* HDF5 ids */
    size_t n;
    int h, w, c, is_float;
} dt_stimreader;

int stimreader_open(dt_stimreader *r, const char *path);
/* Rows [i0, i0 + n) as float pixels 0..255, (n, h, w, c). */
int stimreader_read(dt_stimreader *r, size_t i0, size_t n, float *out);
void stimreader_close(dt_stimreader *r);

#endif
