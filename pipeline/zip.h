/* zip.h — read members of a .zip archive (stored or deflated), enough for
 * stimulus archives.  Zip64 and encrypted archives are rejected with a clear
 * error.  Layout: PKWARE APPNOTE.TXT, sections 4.3.7 (local header), 4.3.12
 * (central directory) and 4.3.16 (end of central directory). */
#ifndef DT_ZIP_H
#define DT_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *name;          /* path inside the archive, owned */
    uint64_t local_off;  /* offset of the local header */
    uint32_t csize, usize, crc;
    uint16_t method, flags;
} zip_entry;

typedef struct {
    FILE *f;
    char *path;          /* archive path, owned (for messages) */
    zip_entry *e;        /* (n) owned */
    size_t n;
} zip_archive;

int zip_open(zip_archive *z, const char *path);
/* Decompress member i into a malloc'd buffer (caller frees); checks CRC. */
int zip_read(zip_archive *z, size_t i, uint8_t **buf, size_t *n);
void zip_close(zip_archive *z);   /* NULL-safe, idempotent */

#endif
