/*
 * test_img.c - the image module (src/img/) on real photos and on hand-built broken files.
 *
 * Reference values come from outside the code under test: image sizes from the files' own
 * headers (parsed here), TFJS's resizeBilinear outputs (tests/data/img/tfjs_resize.json, written
 * by tfjs_resize.js next to it), bilinear sampling of linear ramps (exact by construction),
 * rotations and mirrors written here as plain index arithmetic, libjpeg/libspng/libwebp encoders
 * for the files the decoder reads back, and global histogram equalisation computed here for the
 * one-tile CLAHE case.
 *
 * Photos come from $VISAGE_TEST_DATA or ../shared/data (run from the repository root).  Without
 * them the synthetic tests still run; the photo tests print SKIP and the exit status is 77.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <jpeglib.h>
#include <spng.h>
#include <webp/encode.h>

#include "check.h"
#include "img/img.h"

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECK((long long)(a) == (long long)(b), "%s == %lld, expected %s == %lld", #a, (long long)(a), \
          #b, (long long)(b))

#define CHECK_ST(st, want, err)                                                                    \
    CHECK((st) == (want), "status %s (%s), expected %s", vs_status_str(st), (err).msg,             \
          vs_status_str(want))

static const char *data_dir;
static char path_buf[1024];

static const char *data_path(const char *rel)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", data_dir, rel);
    return path_buf;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) != NULL) {
        *n = fread(buf, 1, (size_t)sb.st_size, f);
        if (*n != (size_t)sb.st_size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static uint8_t *px_at(const vs_image *img, int x, int y)
{
    return img->px + (size_t)y * img->stride + (size_t)x * img->c;
}

static int same_pixels(const vs_image *a, const vs_image *b)
{
    if (a->w != b->w || a->h != b->h || a->c != b->c)
        return 0;
    for (int y = 0; y < a->h; y++)
        if (memcmp(px_at(a, 0, y), px_at(b, 0, y), (size_t)a->w * a->c) != 0)
            return 0;
    return 1;
}

static double psnr(const vs_image *a, const vs_image *b)
{
    double se = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w * a->c; x++) {
            double d = (double)px_at(a, 0, y)[x] - px_at(b, 0, y)[x];
            se += d * d;
        }
    double mse = se / ((double)a->w * a->h * a->c);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static vs_image *load(const char *rel)
{
    vs_image *img = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_load(data_path(rel), NULL, &img, &err);
    CHECK(st == VS_OK, "load %s: %s (%s)", rel, vs_status_str(st), err.msg);
    return img;
}

/* ---- header parsers written here (the independent size reference) ----------------------- */

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walks JPEG marker segments to the first SOFn; returns 0 if none. */
static int jpeg_sof_size(const uint8_t *b, size_t n, int *w, int *h)
{
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xff)
            return 0;
        unsigned m = b[i + 1];
        if (m == 0xff) {
            i++;
            continue;
        }
        unsigned len = be16(b + i + 2);
        if ((m >= 0xc0 && m <= 0xcf) && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (i + 9 > n)
                return 0;
            *h = (int)be16(b + i + 5);
            *w = (int)be16(b + i + 7);
            return 1;
        }
        i += 2 + len;
    }
    return 0;
}

/* ---- tiny image helpers --------------------------------------------------------------------- */

static vs_image *new_image(int w, int h, int c)
{
    vs_image *img = NULL;
    vs_err err = {{0}};
    vs_status st = vs_image_new(w, h, c, &img, &err);
    if (st != VS_OK) {
        printf("  FATAL vs_image_new(%d, %d, %d): %s\n", w, h, c, err.msg);
        exit(1);
    }
    return img;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* The 5 EXIF primitives, each written as "where does upright pixel (u, v) read from". */
static vs_image *transform(const vs_image *s, const char *op)
{
    int swap = strcmp(op, "rot90cw") == 0 || strcmp(op, "rot90ccw") == 0;
    vs_image *d = new_image(swap ? s->h : s->w, swap ? s->w : s->h, s->c);
    for (int v = 0; v < d->h; v++)
        for (int u = 0; u < d->w; u++) {
            int x = u, y = v;
            if (strcmp(op, "mirror") == 0)
                x = s->w - 1 - u;
            else if (strcmp(op, "flip") == 0)
                y = s->h - 1 - v;
            else if (strcmp(op, "rot180") == 0)
                x = s->w - 1 - u, y = s->h - 1 - v;
            else if (strcmp(op, "rot90cw") == 0) /* turning clockwise: top-left goes top-right */
                x = v, y = s->h - 1 - u;
            else if (strcmp(op, "rot90ccw") == 0)
                x = s->w - 1 - v, y = u;
            memcpy(px_at(d, u, v), px_at(s, x, y), (size_t)s->c);
        }
    return d;
}

/* EXIF 2.3's definitions: the display transform of each orientation, as primitive steps. */
static const char *const exif_steps[9][2] = {
    {NULL, NULL},      {NULL, NULL},          {"mirror", NULL},
    {"rot180", NULL},  {"flip", NULL},        {"mirror", "rot90ccw"},
    {"rot90cw", NULL}, {"mirror", "rot90cw"}, {"rot90ccw", NULL},
};

static vs_image *display_transform(const vs_image *s, int o, int inverse)
{
    vs_image *cur = new_image(s->w, s->h, s->c);
    memcpy(cur->px, s->px, s->stride * (size_t)s->h);
    for (int k = 0; k < 2; k++) {
        const char *step = exif_steps[o][inverse ? 1 - k : k];
        if (!step)
            continue;
        if (inverse) /* the inverse of each primitive */
            step = strcmp(step, "rot90cw") == 0    ? "rot90ccw"
                   : strcmp(step, "rot90ccw") == 0 ? "rot90cw"
                                                   : step;
        vs_image *next = transform(cur, step);
        vs_image_free(cur);
        cur = next;
    }
    return cur;
}

/* ---- encoders (libjpeg, libspng, libwebp) for files the decoder reads back --------------- */

static uint8_t *encode_jpeg(const vs_image *img, int quality, const uint8_t *app1, size_t app1_n,
                            size_t *n)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *buf = NULL;
    unsigned long size = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &size);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    if (app1)
        jpeg_write_marker(&ci, JPEG_APP0 + 1, app1, (unsigned)app1_n);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = px_at(img, 0, (int)ci.next_scanline);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *n = size;
    return buf;
}

