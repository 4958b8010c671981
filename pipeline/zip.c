/* zip.c — see zip.h. */
#include "zip.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

void zip_close(zip_archive *z)
{
    if (!z) return;
    if (z->f) fclose(z->f);
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    free(z->path);
    memset(z, 0, sizeof *z);
}

int zip_open(zip_archive *z, const char *path)
{
    memset(z, 0, sizeof *z);
    uint8_t *tail = NULL, *cd = NULL;
    z->f = fopen(path, "rb");
    if (!z->f) return dt_seterr("%s: cannot open (%s)", path, strerror(errno));
    z->path = dt_strdup(path);
    if (fseek(z->f, 0, SEEK_END) != 0) goto corrupt;
    long size = ftell(z->f);
    if (size < 22) goto corrupt;
    /* The end-of-central-directory record is in the last 22 + 65535 bytes. */
    long tlen = size < 22 + 65535 ? size : 22 + 65535;
    tail = dt_malloc((size_t)tlen);
    if (!tail) goto fail;
    if (fseek(z->f, size - tlen, SEEK_SET) != 0 || fread(tail, 1, (size_t)tlen, z->f) != (size_t)tlen) goto corrupt;
    long eocd = -1;
    for (long i = tlen - 22; i >= 0; i--)
        if (u32(tail + i) == 0x06054b50) { eocd = i; break; }
    if (eocd < 0) goto corrupt;
    const uint8_t *e = tail + eocd;
    uint32_t nent = u16(e + 10), cdsize = u32(e + 12), cdoff = u32(e + 16);
    if (nent == 0xffff || cdsize == 0xffffffffu || cdoff == 0xffffffffu) {
        dt_seterr("%s: zip64 archives are not supported; re-create the zip with standard zip, or import the directory", path);
        goto fail;
    }
    if ((long)cdoff + (long)cdsize > size) goto corrupt;
    cd = dt_malloc(cdsize ? cdsize : 1);
    if (!cd) goto fail;
    if (fseek(z->f, (long)cdoff, SEEK_SET) != 0 || fread(cd, 1, cdsize, z->f) != cdsize) goto corrupt;
    z->e = dt_calloc(nent ? nent : 1, sizeof *z->e);
    if (!z->e) goto fail;
    size_t p = 0;
    for (uint32_t i = 0; i < nent; i++) {
        if (p + 46 > cdsize || u32(cd + p) != 0x02014b50) goto corrupt;
        const uint8_t *h = cd + p;
        uint16_t nlen = u16(h + 28), xlen = u16(h + 30), clen = u16(h + 32);
        if (p + 46 + nlen > cdsize) goto corrupt;
        zip_entry *ze = &z->e[z->n];
        ze->flags = u16(h + 8);
        ze->method = u16(h + 10);
        ze->crc = u32(h + 16);
        ze->csize = u32(h + 20);
        ze->usize = u32(h + 24);
        ze->local_off = u32(h + 42);
        if (ze->csize == 0xffffffffu || ze->usize == 0xffffffffu || ze->local_off == 0xffffffffu) {
            dt_seterr("%s: zip64 members are not supported; re-create the zip with standard zip", path);
            goto fail;
        }
        ze->name = dt_malloc((size_t)nlen + 1);
        if (!ze->name) goto fail;
        memcpy(ze->name, h + 46, nlen);
        ze->name[nlen] = 0;
        z->n++;
        p += 46 + (size_t)nlen + xlen + clen;
    }
    free(tail);
    free(cd);
    return 0;
corrupt:
    dt_seterr("%s: not a zip archive, or corrupt (no valid central directory)", path);
fail:
    free(tail);
    free(cd);
    zip_close(z);
    return -1;
}

int zip_read(zip_archive *z, size_t i, uint8_t **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    zip_entry *e = &z->e[i];
    uint8_t lh[30], *cbuf = NULL, *out = NULL;
    if (e->flags & 1) return dt_seterr("%s: %s is encrypted; decrypt the archive first", z->path, e->name);
    if (e->method != 0 && e->method != 8)
        return dt_seterr("%s: %s uses compression method %u; only stored and deflate are supported", z->path, e->name, e->method);
    if (fseek(z->f, (long)e->local_off, SEEK_SET) != 0 || fread(lh, 1, 30, z->f) != 30 || u32(lh) != 0x04034b50)
        return dt_seterr("%s: corrupt local header for %s", z->path, e->name);
    long data = (long)e->local_off + 30 + u16(lh + 26) + u16(lh + 28);
    /* Check the declared sizes before allocating them: the compressed data
     * must lie inside the archive, and deflate turns each 2 bits into at
     * most 258 bytes (a length-258 match; RFC 1951, 3.2.5), so a member
     * can never expand beyond 1032 times its compressed size. */
    if (fseek(z->f, 0, SEEK_END) != 0 || data + (long)e->csize > ftell(z->f))
        return dt_seterr("%s: %s is truncated", z->path, e->name);
    if (e->method == 0 && e->csize != e->usize) return dt_seterr("%s: %s has inconsistent sizes", z->path, e->name);
    if (e->method == 8 && (uint64_t)e->usize > 1032 * (uint64_t)e->csize)
        return dt_seterr("%s: %s declares %u bytes uncompressed from %u compressed, more than deflate can produce (corrupt archive)",
                         z->path, e->name, e->usize, e->csize);
    cbuf = dt_malloc(e->csize ? e->csize : 1);
    out = dt_malloc(e->usize ? e->usize : 1);
    if (!cbuf || !out) goto fail;
    if (fseek(z->f, data, SEEK_SET) != 0 || fread(cbuf, 1, e->csize, z->f) != e->csize) {
        dt_seterr("%s: %s is truncated", z->path, e->name);
        goto fail;
    }
    if (e->method == 0) {
        memcpy(out, cbuf, e->csize);
    } else {
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -MAX_WBITS) != Z_OK) { dt_seterr("%s: %s: zlib cannot start inflating (out of memory?)", z->path, e->name); goto fail; }
        s.next_in = cbuf;
        s.avail_in = e->csize;
        s.next_out = out;
        s.avail_out = e->usize;
        int r = inflate(&s, Z_FINISH);
        size_t got = s.total_out;
        inflateEnd(&s);
        if (r != Z_STREAM_END || got != e->usize) {
            dt_seterr("%s: %s: corrupt deflate data", z->path, e->name);
            goto fail;
        }
    }
    if (crc32(0L, out, e->usize) != e->crc) {
        dt_seterr("%s: %s fails its CRC check (corrupt archive)", z->path, e->name);
        goto fail;
    }
    free(cbuf);
    *buf = out;
    *n = e->usize;
    return 0;
fail:
    free(cbuf);
    free(out);
    return -1;
}
