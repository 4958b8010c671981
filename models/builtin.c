/* builtin.c — the network specs compiled into the binary (models/NAME.spec,
 * embedded by scripts/embed-specs at build time). */
#include "net.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

extern const char *const dt_spec_names[];
extern const char *const dt_spec_texts[];

const char *const *net_builtin_names(void) { return dt_spec_names; }

const char *net_builtin_text(const char *name)
{
    for (int i = 0; dt_spec_names[i]; i++)
        if (!strcmp(dt_spec_names[i], name)) return dt_spec_texts[i];
    return NULL;
}

const char *net_spec_for_arch(const char *arch)
{
    for (int i = 0; dt_spec_names[i]; i++) {
        dt_net n;
        if (net_parse(&n, dt_spec_texts[i], dt_spec_names[i])) continue;
        int match = !strcmp(n.arch, arch) || !strcmp(n.name, arch);
        net_free(&n);
        if (match) return dt_spec_names[i];
    }
    return NULL;
}