/* An Exif APP1 payload with one IFD0 entry: orientation o, SHORT, little or big endian. */
static size_t exif_app1(int o, int big, uint8_t *p)
{
    static const uint8_t le[] = {'E',  'x',  'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                 0x12, 0x01, 3,   0,   1, 0, 0,   0,   0,  0, 0, 0, 0, 0, 0, 0};
    static const uint8_t be[] = {'E',  'x',  'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                 0x01, 0x12, 0,   3,   0, 0, 0,   1,   0, 0,  0, 0, 0, 0, 0, 0};
    memcpy(p, big ? be : le, sizeof le);
    p[big ? 25 : 24] = (uint8_t)o;
    return sizeof le;
}

static uint8_t *encode_png_raw(const struct spng_ihdr *ihdr, const struct spng_plte *plte,
                               const void *pixels, size_t len, size_t *n)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr copy = *ihdr;
    spng_set_ihdr(ctx, &copy);
    if (plte) {
        struct spng_plte pc = *plte;
        spng_set_plte(ctx, &pc);
    }
    int rc = spng_encode_image(ctx, pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    int e = 0;
    uint8_t *out = rc == 0 ? spng_get_png_buffer(ctx, n, &e) : NULL;
    spng_ctx_free(ctx);
    CHECK(rc == 0 && out, "spng encode: %s", spng_strerror(rc ? rc : e));
    return out;
}

/* ---- decoding real photos ------------------------------------------------------------------ */

static void decode_jpeg_sizes_match_sof(void)
{
    static const char *const files[] = {"faceapi-test/images/faces.jpg",
                                        "group/1.jpg",
                                        "group/2.jpg",
                                        "group/5.jpg",
                                        "group/12.jpg",
                                        "group/retinaface_couple.jpg",
                                        "bbt/bbt1.jpg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n = 0;
        uint8_t *b = read_file(data_path(files[i]), &n);
        CHECK(b != NULL, "cannot read %s", files[i]);
        if (!b)
            continue;
        int w = 0, h = 0;
        CHECK(jpeg_sof_size(b, n, &w, &h), "no SOF in %s", files[i]);
        vs_image *img = NULL;
        vs_err err = {{0}};
        vs_status st = vs_img_decode(b, n, NULL, &img, &err);
        CHECK_ST(st, VS_OK, err);
        if (img) {
            CHECK(img->w == w && img->h == h && img->c == 3, "%s: %dx%dx%d, SOF says %dx%d",
                  files[i], img->w, img->h, img->c, w, h);
            /* Not blank: the first and the middle rows differ somewhere. */
            CHECK(memcmp(px_at(img, 0, 0), px_at(img, 0, img->h / 2), img->stride) != 0,
                  "%s decodes to a flat image", files[i]);
        }
        vs_image_free(img);
        free(b);
    }
}

static void decode_png_sizes_match_ihdr(void)
{
    static const char *const names[] = {"amy",   "bernadette", "howard",  "leonard",
                                        "penny", "raj",        "sheldon", "stuart"};
    for (size_t i = 0; i < 8; i++) {
        for (int k = 1; k <= 5; k++) {
            char rel[128];
            snprintf(rel, sizeof rel, "bbt/%s/%s%d.png", names[i], names[i], k);
            size_t n = 0;
            uint8_t *b = read_file(data_path(rel), &n);
            if (!b)
                continue; /* not every person has five crops */
            vs_image *img = NULL;
            vs_err err = {{0}};
            vs_status st = vs_img_decode(b, n, NULL, &img, &err);
            CHECK_ST(st, VS_OK, err);
            if (img && n >= 24)
                CHECK(img->w == (int)be32(b + 16) && img->h == (int)be32(b + 20),
                      "%s: %dx%d, IHDR says %ux%u", rel, img->w, img->h, be32(b + 16),
                      be32(b + 20));
            vs_image_free(img);
            free(b);
        }
    }
}

/* Grey, grey 16-bit, grey+alpha, palette, RGB 16-bit and RGBA PNGs, built here from a real
 * photo with libspng's encoder, decode to the RGB pixels they represent. */
static void decode_png_colour_types_to_rgb(void)
{
    vs_image *rgb = load("bbt/amy/amy1.png");
    if (!rgb)
        return;
    int w = rgb->w, h = rgb->h;
    size_t np = (size_t)w * h;
    uint8_t *buf = malloc(np * 8), *expect = malloc(np * 3);
    struct spng_plte plte = {0};
    for (int t = 0; t < 6; t++) {
        struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, 0, 0, 0, 0};
        size_t len = 0;
        for (size_t i = 0; i < np; i++) {
            const uint8_t *p = rgb->px + i * 3;
            uint8_t g = p[1];
            uint8_t *e = expect + i * 3;
            switch (t) {
            case 0: /* grey 8 */
                ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE;
                buf[i] = g, e[0] = e[1] = e[2] = g, len = np;
                break;
            case 1: /* grey 16, big-endian samples g * 257 */
                ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE, ihdr.bit_depth = 16;
                buf[2 * i] = buf[2 * i + 1] = g, e[0] = e[1] = e[2] = g, len = np * 2;
                break;
            case 2: /* grey + alpha: alpha dropped */
                ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
                buf[2 * i] = g, buf[2 * i + 1] = (uint8_t)(i * 7), e[0] = e[1] = e[2] = g;
                len = np * 2;
                break;
            case 3: { /* palette: 3-3-2 bit colours */
                ihdr.color_type = SPNG_COLOR_TYPE_INDEXED;
                uint8_t idx = (uint8_t)((p[0] & 0xe0) | (p[1] & 0xe0) >> 3 | p[2] >> 6);
                buf[i] = idx, len = np;
                e[0] = (uint8_t)(idx & 0xe0), e[1] = (uint8_t)((idx << 3) & 0xe0);
                e[2] = (uint8_t)((idx & 3) << 6);
                break;
            }
            case 4: /* RGB 16 */
                ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR, ihdr.bit_depth = 16;
                for (int k = 0; k < 3; k++)
                    buf[6 * i + 2 * k] = buf[6 * i + 2 * k + 1] = p[k], e[k] = p[k];
                len = np * 6;
                break;
            default: /* RGBA */
                ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
                memcpy(buf + 4 * i, p, 3), buf[4 * i + 3] = (uint8_t)i, memcpy(e, p, 3);
                len = np * 4;
                break;
            }
        }
        if (t == 3) {
            plte.n_entries = 256;
            for (int k = 0; k < 256; k++) {
                plte.entries[k].red = (uint8_t)(k & 0xe0);
                plte.entries[k].green = (uint8_t)((k << 3) & 0xe0);
                plte.entries[k].blue = (uint8_t)((k & 3) << 6);
            }
        }
        size_t n = 0;
        uint8_t *png = encode_png_raw(&ihdr, t == 3 ? &plte : NULL, buf, len, &n);
        vs_image *img = NULL;
        vs_err err = {{0}};
        vs_status st = png ? vs_img_decode(png, n, NULL, &img, &err) : VS_INTERNAL;
        CHECK_ST(st, VS_OK, err);
        if (img) {
            CHECK(img->c == 3 && img->w == w && img->h == h, "PNG type %d: %dx%dx%d", t, img->w,
                  img->h, img->c);
            CHECK(memcmp(img->px, expect, np * 3) == 0, "PNG type %d decodes to other pixels", t);
        }
        vs_image_free(img);
        free(png);
    }
    free(buf);
    free(expect);
    vs_image_free(rgb);
}

static void webp_round_trip(void)
{
    vs_image *src = load("faceapi-test/images/faces.jpg");
    if (!src)
        return;
    uint8_t *lossy = NULL, *lossless = NULL;
    size_t nl = WebPEncodeRGB(src->px, src->w, src->h, (int)src->stride, 90.0f, &lossy);
    size_t nx = WebPEncodeLosslessRGB(src->px, src->w, src->h, (int)src->stride, &lossless);
    CHECK(nl > 0 && nx > 0, "WebP encoder failed");
    vs_image *a = NULL, *b = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_decode(lossy, nl, NULL, &a, &err);
    CHECK_ST(st, VS_OK, err);
    st = vs_img_decode(lossless, nx, NULL, &b, &err);
    CHECK_ST(st, VS_OK, err);
    if (a) {
        CHECK(a->w == src->w && a->h == src->h, "lossy WebP %dx%d", a->w, a->h);
        double p = psnr(a, src);
        CHECK(p > 30.0, "lossy WebP PSNR %.2f dB", p);
        printf("  webp q90: %zu bytes, PSNR %.2f dB\n", nl, p);
    }
    if (b)
        CHECK(same_pixels(b, src), "lossless WebP does not decode to the source pixels");
    /* A pixel limit below the image's size is refused from the header. */
    vs_img_limits lim = {0, (uint64_t)src->w * src->h - 1};
    vs_image *c = NULL;
    st = vs_img_decode(lossy, nl, &lim, &c, &err);
    CHECK_ST(st, VS_LIMIT, err);
    CHECK(c == NULL, "out not NULL on failure");
    vs_image_free(a);
    vs_image_free(b);
    WebPFree(lossy);
    WebPFree(lossless);
    vs_image_free(src);
}

/* ---- EXIF orientation ------------------------------------------------------------------ */

static void exif_orientations_turn_upright(void)
{
    vs_image *full = load("bbt/amy/amy1.png");
    if (!full)
        return;
    vs_image *up = NULL;
    vs_err err = {{0}};
    vs_img_crop(full, 10, 30, 120, 80, &up, &err); /* not square, so turns change the size */
    for (int o = 1; o <= 8; o++) {
        vs_image *stored = display_transform(up, o, 1);
        uint8_t app1[64];
        size_t app1_n = exif_app1(o, o % 2, app1);
        size_t n_with = 0, n_without = 0;
        uint8_t *with = encode_jpeg(stored, 95, app1, app1_n, &n_with);
        uint8_t *without = encode_jpeg(stored, 95, NULL, 0, &n_without);
        vs_image *got = NULL, *raw = NULL;
        vs_status st = vs_img_decode(with, n_with, NULL, &got, &err);
        CHECK_ST(st, VS_OK, err);
        st = vs_img_decode(without, n_without, NULL, &raw, &err);
        CHECK_ST(st, VS_OK, err);
        if (got && raw) {
            vs_image *want = display_transform(raw, o, 0);
            CHECK(same_pixels(got, want),
                  "orientation %d: pixels differ from the %s of the "
                  "stored image",
                  o, exif_steps[o][0] ? exif_steps[o][0] : "copy");
            CHECK(got->w == up->w && got->h == up->h, "orientation %d: %dx%d, upright is %dx%d", o,
                  got->w, got->h, up->w, up->h);
            if (got->w == up->w && got->h == up->h) {
                double p = psnr(got, up);
                CHECK(p > 30.0, "orientation %d: PSNR against the upright photo %.1f dB", o, p);
            }
            vs_image_free(want);
        }
        vs_image_free(got);
        vs_image_free(raw);
        free(with);
        free(without);
        vs_image_free(stored);
    }
    vs_image_free(up);
    vs_image_free(full);
}

static void exif_parser_rejects_bad_blocks(void)
{
    uint8_t app1[64];
    size_t n = exif_app1(6, 0, app1);
    const uint8_t *tiff = app1 + 6;
    size_t tn = n - 6;
    CHECK_EQ_INT(vs_img_exif_orientation(tiff, tn), 6);
    exif_app1(8, 1, app1);
    CHECK_EQ_INT(vs_img_exif_orientation(tiff, tn), 8);
    /* Every truncation of a valid block reads inside it and yields 1 or the right value. */
    exif_app1(3, 0, app1);
    for (size_t k = 0; k < tn; k++) {
        int o = vs_img_exif_orientation(tiff, k), want = k >= 22 ? 3 : 1; /* entry ends at 22 */
        CHECK(o == want, "block cut to %zu bytes gives %d, expected %d", k, o, want);
    }
    uint8_t bad[26];
    memcpy(bad, tiff, sizeof bad);
    bad[4] = 0xff, bad[5] = 0xff, bad[6] = 0xff, bad[7] = 0x7f; /* IFD offset far outside */
    CHECK_EQ_INT(vs_img_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, tiff, sizeof bad);
    bad[8] = 0xff, bad[9] = 0xff; /* 65535 entries claimed */
    CHECK_EQ_INT(vs_img_exif_orientation(bad, sizeof bad), 3);
    memcpy(bad, tiff, sizeof bad);
    bad[12] = 2; /* type ASCII */
    CHECK_EQ_INT(vs_img_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, tiff, sizeof bad);
    bad[18] = 9; /* value out of 1..8 */
    CHECK_EQ_INT(vs_img_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, tiff, sizeof bad);
    bad[2] = 43; /* not TIFF */
    CHECK_EQ_INT(vs_img_exif_orientation(bad, sizeof bad), 1);
    CHECK_EQ_INT(vs_img_exif_orientation(NULL, 100), 1);
}

/* ---- limits and broken input ------------------------------------------------------------ */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Signature + IHDR (w x h, 8-bit RGB) + a tiny IDAT + IEND: 57 bytes. */
static size_t huge_png(uint8_t *b, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t idat[] = {0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1};
    size_t n = 0;
    memcpy(b, sig, 8), n = 8;
    put_be32(b + n, 13), memcpy(b + n + 4, "IHDR", 4);
    put_be32(b + n + 8, w), put_be32(b + n + 12, h);
    b[n + 16] = 8, b[n + 17] = 2, b[n + 18] = b[n + 19] = b[n + 20] = 0;
    put_be32(b + n + 21, crc32_png(b + n + 4, 17)), n += 25;
    put_be32(b + n, sizeof idat), memcpy(b + n + 4, "IDAT", 4);
    memcpy(b + n + 8, idat, sizeof idat);
    put_be32(b + n + 8 + sizeof idat, crc32_png(b + n + 4, 4 + sizeof idat));
    n += 12 + sizeof idat;
    put_be32(b + n, 0), memcpy(b + n + 4, "IEND", 4), put_be32(b + n + 8, crc32_png(b + n + 4, 4));
    return n + 12;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void limits_refuse_before_allocating(void)
{
    uint8_t b[128];
    size_t n = huge_png(b, 20000, 20000);
    vs_image *img = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_decode(b, n, NULL, &img, &err);
    CHECK_ST(st, VS_LIMIT, err);
    CHECK(img == NULL, "out not NULL");
    CHECK(strstr(err.msg, "20000x20000") != NULL, "message \"%s\" lacks the size", err.msg);
    /* 2^31-1 square: w * h * 3 overflows 32 bits (and the pixel limit). */
    n = huge_png(b, 0x7fffffff, 0x7fffffff);
    st = vs_img_decode(b, n, NULL, &img, &err);
    CHECK(st == VS_LIMIT || st == VS_FORMAT, "2^31 PNG: %s", vs_status_str(st));
    /* Input bytes over max_bytes. */
    vs_img_limits lim = {16, 0};
    st = vs_img_decode(b, n, &lim, &img, &err);
    CHECK_ST(st, VS_LIMIT, err);
    st = vs_image_new(INT_MAX, INT_MAX, 4, &img, &err);
    CHECK_ST(st, VS_LIMIT, err);
#ifndef UNDER_ASAN
    /* The same 20000 x 20000 PNG in a child whose address space cannot hold its 1.2 GB: if the
     * decoder allocated before checking, it would get VS_NOMEM (or die) instead of VS_LIMIT. */
    n = huge_png(b, 20000, 20000);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
        setrlimit(RLIMIT_AS, &rl);
        vs_img_limits big = {0, (uint64_t)1 << 40};
        vs_image *im = NULL;
        vs_status s2 = vs_img_decode(b, n, NULL, &im, NULL);
        vs_status s3 = vs_img_decode(b, n, &big, &im, NULL); /* allowed: must fail cleanly */
        _exit(s2 == VS_LIMIT && (s3 == VS_NOMEM || s3 == VS_FORMAT) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "rlimit child: status %d", status);
#endif
}

static void check_truncations(const char *what, const uint8_t *b, size_t n)
{
    for (int k = 1; k <= 10; k++) {
        size_t cut = n * (size_t)k / 11;
        vs_image *img = NULL;
        vs_err err = {{0}};
        vs_status st = vs_img_decode(b, cut, NULL, &img, &err);
        CHECK(st == VS_FORMAT && img == NULL, "%s cut to %zu of %zu bytes: %s (%s)", what, cut, n,
              vs_status_str(st), err.msg);
        CHECK(strstr(err.msg, "truncated") != NULL, "%s cut: message \"%s\"", what, err.msg);
        vs_image_free(img);
    }
}

static void truncated_and_corrupt_files_fail_cleanly(void)
{
    size_t nj = 0, np = 0;
    uint8_t *jpg = read_file(data_path("faceapi-test/images/faces.jpg"), &nj);
    uint8_t *png = read_file(data_path("bbt/amy/amy1.png"), &np);
    CHECK(jpg && png, "cannot read the test photos");
    if (!jpg || !png)
        goto out;
    check_truncations("JPEG", jpg, nj);
    check_truncations("PNG", png, np);
    vs_image *src = NULL;
    vs_err err = {{0}};
    if (vs_img_decode(png, np, NULL, &src, &err) == VS_OK) {
        uint8_t *webp = NULL;
        size_t nw = WebPEncodeRGB(src->px, src->w, src->h, (int)src->stride, 80.0f, &webp);
        check_truncations("WebP", webp, nw);
        WebPFree(webp);
        vs_image_free(src);
    }
    /* Corrupted bytes in the middle: any status but a crash (ASan watches), and a consistent
     * out pointer. */
    for (int k = 0; k < 200; k++) {
        const uint8_t *orig = k % 2 ? jpg : png;
        size_t n = k % 2 ? nj : np;
        uint8_t *b = malloc(n);
        memcpy(b, orig, n);
        for (int j = 0; j < 1 + k % 8; j++)
            b[20 + rnd() % (n - 20)] ^= (uint8_t)(1 + rnd() % 255);
        vs_image *img = NULL;
        vs_status st = vs_img_decode(b, n, NULL, &img, &err);
        CHECK((st == VS_OK) == (img != NULL), "corrupt file %d: status %s, out %p", k,
              vs_status_str(st), (void *)img);
        CHECK(st == VS_OK || st == VS_FORMAT || st == VS_UNSUPPORTED || st == VS_LIMIT,
              "corrupt file %d: status %s", k, vs_status_str(st));
        vs_image_free(img);
        free(b);
    }
out:
    free(jpg);
    free(png);
}

static void junk_input_is_refused(void)
{
    vs_image *img = (vs_image *)&img; /* must be reset to NULL */
    vs_err err = {{0}};
    vs_status st = vs_img_decode((const uint8_t *)"", 0, NULL, &img, &err);
    CHECK_ST(st, VS_FORMAT, err);
    CHECK(img == NULL, "empty input: out not reset");
    st = vs_img_decode(NULL, 0, NULL, &img, &err);
    CHECK_ST(st, VS_FORMAT, err);
    st = vs_img_decode((const uint8_t *)"x", 1, NULL, NULL, &err);
    CHECK_ST(st, VS_INVAL, err);
    const char *text = "# Test data: where it comes from\nReal photographs for tests.\n";
    st = vs_img_decode((const uint8_t *)text, strlen(text), NULL, &img, &err);
    CHECK_ST(st, VS_UNSUPPORTED, err);
    CHECK(strcmp(err.msg, "not a JPEG, PNG or WebP image") == 0, "message \"%s\"", err.msg);
    st = vs_img_load("/nonexistent/visage.jpg", NULL, &img, &err);
    CHECK_ST(st, VS_IO, err);
    /* Random bytes, bare and behind each magic number. */
    static const uint8_t magic[4][12] = {{0},
                                         {0xff, 0xd8, 0xff},
                                         {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
                                         {'R', 'I', 'F', 'F', 0, 1, 0, 0, 'W', 'E', 'B', 'P'}};
    static const size_t magic_n[4] = {0, 3, 8, 12};
    uint8_t buf[4096];
    for (int k = 0; k < 400; k++) {
        size_t n = 1 + rnd() % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        int m = k % 4;
        if (n < magic_n[m])
            n = magic_n[m];
        memcpy(buf, magic[m], magic_n[m]);
        st = vs_img_decode(buf, n, NULL, &img, &err);
        CHECK(st != VS_OK && img == NULL, "random buffer %d (magic %d): %s", k, m,
              vs_status_str(st));
    }
}

/* ---- resize, crop, warp ---------------------------------------------------------------- */

static void resize_matches_tfjs(void)
{
    size_t n = 0;
    char *json = (char *)read_file("tests/data/img/tfjs_resize.json", &n);
    CHECK(json != NULL, "cannot read tests/data/img/tfjs_resize.json (run from the repo root)");
    if (!json)
        return;
    json[n] = 0;
    cJSON *root = cJSON_Parse(json);
    cJSON *in = cJSON_GetObjectItem(root, "input");
    int w = cJSON_GetObjectItem(in, "w")->valueint, h = cJSON_GetObjectItem(in, "h")->valueint;
    vs_image *src = new_image(w, h, 3);
    cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(in, "data")) src->px[i++] = (uint8_t)v->valueint;
    int cases = 0;
    cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases"))
    {
        int ow = cJSON_GetObjectItem(cs, "w")->valueint,
            oh = cJSON_GetObjectItem(cs, "h")->valueint;
        int align = cJSON_IsTrue(cJSON_GetObjectItem(cs, "align_corners"));
        int half = cJSON_IsTrue(cJSON_GetObjectItem(cs, "half_pixel_centers"));
        vs_resize_mode mode = align  ? VS_RESIZE_BILINEAR_CORNERS
                              : half ? VS_RESIZE_BILINEAR_HALF
                                     : VS_RESIZE_BILINEAR;
        float *out = malloc(sizeof(float) * (size_t)ow * oh * 3);
        vs_err err = {{0}};
        vs_status st = vs_img_resize_to_f32(src, ow, oh, mode, 1.0f, 0.0f, out, &err);
        CHECK_ST(st, VS_OK, err);
        double worst = 0;
        i = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(cs, "out"))
        {
            double d = fabs(out[i++] - v->valuedouble);
            worst = d > worst ? d : worst;
        }
        CHECK(i == ow * oh * 3, "case %dx%d: %d values", ow, oh, i);
        CHECK(worst <= 1e-4, "resize to %dx%d align %d half %d: max |diff| %g vs TFJS", ow, oh,
              align, half, worst);
        cases++;
        free(out);
    }
    CHECK(cases == 15, "%d TFJS cases", cases);
    vs_image_free(src);
    cJSON_Delete(root);
    free(json);
}

/* Bilinear interpolation reproduces a linear ramp exactly, so the source coordinate of each
 * convention can be read back from the output. */
static void resize_conventions_on_a_ramp(void)
{
    vs_image *src = new_image(9, 6, 1);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 9; x++)
            src->px[y * 9 + x] = (uint8_t)(10 * x + 3 * y);
    const int ow = 14, oh = 4;
    float out[14 * 4];
    for (int m = VS_RESIZE_BILINEAR; m <= VS_RESIZE_BILINEAR_CORNERS; m++) {
        vs_img_resize_to_f32(src, ow, oh, (vs_resize_mode)m, 1.0f, 0.0f, out, NULL);
        double worst = 0;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double sx, sy;
                if (m == VS_RESIZE_BILINEAR)
                    sx = x * 9.0 / ow, sy = y * 6.0 / oh;
                else if (m == VS_RESIZE_BILINEAR_HALF)
                    sx = (x + 0.5) * 9.0 / ow - 0.5, sy = (y + 0.5) * 6.0 / oh - 0.5;
                else
                    sx = x * 8.0 / (ow - 1), sy = y * 5.0 / (oh - 1);
                sx = sx < 0 ? 0 : sx > 8 ? 8 : sx;
                sy = sy < 0 ? 0 : sy > 5 ? 5 : sy;
                double d = fabs(out[y * ow + x] - (10 * sx + 3 * sy));
                worst = d > worst ? d : worst;
            }
        CHECK(worst < 1e-4, "mode %d: ramp error %g", m, worst);
    }
    /* Same size: every mode is the identity. */
    vs_image *same = new_image(9, 6, 1);
    for (int m = VS_RESIZE_BILINEAR; m <= VS_RESIZE_AREA; m++) {
        vs_img_resize(src, same, (vs_resize_mode)m, NULL);
        CHECK(same_pixels(src, same), "mode %d at the same size is not the identity", m);
    }
    vs_image_free(same);
    vs_image_free(src);
}

