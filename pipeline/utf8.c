/* utf8.c — see utf8.h. */
#include "utf8.h"

#include <stdio.h>

int dt_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int len;
        unsigned min, cp;
        if (c < 0x80) { s++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; cp = c & 0x07; }
        else return 0; /* a continuation byte first, 0xC0/0xC1 (always overlong), or 0xF5.. */
        for (int k = 1; k < len; k++) {
            if ((s[k] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
            cp = cp << 6 | (s[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        s += len;
    }
    return 1;
}

void dt_escape(const char *str, char *out, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t k = 0, cut = 0; /* cut: the last item boundary with room for "..." and the NUL */
    if (!n) return;
    for (; *s; s++) {
        char tmp[5];
        int w = *s >= 0x20 && *s < 0x7F && *s != '\\' ? snprintf(tmp, sizeof tmp, "%c", *s) : snprintf(tmp, sizeof tmp, "\\x%02x", *s);
        if (k + (size_t)w + 1 > n) {
            snprintf(out + cut, n - cut, "...");
            return;
        }
        for (int i = 0; i < w; i++) out[k++] = tmp[i];
        if (k + 4 <= n) cut = k;
    }
    out[k] = 0;
}
