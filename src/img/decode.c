/*
 * decode.c - JPEG, PNG and WebP bytes to an upright RGB vs_image.
 *
 * This is the module's front door for untrusted data: photos uploaded to the HTTP API, files
 * named on the command line.  The rules it keeps:
 *   1. The type comes from the magic bytes, never from a file name or a content type.
 *   2. The input size is checked first; then the size the header declares (w * h against
 *      max_pixels, and w * h * 3 for overflow) before any pixel buffer is allocated, so a
 *      50-byte PNG claiming 20000 x 20000 costs nothing.
 *   3. No decoder may end the process.  libjpeg reports errors through an error_exit callback
 *      that by default calls exit(): ours longjmps back to decode_jpeg, which cleans up and
 *      returns VS_FORMAT.  libjpeg's "warnings" that mean the data is damaged (premature end,
 *      bad Huffman code, ...) are treated as errors too, because otherwise a truncated upload
 *      decodes "successfully" into a grey lower half.
 *   4. Progressive JPEGs may hold any number of scans, each a full pass over the coefficients;
 *      a progress monitor refuses more than JPEG_MAX_SCANS (a CPU-exhaustion defence).
 *   5. The decoded image is turned upright from its EXIF orientation (exif.c).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>
#include <spng.h>
#include <webp/decode.h>

#include "img/img.h"

#define JPEG_MAX_SCANS 500
/* Ancillary PNG chunks (text, ICC profiles) are capped: they are not pixels and are the usual
 * vehicle of decompression bombs. */
#define PNG_MAX_CHUNK ((size_t)8 << 20)
#define PNG_MAX_CACHE ((size_t)16 << 20)

typedef enum { KIND_NONE, KIND_JPEG, KIND_PNG, KIND_WEBP } image_kind;

static image_kind sniff(const uint8_t *b, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return KIND_JPEG;
    if (n >= 8 && memcmp(b, png_sig, 8) == 0)
        return KIND_PNG;
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return KIND_WEBP;
    return KIND_NONE;
}

/* Rule 2: the declared size against the limits, in 64-bit so nothing wraps. */
static vs_status check_dims(const char *what, uint64_t w, uint64_t h, const vs_img_limits *lim,
                            vs_err *err)
{
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : VS_IMG_DEFAULT_MAX_PIXELS;
    if (w == 0 || h == 0)
        return vs_err_set(err, VS_FORMAT, "%s declares an empty image (%llux%llu)", what,
                          (unsigned long long)w, (unsigned long long)h);
    if (w > INT_MAX || h > INT_MAX || w * h > max_px)
        return vs_err_set(err, VS_LIMIT, "%s is %llux%llu, over the limit of %llu pixels", what,
                          (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_px);
    return VS_OK;
}

/* Rule 5: replaces *img by its upright version when o != 1. */
static vs_status apply_orientation(vs_image **img, int o, vs_err *err)
{
    if (o == 1)
        return VS_OK;
    vs_image *up = NULL;
    int swap = o >= 5;
    vs_status st = vs_image_new(swap ? (*img)->h : (*img)->w, swap ? (*img)->w : (*img)->h,
                                (*img)->c, &up, err);
    if (st == VS_OK)
        st = vs_img_orient(*img, o, up, err);
    if (st != VS_OK) {
        vs_image_free(up);
        return st;
    }
    vs_image_free(*img);
    *img = up;
    return VS_OK;
}

/* ---- JPEG (libjpeg-turbo) --------------------------------------------------------------- */

typedef struct jpeg_guard {
    struct jpeg_error_mgr pub; /* first, so cinfo->err can be cast back */
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    vs_status status; /* what the longjmp means */
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void jpeg_fail(j_common_ptr cinfo, vs_status st)
{
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    g->status = st;
    g->pub.format_message(cinfo, g->msg);
    longjmp(g->jb, 1);
}

static void jpeg_on_error(j_common_ptr cinfo)
{
    int code = cinfo->err->msg_code;
    jpeg_fail(cinfo, code == JERR_CONVERSION_NOTIMPL ? VS_UNSUPPORTED
                     : code == JERR_OUT_OF_MEMORY    ? VS_NOMEM
                                                     : VS_FORMAT);
}

/* Rule 3: warnings that mean damaged data become errors; trace messages are ignored. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        jpeg_fail(cinfo, VS_FORMAT);
        break;
    default: /* e.g. extraneous bytes before a marker: common in camera files, harmless */
        break;
    }
}

