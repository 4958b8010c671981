/* dataset.c — see dataset.h. */
#include "dataset.h"
#include "h5io.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dataset_free(dt_dataset *d)
{
    if (!d) return;
    free(d->stim);
    free(d->stimf);
    free(d->resp);
    free(d->trials);
    dt_strv_free(d->stim_names, d->n);
    dt_strv_free(d->neuron_ids, d->m);
    free(d->split);
    memset(d, 0, sizeof *d);
}

static int check_finite(const double *v, size_t n, size_t ncol, const char *name, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (isinf(v[i]))
            return dt_seterr("%s: %s has an infinite value at stimulus %zu, neuron %zu; mark missing values as NaN",
                             name, what, i / ncol, i % ncol);
    return 0;
}

int dataset_check(const dt_dataset *d, const char *name)
{
    if (d->n == 0) return dt_seterr("%s: no stimuli", name);
    if (d->m == 0) return dt_seterr("%s: no neurons", name);
    if (d->c != 1 && d->c != 3) return dt_seterr("%s: stimuli must have 1 or 3 channels, not %d", name, d->c);
    if (check_finite(d->resp, d->n * d->m, d->m, name, "responses")) return -1;
    if (d->trials)
        for (size_t i = 0; i < d->n * d->m * d->r; i++)
            if (isinf(d->trials[i]))
                return dt_seterr("%s: trials has an infinite value at stimulus %zu, neuron %zu; mark missing values as NaN",
                                 name, i / (d->m * d->r), i / d->r % d->m);
    if (d->split)
        for (size_t i = 0; i < d->n; i++)
            if (d->split[i] > 1) return dt_seterr("%s: split[%zu] = %u; use 0 for train and 1 for test", name, i, d->split[i]);
    if (d->stimf)
        for (size_t i = 0; i < d->n * (size_t)d->h * (size_t)d->w * (size_t)d->c; i++)
            if (!(d->stimf[i] >= 0 && d->stimf[i] <= 1))
                return dt_seterr("%s: float stimuli must lie in [0, 1]; found %g at element %zu", name, d->stimf[i], i);
    return 0;
}

int dataset_write(int64_t file_id, const dt_dataset *d)
{
    hid_t f = (hid_t)file_id;
    hsize_t sd[4] = {d->n, (hsize_t)d->h, (hsize_t)d->w, (hsize_t)d->c};
    int srank = d->c == 1 ? 3 : 4;
    /* Stimuli: chunks of whole images; deflate pays little on natural images
     * but a lot on synthetic ones and padding, and costs little. */
    hid_t ds = h5_create_chunked(f, "stimuli", d->stimf ? H5T_IEEE_F32LE : H5T_STD_U8LE, srank, sd,
                                 0, 1);
    if (ds < 0) return -1;
    int rc = d->stimf ? h5_write_rows(ds, H5T_NATIVE_FLOAT, 0, d->n, d->stimf)
                      : h5_write_rows(ds, H5T_NATIVE_UINT8, 0, d->n, d->stim);
    if (!rc) rc = h5_attr_str(ds, "layout", d->c == 1 ? "stimulus,height,width" : "stimulus,height,width,channel");
    if (!rc) rc = h5_attr_str(ds, "color", d->c == 1 ? "gray" : "rgb");
    if (!rc) rc = h5_attr_str(ds, "range", d->stimf ? "0-1" : "0-255");
    H5Dclose(ds);
    if (rc) return -1;

    hsize_t rd[3] = {d->n, d->m, d->r};
    if (h5_write(f, "responses", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, rd, d->resp, 1)) return -1;
    hid_t r = H5Dopen2(f, "responses", H5P_DEFAULT);
    rc = h5_attr_str(r, "layout", "stimulus,neuron");
    if (!rc) rc = h5_attr_str(r, "missing", "NaN");
    H5Dclose(r);
    if (rc) return -1;
    if (d->trials) {
        if (h5_write(f, "trials", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, rd, d->trials, 1)) return -1;
        hid_t t = H5Dopen2(f, "trials", H5P_DEFAULT);
        rc = h5_attr_str(t, "layout", "stimulus,neuron,repeat");
        if (!rc) rc = h5_attr_str(t, "missing", "NaN (also pads unequal repeat counts)");
        H5Dclose(t);
        if (rc) return -1;
    }
    if (d->stim_names && h5_write_strings(f, "stimulus_names", d->n, d->stim_names)) return -1;
    if (d->neuron_ids && h5_write_strings(f, "neuron_ids", d->m, d->neuron_ids)) return -1;
    if (d->split) {
        hsize_t n = d->n;
        if (h5_write(f, "split", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &n, d->split, 0)) return -1;
        hid_t s = H5Dopen2(f, "split", H5P_DEFAULT);
        rc = h5_attr_str(s, "values", "0 = train, 1 = test");
        H5Dclose(s);
        if (rc) return -1;
    }
    return 0;
}

