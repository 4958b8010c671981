/* test_io.c — natural sort, SHA-256, .npy/.csv/HDF5 readers, zip, image
 * decoding, resampling and gray conversion, against known values and the
 * fixtures written by scripts/make-io-fixtures.py (NumPy, zipfile, PIL). */
#include "array.h"
#include "harness.h"
#include "h5io.h"
#include "image.h"
#include "imgsrc.h"
#include "utf8.h"
#include "util.h"
#include "zip.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIX "tests/fixtures/io/"

static void test_natcmp(void)
{
    CHECK(dt_natcmp("image2.jpg", "image10.jpg") < 0, "image2 < image10");
    CHECK(dt_natcmp("image10.jpg", "image2.jpg") > 0, "image10 > image2");
    CHECK(dt_natcmp("image0002.jpg", "image0010.jpg") < 0, "zero-padded");
    CHECK(dt_natcmp("a", "b") < 0 && dt_natcmp("b", "a") > 0, "letters");
    CHECK(dt_natcmp("img01", "img1") != 0, "different strings never compare equal");
    CHECK(dt_natcmp("x9y", "x9y") == 0, "equal");
    CHECK(dt_natcmp("x9", "x9a") < 0, "prefix first");
    CHECK(dt_natcmp("a99999999999999999999b", "a100000000000000000000b") < 0, "long digit runs");
}

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_sha256(void)
{
    /* FIPS 180-2 appendix B test vectors */
    uint8_t d[32];
    char h[65];
    dt_sha256("abc", 3, d);
    hex(d, h);
    CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) = %s", h);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    dt_sha256(m, strlen(m), d);
    hex(d, h);
    CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits) = %s", h);
    dt_sha256("", 0, d);
    hex(d, h);
    CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') = %s", h);
}

/* Value the fixture script stored at C index (i, j, k). */
static double grid(size_t i, size_t j, size_t k, int sign) { return (double)(i * 100 + j * 10 + k) - (sign ? 7 : 0); }

static void check_grid(const char *file, int rank, int sign)
{
    dt_array a;
    int rc = npy_read(file, &a);
    CHECK(rc == 0, "%s: %s", file, dt_lasterr());
    if (rc) return;
    CHECK(a.rank == rank, "%s rank %d", file, a.rank);
    size_t d2 = rank == 3 ? a.dim[2] : 1, bad = 0;
    for (size_t i = 0; i < a.dim[0]; i++)
        for (size_t j = 0; j < a.dim[1]; j++)
            for (size_t k = 0; k < d2; k++)
                bad += a.v[(i * a.dim[1] + j) * d2 + k] != grid(i, j, k, sign);
    CHECK(bad == 0, "%s: %zu values differ", file, bad);
    dt_array_free(&a);
}

static void test_npy(void)
{
    check_grid(FIX "f4_c.npy", 2, 1);
    check_grid(FIX "f8_fortran.npy", 2, 1);
    check_grid(FIX "f8_c.npy", 2, 1);
    check_grid(FIX "i2_big.npy", 2, 1);
    check_grid(FIX "u1.npy", 2, 0);
    check_grid(FIX "i8_3d_fortran.npy", 3, 1);
    dt_array a;
    CHECK(npy_read(FIX "bool.npy", &a) == 0 && a.v[1] == 1 && a.v[2] == 0, "bool");
    dt_array_free(&a);
    CHECK(npy_read(FIX "c16.npy", &a) != 0 && strstr(dt_lasterr(), "unsupported dtype '<c16'"), "complex: %s", dt_lasterr());
    CHECK(npy_read(FIX "str.npy", &a) != 0 && strstr(dt_lasterr(), "unsupported dtype"), "strings: %s", dt_lasterr());
    CHECK(npy_read(FIX "stored.zip", &a) != 0 && strstr(dt_lasterr(), "not a .npy"), "zip as npy: %s", dt_lasterr());
}