static void area_downscale_by_two_is_block_mean(void)
{
    vs_image *src = load("bbt/amy/amy1.png");
    if (!src)
        return;
    vs_image *half = new_image(src->w / 2, src->h / 2, 3);
    vs_err err = {{0}};
    vs_status st = vs_img_resize(src, half, VS_RESIZE_AREA, &err);
    CHECK_ST(st, VS_OK, err);
    int bad = 0;
    for (int y = 0; y < half->h; y++)
        for (int x = 0; x < half->w; x++)
            for (int k = 0; k < 3; k++) {
                int s = px_at(src, 2 * x, 2 * y)[k] + px_at(src, 2 * x + 1, 2 * y)[k] +
                        px_at(src, 2 * x, 2 * y + 1)[k] + px_at(src, 2 * x + 1, 2 * y + 1)[k];
                bad += px_at(half, x, y)[k] != (s + 2) / 4;
            }
    CHECK(bad == 0, "%d values differ from the 2x2 mean", bad);
    /* Downscale by 3 on a 150-wide image: 50 columns, each the mean of a 3x3 block. */
    vs_image *third = new_image(src->w / 3, src->h / 3, 3);
    vs_img_resize(src, third, VS_RESIZE_AREA, NULL);
    int s = 0;
    for (int dy = 0; dy < 3; dy++)
        for (int dx = 0; dx < 3; dx++)
            s += px_at(src, 3 * 7 + dx, 3 * 5 + dy)[1];
    CHECK(abs(px_at(third, 7, 5)[1] - (int)floor(s / 9.0 + 0.5)) == 0, "3x3 mean %d vs %d",
          px_at(third, 7, 5)[1], (int)floor(s / 9.0 + 0.5));
    vs_image_free(third);
    vs_image_free(half);
    vs_image_free(src);
}

