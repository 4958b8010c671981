/* classify.c — `deeptune classify`: the top ImageNet classes of images, to
 * check that a weight file and its preprocessing are right. */
#include "cnnopts.h"
#include "h5io.h"
#include "image.h"
#include "net.h"
#include "stages.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp, const dt_cnnopts *d)
{
    fprintf(fp,
            "usage: deeptune classify --weights W.h5 [--top K] [--csv FILE] IMAGE...\n"
            "\n"
            "Print the top classes of PNG/JPEG images with probabilities and labels (the\n"
            "weight file's 'labels').  Needs every layer's weights.\n"
            "\n"
            "      --top K              classes per image [5]\n"
            "      --csv FILE           also write file,rank,class_index,label,probability\n"
            "      --force              replace the CSV if it exists\n");
    cnnopts_usage(fp, d, "file");
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cmd_classify(int argc, char **argv)
{
    dt_cnnopts cnn = {0};
    const char *csv = NULL;
    int top = 5, force = 0;
    static const struct option lo[] = {{"top", required_argument, 0, 1}, {"csv", required_argument, 0, 2},
                                       {"force", no_argument, 0, 3},     {"help", no_argument, 0, 'h'},
                                       CNN_LONGOPTS,                     {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 1:
            if (dt_arg_int("--top", optarg, &top)) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 2; }
            if (top < 1) { fprintf(stderr, "error: --top %s: expected a positive integer\n", optarg); return 2; }
            break;
        case 2: csv = optarg; break;
        case 3: force = 1; break;
        case 'h': usage(stdout, &cnn); return 0;
        default:
            if (c >= 200) { if (cnnopts_set(&cnn, c, optarg)) return 2; break; }
            usage(stderr, &cnn);
            return 2;
        }
    }
    if (!cnn.weights || optind >= argc) {
        fprintf(stderr, "error: classify needs --weights and at least one image; see deeptune classify -h\n");
        return 2;
    }
    int rc = 1;
    dt_net net;
    memset(&net, 0, sizeof net);
    dt_preproc pp;
    memset(&pp, 0, sizeof pp);
    dt_geom geom;
    char *spec = NULL, **labels = NULL;
    size_t nlabels = 0;
    dt_outfile out = {0};
    FILE *cf = NULL;
    dt_state st;
    memset(&st, 0, sizeof st);
    float *input = NULL;
    int *order = NULL;

    if (csv) {
        if (dt_out_begin(&out, csv, force)) goto done;
        cf = fopen(out.tmp, "w");
        if (!cf) { dt_seterr("%s: cannot write", csv); goto done; }
        fprintf(cf, "file,rank,class_index,label,probability\n");
    }
    if (cnn_open(&cnn, "file", &net, &pp, &geom, &spec)) goto done;
    if (geom == GEOM_NATIVE) { dt_seterr("classify needs a fixed input size; use --geometry whole or file"); goto done; }
    if (net_plan(&net, pp.size, pp.size) || net_load_weights(&net, cnn.weights, net.n - 1)) goto done;
    {
        hid_t f = h5_open_ro(cnn.weights);
        if (f >= 0 && h5_exists(f, "labels")) labels = h5_read_strings(f, "labels", &nlabels);
        if (f >= 0) H5Fclose(f);
    }
    const dt_layer *last = &net.L[net.n - 1];
    int ncls = last->c * last->h * last->w;
    if (state_alloc(&st, &net, 1, NULL)) goto done;
    input = dt_malloc((size_t)3 * pp.size * pp.size * sizeof(float));
    order = dt_malloc((size_t)ncls * sizeof(int));
    float *prob = dt_malloc((size_t)ncls * sizeof(float));
    if (!input || !order || !prob) { free(prob); goto done; }
    if (top > ncls) top = ncls;
    for (int a = optind; a < argc; a++) {
        uint8_t *buf;
        size_t n;
        dt_image im;
        if (dt_read_file(argv[a], &buf, &n)) { free(prob); goto done; }
        int e = image_decode(buf, n, argv[a], &im);
        free(buf);
        if (e) { free(prob); goto done; }
        e = preproc_image_u8(&pp, geom, &im, input, 1, 0) || net_forward(&net, &st, input);
        image_free(&im);
        if (e) { dt_preerr("%s", argv[a]); free(prob); goto done; }
        const float *y = st.out[net.n - 1];
        if (last->kind == L_SOFTMAX) memcpy(prob, y, (size_t)ncls * sizeof(float));
        else softmax_forward_f32(prob, y, ncls, 1, 1);
        for (int i = 0; i < ncls; i++) order[i] = i;
        /* partial selection sort: top is small */
        for (int r = 0; r < top; r++)
            for (int i = r + 1; i < ncls; i++)
                if (prob[order[i]] > prob[order[r]]) { int t = order[r]; order[r] = order[i]; order[i] = t; }
        printf("%s\n", argv[a]);
        for (int r = 0; r < top; r++) {
            int k = order[r];
            char fallback[32];
            snprintf(fallback, sizeof fallback, "class %d", k);
            const char *lab = (size_t)k < nlabels ? labels[k] : fallback;
            printf("  %d  %4d  %.4f  %s\n", r + 1, k, prob[k], lab);
            if (cf) {
                fprintf(cf, "%s,%d,%d,", argv[a], r + 1, k);
                csv_field(cf, lab);
                fprintf(cf, ",%.6f\n", prob[k]);
            }
        }
    }
    free(prob);
    if (cf) {
        int bad = ferror(cf);
        bad |= fclose(cf) != 0;
        cf = NULL;
        if (bad) { dt_seterr("%s: write error", csv); goto done; }
        if (dt_out_commit(&out)) goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", dt_lasterr());
    if (cf) fclose(cf);
    dt_out_abort(&out);
    state_free(&st, &net);
    free(input);
    free(order);
    dt_strv_free(labels, nlabels);
    free(spec);
    preproc_free(&pp);
    net_free(&net);
    return rc;
}