static void test_csv(void)
{
    const char *p = "/tmp/deeptune-test-io.csv";
    FILE *f = fopen(p, "w");
    fprintf(f, "n0,n1,n2\n1.5,2,-3e-2\r\n,nan,NA\n\n4,5,6\n");
    fclose(f);
    dt_array a;
    int rc = csv_read(p, &a);
    CHECK(rc == 0, "csv: %s", dt_lasterr());
    if (!rc) {
        CHECK(a.dim[0] == 3 && a.dim[1] == 3, "shape %zux%zu", a.dim[0], a.dim[1]);
        CHECK(a.v[0] == 1.5 && a.v[2] == -0.03 && isnan(a.v[3]) && isnan(a.v[4]) && isnan(a.v[5]) && a.v[8] == 6, "values");
        dt_array_free(&a);
    }
    f = fopen(p, "w");
    fprintf(f, "1,2\n3\n");
    fclose(f);
    CHECK(csv_read(p, &a) != 0 && strstr(dt_lasterr(), "line 2 has 1 fields, expected 2"), "ragged: %s", dt_lasterr());
    f = fopen(p, "w");
    fprintf(f, "1 2 3\n4 5 6\n");
    fclose(f);
    CHECK(csv_read(p, &a) == 0 && a.dim[1] == 3 && a.v[5] == 6, "blank-separated");
    dt_array_free(&a);
    unlink(p);
}

static void test_h5_array(void)
{
    const char *p = "/tmp/deeptune-test-io.h5";
    hid_t f = h5_create(p);
    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    hsize_t d[2] = {2, 3};
    CHECK(h5_write(f, "grp/resp", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d, v, 1) == 0, "write: %s", dt_lasterr());
    H5Fclose(f);
    dt_array a;
    CHECK(dt_array_load("/tmp/deeptune-test-io.h5:/grp/resp", "x", &a) == 0 && a.dim[0] == 2 && a.v[5] == 6, "read h5:dset");
    dt_array_free(&a);
    CHECK(dt_array_load("/tmp/deeptune-test-io.h5:/nope", "x", &a) != 0 && strstr(dt_lasterr(), "no dataset '/nope'") &&
              strstr(dt_lasterr(), "grp/resp"),
          "missing dataset lists the others: %s", dt_lasterr());
    unlink(p);
}

static void test_zip(void)
{
    dt_imgsrc s;
    int rc = imgsrc_open(&s, FIX "stored.zip");
    CHECK(rc == 0, "stored.zip: %s", dt_lasterr());
    if (rc) return;
    CHECK(s.n == 3, "3 images (readme and __MACOSX skipped), got %zu", s.n);
    CHECK(s.n == 3 && !strcmp(s.names[0], "stim/img1.png") && !strcmp(s.names[1], "stim/img2.png") &&
              !strcmp(s.names[2], "stim/img10.png"),
          "natural order");
    dt_image im;
    CHECK(imgsrc_load(&s, 2, &im) == 0 && im.w == 6 && im.h == 5 && im.c == 3, "decode from stored zip");
    image_free(&im);
    imgsrc_close(&s);
}

static void test_photos(const char *data)
{
    char path[4096], line[512];
    FILE *f = fopen(FIX "photos.csv", "r");
    CHECK(f != NULL, "photos.csv");
    if (!f) return;
    int n = 0;
    fgets(line, sizeof line, f);
    while (fgets(line, sizeof line, f)) {
        char name[256], sha[65];
        int w, h, c;
        if (sscanf(line, "%255[^,],%d,%d,%d,%64s", name, &w, &h, &c, sha) != 5) continue;
        snprintf(path, sizeof path, "%s/images/%s", data, name);
        uint8_t *buf;
        size_t len;
        dt_image im;
        CHECK(dt_read_file(path, &buf, &len) == 0, "%s", path);
        int rc = image_decode(buf, len, path, &im);
        free(buf);
        CHECK(rc == 0, "%s: %s", name, dt_lasterr());
        if (rc) continue;
        uint8_t d[32];
        char hx[65];
        dt_sha256(im.px, (size_t)im.w * (size_t)im.h * (size_t)im.c, d);
        hex(d, hx);
        CHECK(im.w == w && im.h == h && im.c == c, "%s: %dx%dx%d, PIL %dx%dx%d", name, im.w, im.h, im.c, w, h, c);
        /* Same libjpeg-turbo / libpng and default decoder settings as PIL:
         * the pixels must be identical. */
        CHECK(!strcmp(hx, sha), "%s: pixels differ from PIL's", name);
        image_free(&im);
        n++;
    }
    fclose(f);
    CHECK(n >= 10, "decoded %d photos", n);
}