static void crop_clamps_to_the_image(void)
{
    vs_image *src = new_image(20, 10, 3);
    for (size_t i = 0; i < 600; i++)
        src->px[i] = (uint8_t)i;
    vs_image *c = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_crop(src, -5, 4, 12, 100, &c, &err);
    CHECK_ST(st, VS_OK, err);
    if (c) {
        CHECK(c->w == 7 && c->h == 6, "crop %dx%d, expected 7x6", c->w, c->h);
        CHECK(memcmp(px_at(c, 0, 0), px_at(src, 0, 4), 21) == 0, "crop content");
        CHECK(memcmp(px_at(c, 0, 5), px_at(src, 0, 9), 21) == 0, "crop content (last row)");
    }
    vs_image_free(c);
    st = vs_img_crop(src, 25, 0, 5, 5, &c, &err);
    CHECK_ST(st, VS_INVAL, err);
    st = vs_img_crop(src, INT_MAX - 1, INT_MAX - 1, INT_MAX, INT_MAX, &c, &err);
    CHECK_ST(st, VS_INVAL, err);
    vs_image_free(src);
}

static void warp_identity_rotation_and_fit(void)
{
    vs_image *src = load("bbt/amy/amy1.png");
    if (!src)
        return;
    vs_err err = {{0}};
    vs_image *dst = new_image(src->w, src->h, 3);
    const float id[6] = {1, 0, 0, 0, 1, 0};
    vs_status st = vs_img_warp_affine(src, id, 0, dst, &err);
    CHECK_ST(st, VS_OK, err);
    CHECK(same_pixels(src, dst), "identity warp changed the image");
    /* [0 -1 h-1; 1 0 0] sends (x, y) to (h-1-y, x): a quarter turn clockwise. */
    vs_image *crop = NULL;
    vs_img_crop(src, 5, 20, 100, 60, &crop, &err);
    vs_image *turned = new_image(crop->h, crop->w, 3);
    const float rot[6] = {0, -1, (float)(crop->h - 1), 1, 0, 0};
    vs_img_warp_affine(crop, rot, 0, turned, &err);
    vs_image *want = transform(crop, "rot90cw");
    CHECK(same_pixels(turned, want), "90-degree warp differs from the rotation");
    /* A shift by (3, -2) with border 7. */
    const float shift[6] = {1, 0, 3, 0, 1, -2};
    vs_img_warp_affine(src, shift, 7, dst, &err);
    CHECK(memcmp(px_at(dst, 3, 0), px_at(src, 0, 2), 3) == 0, "shifted pixel");
    CHECK(px_at(dst, 1, 5)[0] == 7 && px_at(dst, 5, src->h - 1)[2] == 7, "border value");
    const float singular[6] = {1, 2, 0, 2, 4, 0};
    st = vs_img_warp_affine(src, singular, 0, dst, &err);
    CHECK_ST(st, VS_INVAL, err);
    vs_image_free(want);
    vs_image_free(turned);
    vs_image_free(crop);
    vs_image_free(dst);
    vs_image_free(src);
}

