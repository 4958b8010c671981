/* main.c — the `deeptune` command: dispatch to a stage. */
#include "h5io.h"
#include "stages.h"
#include "util.h"

#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <string.h>

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
