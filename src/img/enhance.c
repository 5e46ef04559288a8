/*
 * enhance.c - measuring and fixing dark frames (shop floors at night, backlit doorways).
 *
 * Detectors lose faces in underexposed frames long before a human would, so the pipeline
 * measures brightness (vs_img_brightness) and, for dark frames, remaps luma before detection.
 * Two remappings:
 *   - CLAHE (contrast-limited adaptive histogram equalisation, Zuiderveld 1994): equalise each
 *     tile's luma histogram, but clip every bin at clip_limit times the uniform height first, so
 *     flat regions (and their sensor noise) are not stretched into texture; blend the four
 *     nearest tiles' maps bilinearly so tile borders do not show.
 *   - Gamma: one power curve for the whole frame, chosen from the mean luma when not given.
 * Either way only luma changes: the change dY is added to R, G and B alike, which for BT.601
 * leaves Cb and Cr untouched (they are linear in R - Y and B - Y), so skin keeps its hue.
 *
 * CLAHE's maps are built one tile row at a time and kept for two tile rows (the two a pixel row
 * interpolates between), so the whole job needs 2 x 16 x 256 bytes of maps and one 256-entry
 * histogram on the stack, and no heap.
 */
#include <math.h>
#include <string.h>

#include "img/img.h"

#define MAX_TILES 16
#define DARK_PIXEL 50

static uint8_t pixel_luma(const uint8_t *p, int c)
{
    if (c < 3)
        return p[0];
    return (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
}

static int valid(const vs_image *img)
{
    return img && img->px && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4);
}

vs_status vs_img_brightness(const vs_image *img, vs_brightness *out, vs_err *err)
{
    if (!valid(img) || !out)
        return vs_err_set(err, VS_INVAL, "brightness: bad image");
    uint64_t sum = 0, dark = 0;
    for (int y = 0; y < img->h; y++) {
        const uint8_t *row = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->w; x++) {
            uint8_t l = pixel_luma(row + (size_t)x * img->c, img->c);
            sum += l;
            dark += l < DARK_PIXEL;
        }
    }
    double n = (double)img->w * img->h;
    out->mean_luma = (float)(sum / n);
    out->dark_fraction = (float)(dark / n);
    out->is_dark = out->mean_luma <= VS_IMG_DARK_LUMA;
    return VS_OK;
}

/* Replaces the luma of one pixel by ynew (0..255), keeping chroma (see the file comment).  Each
 * channel becomes round(p + ynew - yold), which is p - yold + round(ynew) since p - yold is a
 * whole number: one rounding serves the three channels. */
static inline void set_luma(uint8_t *p, int c, uint8_t yold, float ynew)
{
    /* The callers' ynew is within 0..255 already; the clamps are a guard. */
    int y = (int)(ynew + 0.5f);
    y = y < 0 ? 0 : y;
    y = y > 255 ? 255 : y;
    if (c < 3) {
        p[0] = (uint8_t)y;
        return;
    }
    int d = y - yold;
    for (int k = 0; k < 3; k++) {
        int v = p[k] + d;
        v = v < 0 ? 0 : v;
        p[k] = (uint8_t)(v > 255 ? 255 : v);
    }
}

/* ---- CLAHE ------------------------------------------------------------------------------ */

typedef struct clahe {
    vs_image *img;
    int nx, ny;
    double clip;
    uint8_t maps[2][MAX_TILES][256]; /* tile rows, by parity */
    int loaded[2];                   /* which tile row each slot holds, -1 none */
} clahe;

/* Tile t of n along a side of length len spans [t * len / n, (t + 1) * len / n). */
static int tile_start(int t, int len, int n)
{
    return (int)((long long)t * len / n);
}

static void build_map(const clahe *s, int tx, int ty, uint8_t *map)
{
    uint32_t hist[256];
    memset(hist, 0, sizeof hist);
    const vs_image *img = s->img;
    int x0 = tile_start(tx, img->w, s->nx), x1 = tile_start(tx + 1, img->w, s->nx);
    int y0 = tile_start(ty, img->h, s->ny), y1 = tile_start(ty + 1, img->h, s->ny);
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = img->px + (size_t)y * img->stride;
        for (int x = x0; x < x1; x++)
            hist[pixel_luma(row + (size_t)x * img->c, img->c)]++;
    }
    uint64_t area = (uint64_t)(x1 - x0) * (uint64_t)(y1 - y0);
    /* Clip, then spread the excess evenly: the remainder one count each, at even spacing. */
    uint64_t limit = (uint64_t)(s->clip * (double)area / 256.0);
    if (limit < 1)
        limit = 1;
    uint64_t excess = 0;
    for (int v = 0; v < 256; v++) {
        if (hist[v] > limit) {
            excess += hist[v] - limit;
            hist[v] = (uint32_t)limit;
        }
    }
    uint32_t each = (uint32_t)(excess / 256), rem = (uint32_t)(excess % 256);
    for (int v = 0; v < 256; v++)
        hist[v] += each;
    for (uint32_t i = 0; i < rem; i++)
        hist[i * 256 / rem]++;
    uint64_t cdf = 0;
    for (int v = 0; v < 256; v++) {
        cdf += hist[v];
        map[v] = (uint8_t)((cdf * 255 + area / 2) / area);
    }
}