static void similarity_fit_recovers_transforms(void)
{
    /* ArcFace's 112x112 template as five source points, mapped by a known similarity. */
    const float tpl[10] = {38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f,
                           71.7366f, 41.5493f, 92.3655f, 70.7299f, 92.2041f};
    const double ang = 0.52, sc = 1.7, tx = -13.5, ty = 40.25;
    const double a = sc * cos(ang), b = sc * sin(ang);
    float dst[10], m[6];
    for (int i = 0; i < 5; i++) {
        dst[2 * i] = (float)(a * tpl[2 * i] - b * tpl[2 * i + 1] + tx);
        dst[2 * i + 1] = (float)(b * tpl[2 * i] + a * tpl[2 * i + 1] + ty);
    }
    vs_err err = {{0}};
    vs_status st = vs_img_fit_similarity(tpl, dst, 5, m, &err);
    CHECK_ST(st, VS_OK, err);
    const double want[6] = {a, -b, tx, b, a, ty};
    for (int k = 0; k < 6; k++)
        CHECK(fabs(m[k] - want[k]) < 1e-3 * (k % 3 == 2 ? 10 : 1), "m[%d] = %g, expected %g", k,
              m[k], want[k]);
    /* Noisy points: the fit is a least-squares minimum, so nudging any parameter (within the
     * similarity family) does not lower the residual. */
    float noisy[10];
    for (int i = 0; i < 10; i++)
        noisy[i] = dst[i] + (float)((int)(rnd() % 200) - 100) / 50.0f;
    vs_img_fit_similarity(tpl, noisy, 5, m, &err);
    double p[4] = {m[0], m[3], m[2], m[5]}; /* a, b, tx, ty */
    double best = 0;
    for (int trial = -1; trial < 8; trial++) {
        double q[4] = {p[0], p[1], p[2], p[3]};
        if (trial >= 0)
            q[trial / 2] += (trial % 2 ? 1 : -1) * (trial / 2 < 2 ? 1e-3 : 1e-2);
        double r = 0;
        for (int i = 0; i < 5; i++) {
            double ex = q[0] * tpl[2 * i] - q[1] * tpl[2 * i + 1] + q[2] - noisy[2 * i];
            double ey = q[1] * tpl[2 * i] + q[0] * tpl[2 * i + 1] + q[3] - noisy[2 * i + 1];
            r += ex * ex + ey * ey;
        }
        if (trial < 0)
            best = r;
        else
            CHECK(r >= best - 1e-6, "nudge %d lowers the residual: %g < %g", trial, r, best);
    }
    /* Mirrored targets: still a proper similarity (det > 0), never a reflection. */
    float mirrored[10];
    for (int i = 0; i < 5; i++)
        mirrored[2 * i] = 112 - tpl[2 * i], mirrored[2 * i + 1] = tpl[2 * i + 1];
    vs_img_fit_similarity(tpl, mirrored, 5, m, &err);
    CHECK(m[0] * m[4] - m[1] * m[3] >= 0 && m[0] == m[4] && m[1] == -m[3],
          "fit on mirrored points is not a rotation+scale: [%g %g; %g %g]", m[0], m[1], m[3], m[4]);
    float same[4] = {1, 1, 1, 1};
    st = vs_img_fit_similarity(same, dst, 2, m, &err);
    CHECK_ST(st, VS_INVAL, err);
    float inv[6];
    const float fwd[6] = {2, 1, 5, -1, 3, 7};
    vs_img_affine_invert(fwd, inv, &err);
    /* inv(fwd(p)) == p */
    double x = 4, y = -9, fx = 2 * x + y + 5, fy = -x + 3 * y + 7;
    CHECK(fabs(inv[0] * fx + inv[1] * fy + inv[2] - x) < 1e-4 &&
              fabs(inv[3] * fx + inv[4] * fy + inv[5] - y) < 1e-4,
          "affine inverse");
}

