/* clusterplot.c — see clusterplot.h. */
#include "clusterplot.h"
#include "image.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint8_t *px; int w, h; } canvas;

/* Colour-blind-safe qualitative colours (Okabe & Ito 2008), cycled. */
static const uint8_t palette[8][3] = {{0, 114, 178}, {230, 159, 0}, {0, 158, 115}, {204, 121, 167},
                                      {86, 180, 233}, {213, 94, 0},  {240, 228, 66}, {0, 0, 0}};
static const uint8_t gray[3] = {150, 150, 150};

static void put(canvas *cv, int x, int y, const uint8_t *col)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return;
    memcpy(cv->px + ((size_t)y * cv->w + x) * 3, col, 3);
}

/* Axis-parallel line, 2 px thick. */
static void line(canvas *cv, int x0, int y0, int x1, int y1, const uint8_t *col)
{
    if (x0 > x1) { int t = x0; x0 = x1; x1 = t; }
    if (y0 > y1) { int t = y0; y0 = y1; y1 = t; }
    for (int y = y0; y <= y1 + 1; y++)
        for (int x = x0; x <= x1 + 1; x++) put(cv, x, y, col);
}

int clusterplot_dendrogram(const clusterplot_tree *t, const char *base)
{
    size_t n = t->n;
    int cell = t->thumbs ? 40 : 12;
    if ((size_t)cell * n > 12000) cell = (int)(12000 / n) > 2 ? (int)(12000 / n) : 2;
    int thumb = t->thumbs && cell >= 16 ? cell - 4 : 0;
    int mx = 20, top = 20, treeh = 300, W = mx * 2 + (int)n * cell, H = top + treeh + 8 + thumb + 14;
    canvas cv = {dt_malloc((size_t)W * H * 3), W, H};
    double *xs = dt_malloc((2 * n - 1) * sizeof *xs), *ys = dt_malloc((2 * n - 1) * sizeof *ys);
    int *clus = dt_malloc((2 * n - 1) * sizeof *clus);   /* cluster of a node, or -1 if mixed */
    int rc = -1;
    if (!cv.px || !xs || !ys || !clus) goto done;
    memset(cv.px, 255, (size_t)W * H * 3);
    double hmax = n > 1 ? t->Z[4 * (n - 2) + 2] : 1;
    if (!(hmax > 0)) hmax = 1;
    for (size_t p = 0; p < n; p++) {
        int i = t->leaves[p];
        xs[i] = mx + (double)p * cell + cell / 2.0;
        ys[i] = top + treeh;
        clus[i] = t->labels[i];
    }
    for (size_t r = 0; r + 1 < n; r++) {
        size_t a = (size_t)t->Z[4 * r], b = (size_t)t->Z[4 * r + 1], c = n + r;
        xs[c] = (xs[a] + xs[b]) / 2;
        ys[c] = top + treeh * (1 - t->Z[4 * r + 2] / hmax);
        clus[c] = clus[a] == clus[b] ? clus[a] : -1;
        const uint8_t *col = clus[c] >= 0 ? palette[clus[c] % 8] : gray;
        line(&cv, (int)xs[a], (int)ys[a], (int)xs[a], (int)ys[c], col);
        line(&cv, (int)xs[b], (int)ys[b], (int)xs[b], (int)ys[c], col);
        line(&cv, (int)xs[a], (int)ys[c], (int)xs[b], (int)ys[c], col);
    }
    /* thumbnails and a strip in the cluster's colour beneath each leaf */
    float *small = thumb ? dt_malloc((size_t)thumb * thumb * t->c * sizeof *small) : NULL;
    if (thumb && !small) goto done;
    for (size_t p = 0; p < n; p++) {
        int i = t->leaves[p], x0 = mx + (int)p * cell + (cell - (thumb ? thumb : cell - 2)) / 2, y0 = top + treeh + 8;
        if (thumb) {
            if (image_resize_f32(t->thumbs + (size_t)i * t->h * t->w * t->c, t->w, t->h, t->c, small, thumb, thumb)) {
                free(small);
                goto done;
            }
            for (int y = 0; y < thumb; y++)
                for (int x = 0; x < thumb; x++) {
                    uint8_t col[3];
                    for (int ch = 0; ch < 3; ch++) {
                        float v = small[((size_t)y * thumb + x) * t->c + (t->c == 3 ? ch : 0)];
                        col[ch] = (uint8_t)(!(v >= 0) ? 0 : v > 255 ? 255 : lrintf(v));
                    }
                    put(&cv, x0 + x, y0 + y, col);
                }
        }
        int sy = top + treeh + 8 + thumb + 3;
        for (int y = sy; y < sy + 8; y++)
            for (int x = mx + (int)p * cell + 1; x < mx + (int)(p + 1) * cell - 1; x++) put(&cv, x, y, palette[t->labels[i] % 8]);
    }
    free(small);
    char path[4096];
    snprintf(path, sizeof path, "%s.png", base);
    if (png_write(path, cv.px, W, H, 3)) goto done;
    /* the SVG: the PNG with a height axis on the left and neuron labels below */
    char pngname[1024];
    snprintf(pngname, sizeof pngname, "%s", dt_basename(path));
    snprintf(path, sizeof path, "%s.svg", base);
    FILE *fp = fopen(path, "w");
    if (!fp) { dt_seterr("%s: cannot write", path); goto done; }
    int ax = 60, lab = 90;
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"%d\" height=\"%d\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<image x=\"%d\" y=\"0\" width=\"%d\" height=\"%d\" xlink:href=\"%s\"/>\n",
            W + ax, H + lab, ax, W, H, pngname);
    fprintf(fp, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", ax - 4, top, ax - 4, top + treeh);
    for (int q = 0; q <= 4; q++) {
        double hv = hmax * q / 4;
        int y = top + (int)lrint(treeh * (1 - hv / hmax));
        fprintf(fp, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n",
                ax - 8, y, ax - 4, y, ax - 10, y + 4, hv);
    }
    fprintf(fp, "<text transform=\"translate(12,%d) rotate(-90)\" text-anchor=\"middle\">merge height</text>\n", top + treeh / 2);
    for (size_t p = 0; p < n && cell >= 8; p++) {
        int i = t->leaves[p];
        int x = ax + mx + (int)p * cell + cell / 2;
        fprintf(fp, "<text transform=\"translate(%d,%d) rotate(-60)\" text-anchor=\"end\">", x + 4, H + 6);
        if (t->ids && t->ids[i] && *t->ids[i]) {
            for (const char *s = t->ids[i]; *s; s++) {
                if (*s == '<') fputs("&lt;", fp);
                else if (*s == '&') fputs("&amp;", fp);
                else fputc(*s, fp);
            }
        } else fprintf(fp, "n%d", t->neuron[i]);
        fprintf(fp, "</text>\n");
    }
    fprintf(fp, "</svg>\n");
    if (fclose(fp)) { dt_seterr("%s: cannot write", path); goto done; }
    rc = 0;
done:
    free(cv.px);
    free(xs);
    free(ys);
    free(clus);
    return rc;
}