static const uint8_t *tile_row_maps(clahe *s, int ty)
{
    int slot = ty & 1;
    if (s->loaded[slot] != ty) {
        for (int tx = 0; tx < s->nx; tx++)
            build_map(s, tx, ty, s->maps[slot][tx]);
        s->loaded[slot] = ty;
    }
    return &s->maps[slot][0][0];
}

/* The two tiles (and the weight of the second) whose centres bracket pixel i; scale is n / len,
 * the tiles per pixel along the side. */
static inline void bracket(int i, double scale, int n, int *t0, int *t1, double *w)
{
    double f = (i + 0.5) * scale - 0.5;
    if (f <= 0) {
        *t0 = *t1 = 0;
        *w = 0;
    } else if (f >= n - 1) {
        *t0 = *t1 = n - 1;
        *w = 0;
    } else {
        *t0 = (int)f;
        *t1 = *t0 + 1;
        *w = f - *t0;
    }
}

/*
 * The image is remapped in place, yet every map must see original pixels.  It does: the maps of
 * tile row t are built when the first pixel row that interpolates towards t is reached, which is
 * at or above row t's first pixel row because tiles are at least one pixel high (nx <= w,
 * ny <= h), and pixel rows are modified only after their maps are loaded.
 */
static void clahe_run(clahe *s)
{
    vs_image *img = s->img;
    for (int y = 0; y < img->h; y++) {
        int ty0, ty1, tx0, tx1;
        double wy, wx;
        bracket(y, s->ny / (double)img->h, s->ny, &ty0, &ty1, &wy);
        /* Load the upper row first: its slot cannot be the lower row's (parities differ). */
        const uint8_t *m0 = tile_row_maps(s, ty0);
        const uint8_t *m1 = tile_row_maps(s, ty1);
        uint8_t *row = img->px + (size_t)y * img->stride;
        double xscale = s->nx / (double)img->w;
        float fy = (float)wy;
        for (int x = 0; x < img->w; x++) {
            uint8_t *p = row + (size_t)x * img->c;
            uint8_t l = pixel_luma(p, img->c);
            bracket(x, xscale, s->nx, &tx0, &tx1, &wx);
            /* Single precision is ample for a result rounded to a whole level. */
            float fx = (float)wx, a = m0[tx0 * 256 + l], b = m1[tx0 * 256 + l];
            float top = a + (m0[tx1 * 256 + l] - a) * fx;
            float bot = b + (m1[tx1 * 256 + l] - b) * fx;
            set_luma(p, img->c, l, top + (bot - top) * fy);
        }
    }
}

/* ---- gamma ------------------------------------------------------------------------------ */

static void gamma_run(vs_image *img, double gamma)
{
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)(255.0 * pow(v / 255.0, gamma));
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->w; x++) {
            uint8_t *p = row + (size_t)x * img->c;
            uint8_t l = pixel_luma(p, img->c);
            set_luma(p, img->c, l, lut[l]);
        }
    }
}

static double auto_gamma(const vs_image *img)
{
    vs_brightness b;
    vs_img_brightness(img, &b, NULL);
    double m = b.mean_luma / 255.0;
    if (m <= 0.0)
        return 0.25;
    double g = log(110.0 / 255.0) / log(m);
    return g < 0.25 ? 0.25 : g > 1.0 ? 1.0 : g;
}

vs_status vs_img_enhance_low_light(vs_image *img, const vs_enhance_opts *opts, vs_err *err)
{
    if (!valid(img))
        return vs_err_set(err, VS_INVAL, "enhance_low_light: bad image");
    vs_enhance_opts o = {VS_ENHANCE_CLAHE, 8, 8, 2.5f, 0.0f};
    if (opts)
        o = *opts;
    if (o.method == VS_ENHANCE_GAMMA) {
        if (o.gamma < 0 || o.gamma > 10 || isnan(o.gamma))
            return vs_err_set(err, VS_INVAL, "enhance_low_light: gamma %g", o.gamma);
        gamma_run(img, o.gamma > 0 ? o.gamma : auto_gamma(img));
        return VS_OK;
    }
    if (o.method != VS_ENHANCE_CLAHE)
        return vs_err_set(err, VS_INVAL, "enhance_low_light: unknown method %d", (int)o.method);
    if (o.tiles_x == 0)
        o.tiles_x = 8;
    if (o.tiles_y == 0)
        o.tiles_y = 8;
    if (o.clip_limit == 0)
        o.clip_limit = 2.5f;
    if (o.tiles_x < 1 || o.tiles_x > MAX_TILES || o.tiles_y < 1 || o.tiles_y > MAX_TILES ||
        !(o.clip_limit >= 1.0f))
        return vs_err_set(err, VS_INVAL, "enhance_low_light: tiles %dx%d (1..%d), clip %g (>= 1)",
                          o.tiles_x, o.tiles_y, MAX_TILES, o.clip_limit);
    clahe s;
    s.img = img;
    s.nx = o.tiles_x < img->w ? o.tiles_x : img->w;
    s.ny = o.tiles_y < img->h ? o.tiles_y : img->h;
    s.clip = o.clip_limit;
    s.loaded[0] = s.loaded[1] = -1;
    clahe_run(&s);
    return VS_OK;
}