int dataset_read(const char *path, dt_dataset *d, int load_stimuli)
{
    memset(d, 0, sizeof *d);
    hid_t f = h5_open_ro(path);
    if (f < 0) return -1;
    int rc = -1, rank;
    hsize_t dims[4];
    H5T_class_t cls;
    size_t esize;
    char *fmt = h5_attr_get_str(f, "format");
    if (!fmt) { dt_seterr("%s: not a deeptune file (no 'format' attribute)", path); goto done; }
    if (strcmp(fmt, DT_DATASET_FORMAT) != 0) {
        dt_seterr("%s: is a '%s' file, not a %s; pass the file written by 'deeptune import'", path, fmt, DT_DATASET_FORMAT);
        goto done;
    }
    int64_t ver;
    if (h5_attr_get_i64(f, "format_version", &ver) || ver < 1 || ver > DT_DATASET_VERSION) {
        dt_seterr("%s: unsupported or missing format_version (this deeptune reads version %d)", path, DT_DATASET_VERSION);
        goto done;
    }
    if (h5_shape(f, "stimuli", &rank, dims, &cls, &esize)) { dt_preerr("%s", path); goto done; }
    if (!((rank == 3) || (rank == 4 && dims[3] == 3)) || !((cls == H5T_INTEGER && esize == 1) || cls == H5T_FLOAT)) {
        dt_seterr("%s: /stimuli must be uint8 or float32 (N, H, W) or (N, H, W, 3)", path);
        goto done;
    }
    d->n = dims[0];
    d->h = (int)dims[1];
    d->w = (int)dims[2];
    d->c = rank == 4 ? 3 : 1;
    size_t npx = d->n * (size_t)d->h * (size_t)d->w * (size_t)d->c;
    if (load_stimuli) {
        if (cls == H5T_INTEGER) {
            d->stim = dt_malloc(npx);
            if (!d->stim || h5_read(f, "stimuli", H5T_NATIVE_UINT8, d->stim)) { dt_preerr("%s", path); goto done; }
        } else {
            d->stimf = dt_malloc(npx * sizeof(float));
            if (!d->stimf || h5_read(f, "stimuli", H5T_NATIVE_FLOAT, d->stimf)) { dt_preerr("%s", path); goto done; }
        }
    }
    if (h5_shape(f, "responses", &rank, dims, &cls, NULL)) { dt_preerr("%s", path); goto done; }
    if (rank != 2 || cls != H5T_FLOAT || dims[0] != d->n) {
        dt_seterr("%s: /responses must be float (N stimuli = %zu, M neurons)", path, d->n);
        goto done;
    }
    d->m = dims[1];
    d->resp = dt_malloc(d->n * d->m * sizeof(double));
    if (!d->resp || h5_read(f, "responses", H5T_NATIVE_DOUBLE, d->resp)) { dt_preerr("%s", path); goto done; }
    if (h5_exists(f, "trials")) {
        if (h5_shape(f, "trials", &rank, dims, &cls, NULL)) { dt_preerr("%s", path); goto done; }
        if (rank != 3 || cls != H5T_FLOAT || dims[0] != d->n || dims[1] != d->m) {
            dt_seterr("%s: /trials must be float (N = %zu, M = %zu, R repeats)", path, d->n, d->m);
            goto done;
        }
        d->r = dims[2];
        d->trials = dt_malloc(d->n * d->m * d->r * sizeof(double));
        if (!d->trials || h5_read(f, "trials", H5T_NATIVE_DOUBLE, d->trials)) { dt_preerr("%s", path); goto done; }
    }
    if (h5_exists(f, "stimulus_names")) {
        size_t k;
        d->stim_names = h5_read_strings(f, "stimulus_names", &k);
        if (!d->stim_names) { dt_preerr("%s", path); goto done; }
        if (k != d->n) {
            dt_strv_free(d->stim_names, k);
            d->stim_names = NULL;
            dt_seterr("%s: /stimulus_names has %zu entries for %zu stimuli", path, k, d->n);
            goto done;
        }
    }
    if (h5_exists(f, "neuron_ids")) {
        size_t k;
        d->neuron_ids = h5_read_strings(f, "neuron_ids", &k);
        if (!d->neuron_ids) { dt_preerr("%s", path); goto done; }
        if (k != d->m) {
            dt_strv_free(d->neuron_ids, k);
            d->neuron_ids = NULL;
            dt_seterr("%s: /neuron_ids has %zu entries for %zu neurons", path, k, d->m);
            goto done;
        }
    }
    if (h5_exists(f, "split")) {
        if (h5_shape(f, "split", &rank, dims, &cls, NULL)) { dt_preerr("%s", path); goto done; }
        if (rank != 1 || dims[0] != d->n || cls != H5T_INTEGER) {
            dt_seterr("%s: /split must be integer (N = %zu)", path, d->n);
            goto done;
        }
        d->split = dt_malloc(d->n);
        if (!d->split || h5_read(f, "split", H5T_NATIVE_UINT8, d->split)) { dt_preerr("%s", path); goto done; }
    }
    if (dataset_check(d, path)) goto done;
    rc = 0;
done:
    free(fmt);
    H5Fclose(f);
    if (rc) dataset_free(d);
    return rc;
}