/* ---- colour ----------------------------------------------------------------------------- */

static void colour_conversions(void)
{
    vs_image *src = load("faceapi-test/images/faces.jpg");
    if (!src)
        return;
    vs_image *grey = new_image(src->w, src->h, 1), *ycc = new_image(src->w, src->h, 3);
    vs_err err = {{0}};
    vs_status st = vs_img_to_grey(src, grey, &err);
    CHECK_ST(st, VS_OK, err);
    st = vs_img_rgb_to_ycbcr(src, ycc, &err);
    CHECK_ST(st, VS_OK, err);
    int bad_grey = 0, bad_cc = 0;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            const uint8_t *p = px_at(src, x, y), *q = px_at(ycc, x, y);
            double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            double frac = l - floor(l);
            if (fabs(frac - 0.5) > 1e-6 && px_at(grey, x, y)[0] != (int)floor(l + 0.5))
                bad_grey++;
            /* Back to RGB with JFIF's inverse: within 2 of the original. */
            double r = q[0] + 1.402 * (q[2] - 128);
            double g = q[0] - 0.344136 * (q[1] - 128) - 0.714136 * (q[2] - 128);
            double b = q[0] + 1.772 * (q[1] - 128);
            if (fabs(r - p[0]) > 2 || fabs(g - p[1]) > 2 || fabs(b - p[2]) > 2)
                bad_cc++;
        }
    CHECK(bad_grey == 0, "%d grey values differ from BT.601", bad_grey);
    CHECK(bad_cc == 0, "%d YCbCr values do not invert", bad_cc);
    vs_image *small = NULL;
    vs_img_crop(src, 100, 50, 4, 3, &small, &err);
    float nhwc[36], chw[36];
    vs_img_to_f32(small, nhwc, 1.0f / 127.5f, -1.0f);
    vs_img_to_f32_chw(small, chw, 2.0f, 1.0f, 1);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++) {
                uint8_t v = px_at(small, x, y)[k];
                CHECK(fabsf(nhwc[(y * 4 + x) * 3 + k] - (v / 127.5f - 1.0f)) < 1e-6, "nhwc");
                CHECK(chw[(2 - k) * 12 + y * 4 + x] == v * 2.0f + 1.0f, "chw bgr");
            }
    vs_image_free(small);
    vs_image_free(grey);
    vs_image_free(ycc);
    vs_image_free(src);
}

