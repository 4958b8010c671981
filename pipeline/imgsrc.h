/* imgsrc.h — a set of stimulus images from a directory or a .zip archive,
 * listed in natural order of their names ("image2" before "image10").
 * Only .png, .jpg and .jpeg files are taken; hidden files and macOS
 * "__MACOSX/" metadata are skipped.  Images may sit in a folder inside a
 * zip; a directory is read without recursion. */
#ifndef DT_IMGSRC_H
#define DT_IMGSRC_H

#include "image.h"
#include "zip.h"

typedef struct {
    char *path;        /* directory or archive, owned */
    int is_zip;
    zip_archive zip;
    char **names;      /* (n) member or file names in natural order, owned */
    size_t *member;    /* (n) zip member index of names[i] */
    size_t n;
} dt_imgsrc;

/* Fails with a clear error if the path is missing or holds no images. */
int imgsrc_open(dt_imgsrc *s, const char *path);
/* Decode image i; errors name "<path>: <name>". */
int imgsrc_load(dt_imgsrc *s, size_t i, dt_image *im);
void imgsrc_close(dt_imgsrc *s);   /* NULL-safe */

#endif
