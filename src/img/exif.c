/*
 * exif.c - EXIF orientation: reading the tag from a TIFF block and turning an image upright.
 *
 * Cameras and phones store the sensor's pixels as they came and record in EXIF tag 0x0112 how to
 * turn them for display.  Browsers apply it, so the reference pipelines (face-api and Human in a
 * browser) see upright images, and so must we.  The EXIF block is untrusted input: we read only
 * IFD0, check every offset against the block's length before reading, and fall back to "upright"
 * on anything odd rather than failing the decode of an otherwise good image.
 */
#include <string.h>

#include "img/img.h"

#define TAG_ORIENTATION 0x0112
#define TIFF_SHORT 3
#define TIFF_LONG 4

static unsigned rd16(const uint8_t *p, int big)
{
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int vs_img_exif_orientation(const uint8_t *tiff, size_t n)
{
    if (!tiff || n < 8)
        return 1;
    int big;
    if (memcmp(tiff, "II", 2) == 0)
        big = 0;
    else if (memcmp(tiff, "MM", 2) == 0)
        big = 1;
    else
        return 1;
    if (rd16(tiff + 2, big) != 42)
        return 1;
    uint32_t ifd = rd32(tiff + 4, big);
    /* ifd + 2 <= n, written so that it cannot wrap. */
    if (ifd < 8 || ifd > n - 2)
        return 1;
    size_t count = rd16(tiff + ifd, big);
    size_t fit = (n - ifd - 2) / 12; /* entries that lie wholly inside the block */
    if (count > fit)
        count = fit;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = tiff + ifd + 2 + 12 * i;
        if (rd16(e, big) != TAG_ORIENTATION)
            continue;
        unsigned type = rd16(e + 2, big);
        uint32_t cnt = rd32(e + 4, big);
        uint32_t v;
        if (cnt < 1)
            return 1;
        if (type == TIFF_SHORT)
            v = rd16(e + 8, big);
        else if (type == TIFF_LONG)
            v = rd32(e + 8, big);
        else
            return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/*
 * Where stored pixel (x, y) of a w x h image lands in the upright image, per the table in img.h.
 * One function for all eight cases keeps the copy loop below free of special cases.
 */
static void orient_map(int o, int x, int y, int w, int h, int *ox, int *oy)
{
    switch (o) {
    case 2:
        *ox = w - 1 - x;
        *oy = y;
        break;
    case 3:
        *ox = w - 1 - x;
        *oy = h - 1 - y;
        break;
    case 4:
        *ox = x;
        *oy = h - 1 - y;
        break;
    case 5:
        *ox = y;
        *oy = x;
        break;
    case 6:
        *ox = h - 1 - y;
        *oy = x;
        break;
    case 7:
        *ox = h - 1 - y;
        *oy = w - 1 - x;
        break;
    case 8:
        *ox = y;
        *oy = w - 1 - x;
        break;
    default:
        *ox = x;
        *oy = y;
        break;
    }
}

vs_status vs_img_orient(const vs_image *src, int o, vs_image *dst, vs_err *err)
{
    if (!src || !dst || !src->px || !dst->px)
        return vs_err_set(err, VS_INVAL, "vs_img_orient: missing image");
    if (o < 1 || o > 8)
        return vs_err_set(err, VS_INVAL, "EXIF orientation %d is not in 1..8", o);
    int swap = o >= 5;
    int want_w = swap ? src->h : src->w, want_h = swap ? src->w : src->h;
    if (dst->w != want_w || dst->h != want_h || dst->c != src->c)
        return vs_err_set(err, VS_INVAL, "orientation %d of %dx%dx%d needs %dx%dx%d, got %dx%dx%d",
                          o, src->w, src->h, src->c, want_w, want_h, src->c, dst->w, dst->h,
                          dst->c);
    if (dst->px == src->px)
        return vs_err_set(err, VS_INVAL, "vs_img_orient cannot work in place");

    int c = src->c;
    for (int y = 0; y < src->h; y++) {
        const uint8_t *s = src->px + (size_t)y * src->stride;
        for (int x = 0; x < src->w; x++) {
            int ox, oy;
            orient_map(o, x, y, src->w, src->h, &ox, &oy);
            uint8_t *d = dst->px + (size_t)oy * dst->stride + (size_t)ox * c;
            for (int k = 0; k < c; k++)
                d[k] = s[(size_t)x * c + k];
        }
    }
    return VS_OK;
}