static void svg_text(FILE *fp, const char *t)
{
    for (; *t; t++) {
        if (*t == '<') fputs("&lt;", fp);
        else if (*t == '>') fputs("&gt;", fp);
        else if (*t == '&') fputs("&amp;", fp);
        else fputc(*t, fp);
    }
}

int clusterplot_matrix(const float *M, int n, const int *order, float lo, float hi, const char *path, const char *const *labels)
{
    int cell = n <= 50 ? 12 : n <= 200 ? 4 : n <= 1000 ? 1 : 1;
    int W = n * cell;
    uint8_t *px = dt_malloc((size_t)W * W * 3);
    if (!px) return -1;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            int i = order ? order[a] : a, j = order ? order[b] : b;
            float v = M[(size_t)i * n + j];
            uint8_t col[3];
            if (!isfinite(v)) {
                col[0] = col[1] = col[2] = 200;
            } else if (lo >= 0) {
                double u = (v - lo) / (hi - lo);
                u = u < 0 ? 0 : u > 1 ? 1 : u;
                /* white -> (8, 48, 107) */
                col[0] = (uint8_t)lrint(255 - u * (255 - 8));
                col[1] = (uint8_t)lrint(255 - u * (255 - 48));
                col[2] = (uint8_t)lrint(255 - u * (255 - 107));
            } else {
                double u = (v - lo) / (hi - lo) * 2 - 1;   /* -1..1 */
                u = u < -1 ? -1 : u > 1 ? 1 : u;
                if (u < 0) { col[0] = (uint8_t)lrint(255 + u * 222); col[1] = (uint8_t)lrint(255 + u * 153); col[2] = 255; }
                else { col[0] = 255; col[1] = (uint8_t)lrint(255 - u * 180); col[2] = (uint8_t)lrint(255 - u * 200); }
            }
            for (int y = 0; y < cell; y++)
                for (int x = 0; x < cell; x++) memcpy(px + (((size_t)a * cell + y) * W + (size_t)b * cell + x) * 3, col, 3);
        }
    int rc = png_write(path, px, W, W, 3);
    free(px);
    if (rc || !labels) return rc;
    /* the SVG beside it: labels left and above (rotated), and a key */
    char svg[4096];
    snprintf(svg, sizeof svg, "%s", path);
    char *dot = strrchr(svg, '.');
    if (!dot || strlen(dot) < 4) return 0;
    strcpy(dot, ".svg");
    int scale = cell < 14 ? (14 + cell - 1) / cell : 1, S = W * scale, L = 260;
    FILE *fp = fopen(svg, "w");
    if (!fp) return dt_seterr("%s: cannot write", svg);
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"%d\" height=\"%d\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<image x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" style=\"image-rendering:pixelated\" xlink:href=\"%s\"/>\n",
            L + S + 120, L + S + 20, L, L, S, S, dt_basename(path));
    double step = (double)S / n;
    for (int a = 0; a < n; a++) {
        int i = order ? order[a] : a;
        double y = L + (a + 0.5) * step + 4;
        fprintf(fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", L - 4, y);
        svg_text(fp, labels[i]);
        fprintf(fp, "</text>\n<text transform=\"translate(%.1f,%d) rotate(-60)\">", L + (a + 0.5) * step + 4, L - 4);
        svg_text(fp, labels[i]);
        fprintf(fp, "</text>\n");
    }
    /* colour key */
    for (int q = 0; q <= 4; q++) {
        double v = lo + (hi - lo) * q / 4;
        fprintf(fp, "<text x=\"%d\" y=\"%d\">%.2g %s</text>\n", L + S + 10, L + 14 + 16 * q, v,
                lo >= 0 ? (q == 0 ? "white" : q == 4 ? "dark blue" : "") : (q == 0 ? "blue" : q == 2 ? "white" : q == 4 ? "red" : ""));
    }
    fprintf(fp, "</svg>\n");
    if (fclose(fp)) return dt_seterr("%s: cannot write", svg);
    return 0;
}
