/* utf8.h — names that go into HDF5 strings.  deeptune stores every string
 * dataset and attribute as UTF-8 (H5T_CSET_UTF8), so bytes that are not
 * UTF-8 (a zip made on an old Windows machine, an id file in Latin-1) make
 * the file unreadable for h5py; such names are refused on import, and
 * messages show them escaped. */
#ifndef DT_UTF8_H
#define DT_UTF8_H

#include <stddef.h>

/* 1 if the NUL-terminated s is well-formed UTF-8 (RFC 3629, section 4: no
 * overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF). */
int dt_utf8_valid(const char *s);

/* s as printable ASCII into out (n bytes, always NUL-terminated): bytes
 * outside 0x20..0x7e and the backslash are written as \xHH; a name that
 * does not fit ends in "...". */
void dt_escape(const char *s, char *out, size_t n);

#endif
