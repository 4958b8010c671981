/* main.c — the `deeptune` command: dispatch to a stage. */
#include "h5io.h"
#include "stages.h"
#include "util.h"

#include <cblas.h>
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} stages[] = {
    {"import", cmd_import, "stimuli + responses -> dataset.h5"},
    {"features", cmd_features, "dataset.h5 through a CNN -> features.h5"},
    {"classify", cmd_classify, "top-5 ImageNet classes of images (checks weights and preprocessing)"},
    {"fit", cmd_fit, "dataset.h5 + features.h5 -> readouts.h5 (ridge, Lasso, elastic net; lambda by CV)"},
    {"predict", cmd_predict, "readouts.h5 + images -> predicted responses (CSV)"},
    {"tune", cmd_tune, "readouts.h5 -> DeepTune images, single-model and consensus"},
    {"stimuli", cmd_stimuli, "tune.h5 -> closed-loop stimulus sets (PNGs + manifest with predictions)"},
    {"cluster", cmd_cluster, "tune.h5 -> hierarchical clusters of neurons and their stability across models"},
    {"inspect", cmd_inspect, "describe and validate deeptune files"},
};

static void usage(FILE *fp)
{
    fprintf(fp, "deeptune %s — models and pictures of what visual neurons want to see\n\n"
                "usage: deeptune <stage> [options]   (deeptune <stage> -h for the stage's options)\n\n",
            DEEPTUNE_VERSION);
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) fprintf(fp, "  %-10s %s\n", stages[i].name, stages[i].what);
}

int main(int argc, char **argv)
{
    /* deeptune splits its work in fixed units over its own threads.
     * OpenBLAS's thread pool would split each GEMM by its own thread count
     * (which changes results), and in OpenBLAS 0.3.21 its threads retry a
     * failed allocation forever under a memory limit (ulimit -v, batch
     * schedulers).  The pool starts when the library loads, before main, so
     * the variable is set and the program started again, once. */
    const char *ob = getenv("OPENBLAS_NUM_THREADS"), *pre = getenv("LD_PRELOAD");
    /* (not under valgrind, whose /proc/self/exe is its own tool) */
    if ((!ob || strcmp(ob, "1")) && !(pre && strstr(pre, "vgpreload"))) {
        if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0) execv("/proc/self/exe", argv);
        /* no /proc: go on with the pool held to one thread from here */
    }
    openblas_set_num_threads(1);
    if (dt_limit_threads()) { fprintf(stderr, "error: %s\n", dt_lasterr()); return 1; }
    dt_stats_start();
    dt_set_cmdline(argc, argv);
    gsl_set_error_handler_off();
    h5_quiet();
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("deeptune %s\n", DEEPTUNE_VERSION); return 0; }
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) {
        if (strcmp(argv[1], stages[i].name)) continue;
        int rc = stages[i].run(argc - 1, argv + 1);
        int help = 0;
        for (int k = 2; k < argc; k++) help |= !strcmp(argv[k], "-h") || !strcmp(argv[k], "--help");
        if (rc == 0 && !help && strcmp(argv[1], "inspect")) dt_stats_print(argv[1]);
        return rc;
    }
    fprintf(stderr, "error: unknown stage '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