/* 8-bit resampling must be bit-exact with PIL's. */
static void test_resize(const char *data)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images/astronaut.png", data);
    uint8_t *buf;
    size_t len;
    dt_image im, r;
    if (dt_read_file(path, &buf, &len) || image_decode(buf, len, path, &im)) { CHECK(0, "astronaut.png"); return; }
    free(buf);
    dt_array ref;
    CHECK(npy_read(FIX "astronaut_57x43_bilinear.npy", &ref) == 0, "fixture");
    CHECK(image_resize_u8(&im, 57, 43, &r) == 0, "resize");
    double worst = 0;
    for (size_t i = 0; i < 57 * 43 * 3; i++) worst = fmax(worst, fabs(r.px[i] - ref.v[i]));
    CHECK(worst == 0, "downsample 512->57x43: max diff %g levels", worst);
    image_free(&r);
    dt_array_free(&ref);
    image_free(&im);

    dt_array small, up, gray;
    CHECK(npy_read(FIX "astronaut_20x15.npy", &small) == 0 && npy_read(FIX "astronaut_20x15_up_47x31_bilinear.npy", &up) == 0 &&
              npy_read(FIX "astronaut_20x15_gray.npy", &gray) == 0,
          "fixtures");
    dt_image s = {20, 15, 3, malloc(20 * 15 * 3)};
    for (size_t i = 0; i < 20 * 15 * 3; i++) s.px[i] = (uint8_t)small.v[i];
    CHECK(image_resize_u8(&s, 47, 31, &r) == 0, "upsample");
    worst = 0;
    for (size_t i = 0; i < 47 * 31 * 3; i++) worst = fmax(worst, fabs(r.px[i] - up.v[i]));
    CHECK(worst == 0, "upsample 20x15->47x31: max diff %g levels", worst);
    image_free(&r);
    CHECK(image_convert(&s, 1) == 0 && s.c == 1, "to gray");
    worst = 0;
    for (size_t i = 0; i < 20 * 15; i++) worst = fmax(worst, fabs(s.px[i] - gray.v[i]));
    CHECK(worst == 0, "gray conversion: max diff %g levels", worst);
    CHECK(image_convert(&s, 3) == 0 && s.c == 3 && s.px[0] == s.px[1] && s.px[1] == s.px[2], "gray to rgb");
    image_free(&s);
    dt_array_free(&small);
    dt_array_free(&up);
    dt_array_free(&gray);
}