void dataset_stimulus(const dt_dataset *d, size_t i, float *out)
{
    size_t k = (size_t)d->h * (size_t)d->w * (size_t)d->c;
    if (d->stim)
        for (size_t j = 0; j < k; j++) out[j] = d->stim[i * k + j];
    else
        for (size_t j = 0; j < k; j++) out[j] = 255.0f * d->stimf[i * k + j];
}

int stimreader_open(dt_stimreader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->file = r->dset = H5I_INVALID_HID;
    dt_dataset d;
    if (dataset_read(path, &d, 0)) return -1; /* validates the whole file */
    r->n = d.n;
    r->h = d.h;
    r->w = d.w;
    r->c = d.c;
    dataset_free(&d);
    r->file = h5_open_ro(path);
    if (r->file < 0) return -1;
    r->dset = H5Dopen2(r->file, "stimuli", H5P_DEFAULT);
    if (r->dset < 0) { stimreader_close(r); return dt_seterr("%s: cannot open /stimuli", path); }
    hid_t t = H5Dget_type(r->dset);
    r->is_float = H5Tget_class(t) == H5T_FLOAT;
    H5Tclose(t);
    return 0;
}

int stimreader_read(dt_stimreader *r, size_t i0, size_t n, float *out)
{
    int rc = -1;
    hid_t fs = H5Dget_space(r->dset), ms = H5I_INVALID_HID;
    hsize_t start[4] = {i0, 0, 0, 0}, count[4] = {n, (hsize_t)r->h, (hsize_t)r->w, (hsize_t)r->c};
    int rank = r->c == 1 ? 3 : 4;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    ms = H5Screate_simple(rank, count, NULL);
    if (H5Dread(r->dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) < 0) goto done;
    if (r->is_float)
        for (size_t i = 0; i < n * (size_t)r->h * r->w * r->c; i++) out[i] *= 255.0f;
    rc = 0;
done:
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs);
    if (rc) dt_seterr("cannot read stimuli %zu..%zu", i0, i0 + n);
    return rc;
}

void stimreader_close(dt_stimreader *r)
{
    if (!r) return;
    if (r->dset >= 0) H5Dclose(r->dset);
    if (r->file >= 0) H5Fclose(r->file);
    r->dset = r->file = H5I_INVALID_HID;
}