/* Rule 4. */
static void jpeg_on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor)
        return;
    if (((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_guard *g = (jpeg_guard *)cinfo->err;
        g->status = VS_LIMIT;
        snprintf(g->msg, sizeof g->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(g->jb, 1);
    }
}

static int jpeg_exif_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return vs_img_exif_orientation(m->data + 6, m->data_length - 6);
    }
    return 1;
}

static vs_status decode_jpeg(const uint8_t *bytes, size_t n, const vs_img_limits *lim,
                             vs_image **out, vs_err *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    /* Changed after setjmp and read after a longjmp: volatile, as C11 7.13.2.1 requires. */
    vs_image *volatile img = NULL;
    volatile vs_status st = VS_OK;
    volatile int orientation = 1;
    vs_image *made = NULL;

    memset(&g, 0, sizeof g);
    cinfo.err = jpeg_std_error(&g.pub);
    g.pub.error_exit = jpeg_on_error;
    g.pub.emit_message = jpeg_on_message;
    g.progress.progress_monitor = jpeg_on_progress;
    if (setjmp(g.jb)) {
        st = vs_err_set(err, g.status, "%s JPEG: %s",
                        g.status == VS_FORMAT ? "corrupt or truncated" : "cannot decode this",
                        g.msg);
        goto out;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &g.progress;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)n);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&cinfo, TRUE);

    st = check_dims("JPEG", cinfo.image_width, cinfo.image_height, lim, err);
    if (st != VS_OK)
        goto out;
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        st = vs_err_set(err, VS_UNSUPPORTED, "CMYK JPEGs are not supported");
        goto out;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
        st = vs_err_set(err, VS_UNSUPPORTED, "JPEG decodes to %d channels, not 3",
                        cinfo.output_components);
        goto out;
    }
    st = vs_image_new((int)cinfo.output_width, (int)cinfo.output_height, 3, &made, err);
    img = made;
    if (st != VS_OK)
        goto out;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img->px + (size_t)cinfo.output_scanline * img->stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    orientation = jpeg_exif_orientation(&cinfo);
    jpeg_finish_decompress(&cinfo);
out:
    jpeg_destroy_decompress(&cinfo);
    made = img;
    if (st == VS_OK)
        st = apply_orientation(&made, orientation, err);
    if (st != VS_OK) {
        vs_image_free(made);
        made = NULL;
    }
    *out = made;
    return st;
}

/* ---- PNG (libspng) ---------------------------------------------------------------------- */

static vs_status png_error(int rc, vs_err *err)
{
    if (rc == SPNG_EMEM)
        return vs_err_set(err, VS_NOMEM, "out of memory decoding a PNG");
    return vs_err_set(err, VS_FORMAT, "corrupt or truncated PNG: %s", spng_strerror(rc));
}

static int png_exif_orientation(spng_ctx *ctx)
{
    struct spng_exif exif;
    if (spng_get_exif(ctx, &exif) != 0 || !exif.data)
        return 1;
    return vs_img_exif_orientation((const uint8_t *)exif.data, exif.length);
}

static vs_status decode_png(const uint8_t *bytes, size_t n, const vs_img_limits *lim,
                            vs_image **out, vs_err *err)
{
    vs_image *img = NULL;
    vs_status st = VS_OK;
    struct spng_ihdr ihdr;
    size_t len = 0;
    int rc;

    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx)
        return vs_err_set(err, VS_NOMEM, "cannot create a PNG decoder");
    spng_set_chunk_limits(ctx, PNG_MAX_CHUNK, PNG_MAX_CACHE);
    rc = spng_set_png_buffer(ctx, bytes, n);
    if (rc == 0)
        rc = spng_get_ihdr(ctx, &ihdr);
    if (rc != 0) {
        st = png_error(rc, err);
        goto out;
    }
    st = check_dims("PNG", ihdr.width, ihdr.height, lim, err);
    if (st != VS_OK)
        goto out;
    rc = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &len);
    if (rc != 0) {
        st = png_error(rc, err);
        goto out;
    }
    st = vs_image_new((int)ihdr.width, (int)ihdr.height, 3, &img, err);
    if (st != VS_OK)
        goto out;
    if (len != img->stride * (size_t)img->h) {
        st = vs_err_set(err, VS_INTERNAL, "PNG decoder wants %zu bytes for %dx%d RGB", len, img->w,
                        img->h);
        goto out;
    }
    /* Any colour type and bit depth to RGB8: palette expanded, grey replicated, 16-bit scaled,
     * alpha dropped (flags 0: no tRNS, no gamma, as a canvas's getImageData sees the pixels). */
    rc = spng_decode_image(ctx, img->px, len, SPNG_FMT_RGB8, 0);
    if (rc != 0) {
        st = png_error(rc, err);
        goto out;
    }
    st = apply_orientation(&img, png_exif_orientation(ctx), err);