static void test_bad_images(void)
{
    dt_image im;
    const char *txt = "hello, I am text";
    CHECK(image_decode((const uint8_t *)txt, strlen(txt), "x.png", &im) != 0 && strstr(dt_lasterr(), "x.png: not a PNG or JPEG"),
          "%s", dt_lasterr());
    uint8_t *buf;
    size_t n;
    CHECK(dt_read_file(FIX "stored.zip", &buf, &n) == 0, "read zip");
    /* the first member's PNG starts after its 30-byte local header + name */
    const uint8_t *png = NULL;
    for (size_t i = 0; i + 8 < n; i++)
        if (!memcmp(buf + i, "\x89PNG", 4)) { png = buf + i; break; }
    CHECK(png != NULL, "png in zip");
    if (png) {
        CHECK(image_decode(png, 40, "t.png", &im) != 0 && strstr(dt_lasterr(), "truncated"), "truncated PNG: %s", dt_lasterr());
    }
    free(buf);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Temporary outputs: 16 can be pending removal by a signal at once; the
 * 17th is refused with an error naming it and leaves nothing behind. */
static void test_pending_outputs(void)
{
    char dir[] = "/tmp/dt-test-io-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    dt_outfile o[17];
    int ok = 1;
    for (int i = 0; i < 16; i++) {
        snprintf(path, sizeof path, "%s/out%d.h5", dir, i);
        ok &= dt_out_begin(&o[i], path, 0) == 0;
    }
    CHECK(ok && count_entries(dir) == 16, "16 temporary outputs: %s", dt_lasterr());
    snprintf(path, sizeof path, "%s/out16.h5", dir);
    CHECK(dt_out_begin(&o[16], path, 0) != 0 && strstr(dt_lasterr(), "more than 16 temporary outputs"), "17th refused: %s", dt_lasterr());
    CHECK(count_entries(dir) == 16, "the refused one left nothing behind (%d entries)", count_entries(dir));
    char *dfinal, *dtmp;
    snprintf(path, sizeof path, "%s/png", dir);
    CHECK(dt_dir_begin(path, 0, "--png-dir", &dfinal, &dtmp) == 0, "a directory registers separately: %s", dt_lasterr());
    snprintf(path, sizeof path, "%s/out0.h5", dir);
    CHECK(dt_out_commit(&o[0]) == 0 && access(path, F_OK) == 0, "commit: %s", dt_lasterr());
    snprintf(path, sizeof path, "%s/out16.h5", dir);
    CHECK(dt_out_begin(&o[16], path, 0) == 0, "a commit frees a slot: %s", dt_lasterr());
    for (int i = 1; i <= 16; i++) dt_out_abort(&o[i]);
    dt_dir_abort(dtmp);
    free(dfinal);
    CHECK(count_entries(dir) == 1, "only the committed output is left (%d entries)", count_entries(dir));
    char *fin[17], *tmp[17];
    ok = 1;
    for (int i = 0; i < 16; i++) {
        snprintf(path, sizeof path, "%s/d%d", dir, i);
        ok &= dt_dir_begin(path, 0, "--png-dir", &fin[i], &tmp[i]) == 0;
    }
    CHECK(ok, "16 temporary directories: %s", dt_lasterr());
    snprintf(path, sizeof path, "%s/d16", dir);
    CHECK(dt_dir_begin(path, 0, "--png-dir", &fin[16], &tmp[16]) != 0 && strstr(dt_lasterr(), "more than 16 temporary directories"),
          "17th directory refused: %s", dt_lasterr());
    CHECK(count_entries(dir) == 17, "the refused directory left nothing behind (%d entries)", count_entries(dir));
    for (int i = 0; i < 16; i++) {
        dt_dir_abort(tmp[i]);
        free(fin[i]);
    }
    snprintf(path, sizeof path, "%s/out0.h5", dir);
    unlink(path);
    CHECK(rmdir(dir) == 0, "everything removed");
}

/* UTF-8 as RFC 3629 defines it, and the escaped form messages show */
static void test_utf8(void)
{
    static const char *good[] = {"", "image1.png", "b\xc3\xa9.png", "\xe2\x82\xac", "\xf0\x9f\x90\x92", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
    static const char *bad[] = {"b\xe9.png", "\xc3", "\xc3(", "\x80", "\xc0\xaf" /* overlong '/' */, "\xe0\x80\xaf",
                                "\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80" /* above U+10FFFF */, "\xf8\x88\x80\x80\x80", "\xff"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(dt_utf8_valid(good[i]), "valid UTF-8 %zu", i);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(!dt_utf8_valid(bad[i]), "invalid UTF-8 %zu", i);
    char e[16], big[32];
    dt_escape("b\xe9\\\n.png", big, sizeof big);
    CHECK(!strcmp(big, "b\\xe9\\x5c\\x0a.png"), "escaped: %s", big);
    dt_escape("abcdefghijklmnopqrstuvwxyz", e, sizeof e);
    CHECK(!strcmp(e, "abcdefghijkl..."), "truncated: %s", e);
    dt_escape("abcdefghijklmno", e, sizeof e);
    CHECK(!strcmp(e, "abcdefghijklmno"), "exactly fits: %s", e);
    dt_escape("abcdefghijkl\xff", e, sizeof e);
    CHECK(!strcmp(e, "abcdefghijkl..."), "an escape is never cut: %s", e);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

/* Temporaries a killed run left: the next dt_out_begin / dt_dir_begin of the
 * same output removes exactly those of its own name whose process is gone,
 * and leaves those of this process, of a live process, of another machine
 * and every near-miss name alone. */
static void test_stale_temporaries(void)
{
    char dir[] = "/tmp/dt-test-stale-XXXXXX", path[600], *t = dt_tmp_template("x");
    CHECK(mkdtemp(dir) != NULL && t, "mkdtemp");
    /* t is "x.tmp.HOST.PID.XXXXXX": this machine's label */
    char host[64] = "";
    if (t) {
        const char *h = t + 6, *dot = strchr(h, '.');
        snprintf(host, sizeof host, "%.*s", dot ? (int)(dot - h) : 0, h);
    }
    free(t);
    pid_t dead = fork(); /* a process that is gone, reaped */
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    pid_t live = fork(); /* one that is alive */
    if (live == 0) { pause(); _exit(0); }
    long me = (long)getpid();
    struct { const char *fmt; long pid; int removed; } c[] = {
        {"%s/out.h5.tmp.%s.%ld.Ab3xYz", (long)dead, 1},   /* the stale one */
        {"%s/out.h5.tmp.%s.%ld.Ab3xYz", (long)live, 0},   /* a live run's */
        {"%s/out.h5.tmp.%s.%ld.Qq9zzz", me, 0},            /* ours */
        {"%s/out.h5.tmp.%s.%ld.Ab3xY", (long)dead, 0},    /* 5 characters */
        {"%s/out.h5.tmp.%s.%ld.Ab3xYzz", (long)dead, 0},  /* 7 characters */
        {"%s/out.h5.tmp.%s.%ld.Ab3-Yz", (long)dead, 0},   /* not mkstemp's alphabet */
        {"%s/xout.h5.tmp.%s.%ld.Ab3xYz", (long)dead, 0},  /* another output */
        {"%s/out.h5x.tmp.%s.%ld.Ab3xYz", (long)dead, 0},
        {"%s/out.h5.tmp.%sx.%ld.Ab3xYz", (long)dead, 0},  /* another machine */
    };
    enum { NC = sizeof c / sizeof *c };
    char names[NC][600];
    for (int i = 0; i < NC; i++) {
        snprintf(names[i], sizeof names[i], c[i].fmt, dir, host, c[i].pid);
        touch(names[i]);
    }
    snprintf(path, sizeof path, "%s/out.h5.tmp.%s.%ld.AAAAAA", dir, host, (long)dead); /* a directory is not a file temporary */
    mkdir(path, 0700);
    dt_outfile o;
    snprintf(path, sizeof path, "%s/out.h5", dir);
    CHECK(dt_out_begin(&o, path, 0) == 0, "begin: %s", dt_lasterr());
    for (int i = 0; i < NC; i++) CHECK((access(names[i], F_OK) != 0) == c[i].removed, "%s %s", names[i], c[i].removed ? "removed" : "kept");
    dt_out_abort(&o);
    snprintf(path, sizeof path, "%s/out.h5.tmp.%s.%ld.AAAAAA", dir, host, (long)dead);
    CHECK(access(path, F_OK) == 0, "a directory of the pattern is left to dt_dir_begin");
    /* picture directories: a dead run's tree goes, with what it holds */
    char sub[700], png[600];
    snprintf(png, sizeof png, "%s/png.tmp.%s.%ld.Zz0000", dir, host, (long)dead);
    snprintf(sub, sizeof sub, "%s/n0.png", png);
    mkdir(png, 0700);
    touch(sub);
    char livedir[600];
    snprintf(livedir, sizeof livedir, "%s/png.tmp.%s.%ld.Zz0000", dir, host, (long)live);
    mkdir(livedir, 0700);
    char *fin, *tmp;
    snprintf(path, sizeof path, "%s/png", dir);
    CHECK(dt_dir_begin(path, 0, "--png-dir", &fin, &tmp) == 0, "dir begin: %s", dt_lasterr());
    CHECK(access(png, F_OK) != 0 && access(livedir, F_OK) == 0, "the dead run's directory removed, the live one's kept");
    dt_dir_abort(tmp);
    free(fin);
    kill(live, SIGKILL);
    waitpid(live, NULL, 0);
    snprintf(path, sizeof path, "%s/out.h5.tmp.%s.%ld.AAAAAA", dir, host, (long)dead);
    rmdir(path);
    rmdir(livedir);
    for (int i = 0; i < NC; i++) unlink(names[i]);
    CHECK(rmdir(dir) == 0, "everything removed (%d entries left)", count_entries(dir));
}

static void mark(void *ctx, int i) { ((int *)ctx)[i]++; }

/* dt_parallel runs every item exactly once, also beyond its 64 threads */
static void test_parallel(void)
{
    for (int n = 0; n <= 200; n += n < 70 ? 1 : 65) {
        int seen[200] = {0}, once = 1;
        dt_parallel(n, mark, seen);
        for (int i = 0; i < 200; i++) once &= seen[i] == (i < n);
        CHECK(once, "dt_parallel(%d): every item exactly once", n);
    }
}

int main(void)
{
    h5_quiet();
    test_natcmp();
    test_sha256();
    test_npy();
    test_csv();
    test_h5_array();
    test_zip();
    test_bad_images();
    test_pending_outputs();
    test_utf8();
    test_stale_temporaries();
    test_parallel();
    const char *data = th_data("photo decoding and resampling against PIL");
    if (data) {
        test_photos(data);
        test_resize(data);
    }
    return th_summary("test_io");
}