/* ---- low light -------------------------------------------------------------------------- */

/* A dark frame: gamma 2.4, exposure x 0.7 and a little sensor noise. */
static void darken(vs_image *img)
{
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w * img->c; x++) {
            uint8_t *p = px_at(img, 0, y) + x;
            double v = 255.0 * pow(*p / 255.0, 2.4) * 0.7 + (double)(rnd() % 5) - 2.0;
            *p = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : floor(v + 0.5));
        }
}

static void low_light_enhancement(void)
{
    vs_image *img = load("faceapi-test/images/faces.jpg");
    if (!img)
        return;
    vs_brightness before, orig, after;
    vs_err err = {{0}};
    vs_img_brightness(img, &orig, &err);
    CHECK(!orig.is_dark, "faces.jpg counted dark (mean %.1f)", orig.mean_luma);
    darken(img);
    vs_img_brightness(img, &before, &err);
    CHECK(before.is_dark, "darkened frame not dark (mean %.1f)", before.mean_luma);
    vs_image *gam = NULL;
    vs_image_clone(img, &gam, &err);
    vs_image *dark = NULL;
    vs_image_clone(img, &dark, &err);
    vs_status st = vs_img_enhance_low_light(img, NULL, &err);
    CHECK_ST(st, VS_OK, err);
    vs_img_brightness(img, &after, &err);
    printf("  low light: mean luma %.1f original, %.1f darkened, %.1f after CLAHE\n",
           orig.mean_luma, before.mean_luma, after.mean_luma);
    CHECK(after.mean_luma > before.mean_luma + 20, "CLAHE: %.1f -> %.1f", before.mean_luma,
          after.mean_luma);
    CHECK(after.mean_luma < 200, "CLAHE overshoots: mean %.1f", after.mean_luma);
    size_t sat = 0, kept = 0, changed = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            const uint8_t *p = px_at(img, x, y), *q = px_at(dark, x, y);
            sat += p[0] == 255 || p[1] == 255 || p[2] == 255;
            int clipped = 0;
            for (int k = 0; k < 3; k++)
                clipped |= p[k] == 0 || p[k] == 255;
            if (clipped)
                continue;
            changed++;
            /* Same change on every channel: R - G and B - G survive (within rounding). */
            kept +=
                abs((p[0] - p[1]) - (q[0] - q[1])) <= 1 && abs((p[2] - p[1]) - (q[2] - q[1])) <= 1;
        }
    CHECK(sat < (size_t)img->w * img->h / 20, "%zu saturated pixels", sat);
    CHECK(kept == changed, "chroma changed on %zu of %zu pixels", changed - kept, changed);
    /* Gamma, automatic: mean near the 110 target. */
    vs_enhance_opts go = {VS_ENHANCE_GAMMA, 0, 0, 0, 0};
    st = vs_img_enhance_low_light(gam, &go, &err);
    CHECK_ST(st, VS_OK, err);
    vs_img_brightness(gam, &after, &err);
    CHECK(after.mean_luma > 80 && after.mean_luma < 140, "auto gamma: mean %.1f", after.mean_luma);
    vs_enhance_opts bad = {VS_ENHANCE_CLAHE, 17, 8, 2.5f, 0};
    st = vs_img_enhance_low_light(gam, &bad, &err);
    CHECK_ST(st, VS_INVAL, err);
    vs_image_free(gam);
    vs_image_free(dark);
    vs_image_free(img);
}

/* One tile and no effective clipping: CLAHE is global histogram equalisation. */
static void clahe_one_tile_is_histogram_equalisation(void)
{
    vs_image *rgb = load("bbt/amy/amy1.png");
    if (!rgb)
        return;
    vs_image *g = new_image(rgb->w, rgb->h, 1);
    vs_img_to_grey(rgb, g, NULL);
    darken(g);
    uint64_t hist[256] = {0}, cdf = 0, n = (uint64_t)g->w * g->h;
    for (uint64_t i = 0; i < n; i++)
        hist[g->px[i]]++;
    uint8_t map[256];
    for (int v = 0; v < 256; v++) {
        cdf += hist[v];
        map[v] = (uint8_t)floor(cdf * 255.0 / n + 0.5);
    }
    vs_image *want = new_image(g->w, g->h, 1);
    for (uint64_t i = 0; i < n; i++)
        want->px[i] = map[g->px[i]];
    vs_enhance_opts o = {VS_ENHANCE_CLAHE, 1, 1, 256.0f, 0};
    vs_err err = {{0}};
    vs_status st = vs_img_enhance_low_light(g, &o, &err);
    CHECK_ST(st, VS_OK, err);
    CHECK(same_pixels(g, want), "1x1 CLAHE is not histogram equalisation");
    vs_image_free(want);
    vs_image_free(g);
    vs_image_free(rgb);
}