out:
    spng_ctx_free(ctx);
    if (st != VS_OK) {
        vs_image_free(img);
        img = NULL;
    }
    *out = img;
    return st;
}

/* ---- WebP (libwebp) --------------------------------------------------------------------- */

static vs_status decode_webp(const uint8_t *bytes, size_t n, const vs_img_limits *lim,
                             vs_image **out, vs_err *err)
{
    WebPBitstreamFeatures f;
    vs_image *img = NULL;
    VP8StatusCode vst = WebPGetFeatures(bytes, n, &f);

    *out = NULL;
    if (vst == VP8_STATUS_NOT_ENOUGH_DATA)
        return vs_err_set(err, VS_FORMAT, "corrupt or truncated WebP: header cut short");
    if (vst != VP8_STATUS_OK)
        return vs_err_set(err, VS_FORMAT, "corrupt or truncated WebP: bad header (status %d)",
                          (int)vst);
    if (f.has_animation)
        return vs_err_set(err, VS_UNSUPPORTED, "animated WebP is not supported");
    vs_status st = check_dims("WebP", (uint64_t)f.width, (uint64_t)f.height, lim, err);
    if (st != VS_OK)
        return st;
    st = vs_image_new(f.width, f.height, 3, &img, err);
    if (st != VS_OK)
        return st;
    /* WebP caps sides at 16383, so the stride and the size fit an int. */
    if (!WebPDecodeRGBInto(bytes, n, img->px, img->stride * (size_t)img->h, (int)img->stride)) {
        vs_image_free(img);
        return vs_err_set(err, VS_FORMAT, "corrupt or truncated WebP: image data");
    }
    *out = img;
    return VS_OK;
}

/* ---- entry points ----------------------------------------------------------------------- */

vs_status vs_img_decode(const uint8_t *bytes, size_t n, const vs_img_limits *lim, vs_image **out,
                        vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "vs_img_decode: out is NULL");
    *out = NULL;
    if (!bytes && n > 0)
        return vs_err_set(err, VS_INVAL, "vs_img_decode: bytes is NULL");
    if (n == 0)
        return vs_err_set(err, VS_FORMAT, "empty input: no image data");
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : VS_IMG_DEFAULT_MAX_BYTES;
    if (n > max_bytes)
        return vs_err_set(err, VS_LIMIT, "image data is %zu bytes, over the limit of %zu", n,
                          max_bytes);
    switch (sniff(bytes, n)) {
    case KIND_JPEG:
        return decode_jpeg(bytes, n, lim, out, err);
    case KIND_PNG:
        return decode_png(bytes, n, lim, out, err);
    case KIND_WEBP:
        return decode_webp(bytes, n, lim, out, err);
    default:
        return vs_err_set(err, VS_UNSUPPORTED, "not a JPEG, PNG or WebP image");
    }
}

vs_status vs_img_load(const char *path, const vs_img_limits *lim, vs_image **out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "vs_img_load: out is NULL");
    *out = NULL;
    if (!path)
        return vs_err_set(err, VS_INVAL, "vs_img_load: path is NULL");
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : VS_IMG_DEFAULT_MAX_BYTES;
    uint8_t *buf = NULL;
    vs_status st = VS_OK;
    struct stat sb;

    FILE *f = fopen(path, "rb");
    if (!f)
        return vs_err_set(err, VS_IO, "cannot open %s", path);
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vs_err_set(err, VS_IO, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
        st = vs_err_set(err, VS_LIMIT, "%s is %lld bytes, over the limit of %zu", path,
                        (long long)sb.st_size, max_bytes);
        goto out;
    }
    size_t n = (size_t)sb.st_size;
    buf = malloc(n ? n : 1);
    if (!buf) {
        st = vs_err_set(err, VS_NOMEM, "cannot allocate %zu bytes for %s", n, path);
        goto out;
    }
    if (fread(buf, 1, n, f) != n) {
        st = vs_err_set(err, VS_IO, "cannot read %s", path);
        goto out;
    }
    st = vs_img_decode(buf, n, lim, out, err);
out:
    free(buf);
    fclose(f);
    return st;
}
