/* fuzz_spec.c — libFuzzer harness for the network spec parser: net_parse on
 * the text `deeptune features --spec FILE` reads, then net_plan of the
 * shapes for a typical input (224 x 224) and a small one (16 x 16, the test
 * network's size; too small for most specs, which exercises the search for
 * the smallest workable input), and the layer list and cost that the stage
 * prints. */
#include "fuzz.h"

#include "net.h"

#include <string.h>

FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, data, n);
    text[n] = 0;
    dt_net net;
    if (net_parse(&net, text, "fuzz.spec") == 0) {
        static const int sizes[][2] = {{224, 224}, {16, 16}};
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            if (net_plan(&net, sizes[k][0], sizes[k][1]) != 0) continue;
            for (int i = 0; i < net.n; i++)
                if (net.L[i].c < 1 || net.L[i].h < 1 || net.L[i].w < 1) fuzz_fail("net_plan accepted an empty layer");
            volatile double m = net_macs(&net, net.n - 1);
            (void)m;
        }
        free(net_layer_list(&net, -1));
        net_free(&net);
    }
    free(text);
    return 0;
}