/* ---- draw and PNG output ---------------------------------------------------------------- */

static void draw_and_png_round_trip(void)
{
    vs_image *img = load("bbt/amy/amy1.png");
    if (!img)
        return;
    vs_image *orig = NULL;
    vs_err err = {{0}};
    vs_image_clone(img, &orig, &err);
    const vs_rgb red = {255, 0, 0}, green = {0, 255, 0}, white = {255, 255, 255};
    vs_img_draw_rect(img, 20, 30, 60, 50, 3, red);
    vs_img_draw_point(img, 100, 100, 2, green);
    vs_img_draw_text(img, 10, 120, "A1", 2, white);
    vs_img_draw_rect(img, -50, -50, 400, 400, 2, red);  /* mostly outside: clipped */
    vs_img_draw_text(img, 140, 140, "clip?", 3, white); /* runs off the edge */
    vs_img_draw_point(img, -3, 5, 4, green);
    CHECK(memcmp(px_at(img, 20, 30), "\xff\x00\x00", 3) == 0, "rect corner");
    CHECK(memcmp(px_at(img, 79, 79), "\xff\x00\x00", 3) == 0, "rect far corner");
    CHECK(memcmp(px_at(img, 22, 50), "\xff\x00\x00", 3) == 0, "rect left band");
    CHECK(memcmp(px_at(img, 23, 50), px_at(orig, 23, 50), 3) == 0, "rect inside untouched");
    CHECK(memcmp(px_at(img, 80, 50), px_at(orig, 80, 50), 3) == 0, "rect outside untouched");
    CHECK(memcmp(px_at(img, 102, 100), "\x00\xff\x00", 3) == 0, "point radius");
    CHECK(memcmp(px_at(img, 103, 100), px_at(orig, 103, 100), 3) == 0, "point edge");
    /* 'A' top row is .###. at scale 2: x 10..11 untouched, 12..17 white, 18..19 untouched. */
    CHECK(memcmp(px_at(img, 12, 120), "\xff\xff\xff", 3) == 0 &&
              memcmp(px_at(img, 17, 121), "\xff\xff\xff", 3) == 0 &&
              memcmp(px_at(img, 11, 120), px_at(orig, 11, 120), 3) == 0 &&
              memcmp(px_at(img, 18, 120), px_at(orig, 18, 120), 3) == 0,
          "glyph A top row");
    int tw = 0, th = 0;
    vs_img_text_size("A1\nxyz", 2, &tw, &th);
    CHECK(tw == 36 && th == 32, "text size %dx%d", tw, th);

    uint8_t *png = NULL;
    size_t n = 0;
    vs_status st = vs_img_encode_png(img, &png, &n, &err);
    CHECK_ST(st, VS_OK, err);
    vs_image *back = NULL;
    st = vs_img_decode(png, n, NULL, &back, &err);
    CHECK_ST(st, VS_OK, err);
    CHECK(back && same_pixels(back, img), "PNG round trip changed the pixels");
    free(png);
    vs_image_free(back);
    /* Grey and a strided view (a crop described in place) encode too. */
    vs_image view = {50, 40, 3, img->stride, px_at(img, 10, 20)};
    vs_image *grey = new_image(50, 40, 1);
    vs_img_to_grey(&view, grey, NULL);
    st = vs_img_encode_png(&view, &png, &n, &err);
    CHECK_ST(st, VS_OK, err);
    vs_img_decode(png, n, NULL, &back, &err);
    CHECK(back && same_pixels(back, &view), "strided view round trip");
    free(png);
    vs_image_free(back);
    st = vs_img_encode_png(grey, &png, &n, &err);
    CHECK_ST(st, VS_OK, err);
    vs_img_decode(png, n, NULL, &back, &err);
    CHECK(back && back->px[0] == grey->px[0] && back->px[1] == grey->px[0] &&
              px_at(back, 49, 39)[2] == px_at(grey, 49, 39)[0],
          "grey PNG round trip");
    free(png);
    vs_image_free(back);
    vs_image_free(grey);
    vs_image_free(orig);
    vs_image_free(img);
}

/* ---- driver ----------------------------------------------------------------------------- */

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    int needs_data;
} test_case;

static const test_case tests[] = {
    {"decode_jpeg_sizes_match_sof", decode_jpeg_sizes_match_sof, 1},
    {"decode_png_sizes_match_ihdr", decode_png_sizes_match_ihdr, 1},
    {"decode_png_colour_types_to_rgb", decode_png_colour_types_to_rgb, 1},
    {"webp_round_trip", webp_round_trip, 1},
    {"exif_orientations_turn_upright", exif_orientations_turn_upright, 1},
    {"exif_parser_rejects_bad_blocks", exif_parser_rejects_bad_blocks, 0},
    {"limits_refuse_before_allocating", limits_refuse_before_allocating, 0},
    {"truncated_and_corrupt_files_fail_cleanly", truncated_and_corrupt_files_fail_cleanly, 1},
    {"junk_input_is_refused", junk_input_is_refused, 0},
    {"resize_matches_tfjs", resize_matches_tfjs, 0},
    {"resize_conventions_on_a_ramp", resize_conventions_on_a_ramp, 0},
    {"area_downscale_by_two_is_block_mean", area_downscale_by_two_is_block_mean, 1},
    {"crop_clamps_to_the_image", crop_clamps_to_the_image, 0},
    {"warp_identity_rotation_and_fit", warp_identity_rotation_and_fit, 1},
    {"similarity_fit_recovers_transforms", similarity_fit_recovers_transforms, 0},
    {"colour_conversions", colour_conversions, 1},
    {"low_light_enhancement", low_light_enhancement, 1},
    {"clahe_one_tile_is_histogram_equalisation", clahe_one_tile_is_histogram_equalisation, 1},
    {"draw_and_png_round_trip", draw_and_png_round_trip, 1},
};

int main(void)
{
    data_dir = data_root();
    struct stat sb;
    int have_data = stat(data_path("faceapi-test/images/faces.jpg"), &sb) == 0;
    int skipped = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (tests[i].needs_data && !have_data) {
            skipped++;
            continue;
        }
        int before = failures;
        tests[i].fn();
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    if (failures) {
        printf("test_img: %d failure(s)\n", failures);
        return 1;
    }
    if (skipped) {
        printf("SKIP test_img: %d photo tests need %s (set VISAGE_TEST_DATA)\n", skipped, data_dir);
        return 77;
    }
    printf("test_img: all passed\n");
    return 0;
}
