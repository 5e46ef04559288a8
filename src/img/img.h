/*
 * img.h - the image module of visage: decode, orient, resize, warp, colour, enhance, draw.
 *
 * Everything the face pipeline does to pixels before (and after) the engine sees them lives
 * here.  Images are 8-bit, interleaved, c = 1 (grey), 3 (RGB) or 4 (RGBA) channels, rows
 * `stride` bytes apart.  The struct is public so a caller can describe memory it owns (a view
 * into another image, a frame from a video decoder) and pass it to any function below; only
 * images made by vs_image_new (or returned through a `vs_image **out`) may go to vs_image_free.
 *
 * Conventions shared by every function:
 *   - Functions that can fail return a vs_status; a vs_err * (may be NULL) receives the detail.
 *     `**out` results are set to NULL on failure.  Nothing here prints, exits or aborts on bad
 *     input: a corrupt file, an absurd size or a NULL argument is a status.
 *   - Functions that write an image write into a caller-made `dst` whose w, h, c say what is
 *     wanted; they allocate nothing (except the decoders and vs_img_crop, which say so).
 *   - Pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1); its centre is (x+0.5, y+0.5)
 *     in "continuous" coordinates.  The warp and the landmark helpers use pixel-centre
 *     coordinates where pixel (x, y) is the point (x, y), as OpenCV does: say which in each
 *     contract.
 *   - Thread safety: no global mutable state; distinct images may be processed concurrently.
 *
 * Link with -ljpeg -lspng -lwebp -lm.
 */
#ifndef VS_IMG_IMG_H
#define VS_IMG_IMG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* ---- the image type --------------------------------------------------------------------- */

typedef struct vs_image {
    int w, h;      /* > 0 */
    int c;         /* channels: 1, 3 or 4 */
    size_t stride; /* bytes from one row to the next, >= w * c */
    uint8_t *px;   /* row 0 first; owned by whoever made the image */
} vs_image;

/*
 * Allocates a w x h x c image (uninitialised pixels, stride = w * c) as one block.
 * Errors: VS_INVAL (w or h <= 0, c not 1/3/4), VS_LIMIT (w * h * c overflows size_t),
 * VS_NOMEM.  The caller frees *out with vs_image_free.
 */
vs_status vs_image_new(int w, int h, int c, vs_image **out, vs_err *err);

/* Frees an image made by vs_image_new or returned by this module.  NULL is a no-op. */
void vs_image_free(vs_image *img);

/* A new image with the same pixels as src (tightly packed).  Errors as vs_image_new. */
vs_status vs_image_clone(const vs_image *src, vs_image **out, vs_err *err);

/* ---- decoding --------------------------------------------------------------------------- */

/* Limits checked before any pixel buffer is allocated.  A zero field means "the default". */
typedef struct vs_img_limits {
    size_t max_bytes;    /* encoded input size; default VS_IMG_DEFAULT_MAX_BYTES */
    uint64_t max_pixels; /* w * h of the decoded image; default VS_IMG_DEFAULT_MAX_PIXELS */
} vs_img_limits;

#define VS_IMG_DEFAULT_MAX_BYTES ((size_t)64 << 20)    /* 64 MiB */
#define VS_IMG_DEFAULT_MAX_PIXELS ((uint64_t)50000000) /* 50 megapixels */

/*
 * Decodes a JPEG, PNG or WebP image (the type comes from the magic bytes, not from a name) into
 * a new RGB image (c = 3), turned upright according to its EXIF orientation (JPEG APP1 "Exif",
 * PNG eXIf; tags 1..8; a missing or malformed EXIF block means "upright").
 *   bytes, n  the encoded file
 *   lim       limits (NULL: defaults); the input size is checked first, then the size the
 *             header declares, before the pixel buffer exists
 *   out       OUT: the image; the caller frees it with vs_image_free
 * Conversions: PNG grey, palette, 16-bit and alpha become 8-bit RGB (alpha is dropped, not
 * composited); JPEG grey and YCbCr become RGB (libjpeg-turbo, accurate integer DCT, fancy
 * upsampling); CMYK JPEGs and animated WebPs are VS_UNSUPPORTED.
 * Errors: VS_INVAL (NULL arguments), VS_UNSUPPORTED ("not a JPEG, PNG or WebP image"),
 * VS_LIMIT (input or declared size over the limits), VS_FORMAT ("corrupt or truncated JPEG: .."
 * and the like for PNG and WebP), VS_NOMEM.  Thread-safe.
 */
vs_status vs_img_decode(const uint8_t *bytes, size_t n, const vs_img_limits *lim, vs_image **out,
                        vs_err *err);

/* Reads the file at path (refusing files over lim->max_bytes before reading them) and decodes it
 * as vs_img_decode does.  Extra errors: VS_IO (cannot open or read). */
vs_status vs_img_load(const char *path, const vs_img_limits *lim, vs_image **out, vs_err *err);

/* ---- EXIF orientation ------------------------------------------------------------------- */

/*
 * The orientation tag (0x0112) of a TIFF/EXIF block: `tiff` points at the TIFF header ("II*\0"
 * or "MM\0*"), i.e. just after a JPEG APP1's "Exif\0\0".  Every offset is bounds-checked.
 * Returns 1..8, or 1 ("upright") when the block is malformed or has no valid tag.
 */
int vs_img_exif_orientation(const uint8_t *tiff, size_t n);

/*
 * Applies EXIF orientation o (1..8) to src: dst = the upright image.  For o in 5..8, dst->w ==
 * src->h and dst->h == src->w.  The stored pixel (x, y) of a w x h image goes to
 *   1 (x, y)  2 (w-1-x, y)  3 (w-1-x, h-1-y)  4 (x, h-1-y)
 *   5 (y, x)  6 (h-1-y, x)  7 (h-1-y, w-1-x)  8 (y, w-1-x)
 * (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise).  Errors: VS_INVAL (o out of range, sizes or channels that do
 * not match, dst aliasing src).
 */
vs_status vs_img_orient(const vs_image *src, int o, vs_image *dst, vs_err *err);

/* ---- resize, crop ----------------------------------------------------------------------- */

/*
 * Sampling conventions, with in = source size, out = target size along one axis, and the
 * source coordinate s of target index i computed in double precision (TF / TFJS semantics):
 *   VS_RESIZE_BILINEAR          s = i * in / out ("asymmetric": tf.image.resizeBilinear with
 *                               alignCorners = false, halfPixelCenters = false, TFJS's default,
 *                               which face-api and Human use)
 *   VS_RESIZE_BILINEAR_HALF     s = (i + 0.5) * in / out - 0.5 (halfPixelCenters = true;
 *                               OpenCV's INTER_LINEAR, PIL's bilinear for upscaling)
 *   VS_RESIZE_BILINEAR_CORNERS  s = i * (in - 1) / (out - 1) (alignCorners = true; s = 0 when
 *                               out == 1)
 *   VS_RESIZE_AREA              box filter: each target pixel is the mean of the source area it
 *                               covers, partial pixels weighted by coverage (OpenCV INTER_AREA;
 *                               for a downscale by an integer k the mean of each k x k block).
 *                               Meant for downscaling; upscaling works but is blocky.
 * Bilinear: s0 = max(0, floor(s)), s1 = min(in - 1, ceil(s)), f = s - s0 and the value is
 * top + (bottom - top) * fy with top/bottom interpolated along x first, as TFJS's CPU kernel does.
 */
typedef enum {
    VS_RESIZE_BILINEAR = 0,
    VS_RESIZE_BILINEAR_HALF,
    VS_RESIZE_BILINEAR_CORNERS,
    VS_RESIZE_AREA,
} vs_resize_mode;

/* Resizes src into dst (dst->w x dst->h, dst->c == src->c); u8 results are rounded to nearest.
 * Errors: VS_INVAL (channel mismatch, bad mode, dst aliasing src). */
vs_status vs_img_resize(const vs_image *src, vs_image *dst, vs_resize_mode mode, vs_err *err);

/*
 * Resizes src to w x h and writes float NHWC (h * w * src->c floats, row-major) with
 * dst = value * scale + offset, where value is the resampled pixel before any rounding: this is
 * what TFJS computes when it resizes the int32 pixel tensor and then normalises.  No allocation.
 * Errors: VS_INVAL.
 */
vs_status vs_img_resize_to_f32(const vs_image *src, int w, int h, vs_resize_mode mode, float scale,
                               float offset, float *dst, vs_err *err);

/* Copies the rectangle (x, y, w, h), clamped to the image, into a new image (*out, freed with
 * vs_image_free).  Errors: VS_INVAL (the clamped rectangle is empty), VS_NOMEM. */
vs_status vs_img_crop(const vs_image *src, int x, int y, int w, int h, vs_image **out, vs_err *err);

/* ---- warp ------------------------------------------------------------------------------- */

/*
 * Affine warp with bilinear sampling: dst(x, y) = src(M^-1 (x, y)), where m = {a, b, tx, c, d,
 * ty} is the 2x3 matrix [a b tx; c d ty] mapping SOURCE pixel-centre coordinates to DESTINATION
 * pixel-centre coordinates (OpenCV's warpAffine convention: pixel (x, y) is the point (x, y)).
 * Samples outside the source read `border` (0..255, all channels).  dst->c must equal src->c.
 * Errors: VS_INVAL (singular matrix, channel mismatch, aliasing).
 */
vs_status vs_img_warp_affine(const vs_image *src, const float m[6], uint8_t border, vs_image *dst,
                             vs_err *err);

/*
 * Least-squares similarity transform (rotation, uniform scale, translation; no reflection) that
 * maps the n source points onto the n destination points: m minimises
 * sum |dst_i - M src_i|^2.  Points are interleaved x, y.  This is Umeyama's solution restricted
 * to proper rotations (in 2-D it has the closed form a = S_dot / S_ss, b = S_cross / S_ss on
 * the centred points), the transform used to align a face onto a landmark template.
 * Output m as for vs_img_warp_affine: [a -b tx; b a ty].
 * Errors: VS_INVAL (n < 2, NULL, all source points equal).
 */
vs_status vs_img_fit_similarity(const float *src_xy, const float *dst_xy, int n, float m[6],
                                vs_err *err);

/* Inverts a 2x3 affine matrix.  Errors: VS_INVAL when |det| < 1e-12. */
vs_status vs_img_affine_invert(const float m[6], float inv[6], vs_err *err);

/* ---- colour ----------------------------------------------------------------------------- */

/* Luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601), rounded, into a c = 1 dst of the same size.
 * A grey src is copied; RGBA ignores alpha.  Errors: VS_INVAL. */
vs_status vs_img_to_grey(const vs_image *src, vs_image *dst, vs_err *err);

/* Full-range BT.601 YCbCr as JFIF defines it: Y as above,
 * Cb = 128 - 0.168736 R - 0.331264 G + 0.5 B, Cr = 128 + 0.5 R - 0.418688 G - 0.081312 B,
 * rounded and clamped; src c = 3 or 4, dst c = 3 (Y, Cb, Cr interleaved).  Errors: VS_INVAL. */
vs_status vs_img_rgb_to_ycbcr(const vs_image *src, vs_image *dst, vs_err *err);

/* Channel conversion between grey, RGB and RGBA into dst of the same size (grey -> RGB
 * replicates, RGB -> grey is luma as vs_img_to_grey, alpha becomes 255 or is dropped). */
vs_status vs_img_convert(const vs_image *src, vs_image *dst, vs_err *err);

/* NHWC float: dst[(y * w + x) * c + k] = px * scale + offset (w * h * c floats).
 * E.g. scale 1/255, offset 0 for [0, 1]; scale 1/127.5, offset -1 for [-1, 1]. */
vs_status vs_img_to_f32(const vs_image *img, float *dst, float scale, float offset);

/* NCHW float planes (c planes of w * h), channel order reversed when bgr != 0 (for ONNX models
 * trained on OpenCV's BGR); dst = px * scale + offset. */
vs_status vs_img_to_f32_chw(const vs_image *img, float *dst, float scale, float offset, int bgr);

/* ---- low light -------------------------------------------------------------------------- */

/* Mean luma at or below which a frame counts as dark (about a quarter of full scale, where face
 * detectors lose most of their recall). */
#define VS_IMG_DARK_LUMA 60.0f

typedef struct vs_brightness {
    float mean_luma;     /* 0..255, BT.601 luma averaged over the image */
    float dark_fraction; /* share of pixels with luma < 50 */
    int is_dark;         /* mean_luma <= VS_IMG_DARK_LUMA */
} vs_brightness;

/* Measures img (any channel count).  Errors: VS_INVAL. */
vs_status vs_img_brightness(const vs_image *img, vs_brightness *out, vs_err *err);

typedef enum {
    VS_ENHANCE_CLAHE = 0, /* contrast-limited adaptive histogram equalisation of luma */
    VS_ENHANCE_GAMMA,     /* a power curve on luma */
} vs_enhance_method;

typedef struct vs_enhance_opts {
    vs_enhance_method method;
    int tiles_x, tiles_y; /* CLAHE grid, 1..16 each (0: 8) */
    float clip_limit;     /* CLAHE clip, in multiples of the uniform bin height (0: 2.5) */
    float gamma;          /* GAMMA: Y' = 255 (Y / 255)^gamma; 0 = choose so the mean luma
                             goes to about 110 (gamma clamped to [0.25, 1]) */
} vs_enhance_opts;

/*
 * Brightens a dark frame in place by remapping its luma and adding the change to every colour
 * channel equally, which keeps Cb and Cr (and so the chroma) unchanged up to clamping; a grey
 * image is remapped directly; RGBA keeps its alpha.  opts NULL: CLAHE with 8 x 8 tiles, clip 2.5.
 * CLAHE follows Zuiderveld: per-tile histograms clipped at clip_limit * tile_area / 256 with the
 * excess spread evenly, a CDF lookup per tile, and each pixel bilinearly interpolated between the
 * maps of the four nearest tile centres (one map at the corners, two along the edges).
 * Memory: allocates nothing; uses about 10 KB of stack (two rows of tile maps, one histogram).
 * Errors: VS_INVAL.
 */
vs_status vs_img_enhance_low_light(vs_image *img, const vs_enhance_opts *opts, vs_err *err);

/* ---- drawing and PNG output ------------------------------------------------------------- */

typedef struct vs_rgb {
    uint8_t r, g, b;
} vs_rgb;

/* Drawing clips to the image; nothing here fails on coordinates outside it.  Grey images take
 * the colour's luma, RGBA images get alpha 255 where drawn.  img NULL is a no-op. */

/* The outline of the rectangle [x, x + w) x [y, y + h), `thickness` pixels wide, inside it. */
void vs_img_draw_rect(vs_image *img, int x, int y, int w, int h, int thickness, vs_rgb colour);

/* A filled disc of radius r centred on pixel (cx, cy) (r = 0: one pixel), e.g. a landmark. */
void vs_img_draw_point(vs_image *img, int cx, int cy, int r, vs_rgb colour);

/* Text in the built-in 5x7 font, each glyph cell 6 x 8 pixels times `scale` (>= 1), top-left at
 * (x, y).  Glyphs: digits, letters (lower case drawn as upper case), space and
 * . , : ; - + _ / \ % ( ) [ ] < > = ! ? # ' " * & @ |; anything else draws a hollow box.
 * '\n' starts a new line. */
void vs_img_draw_text(vs_image *img, int x, int y, const char *text, int scale, vs_rgb colour);

/* The size in pixels vs_img_draw_text would cover (widest line x lines). */
void vs_img_text_size(const char *text, int scale, int *w, int *h);

/* Encodes img (c = 1, 3 or 4) as an 8-bit PNG in memory.  *out is malloc'ed: free() it.
 * Errors: VS_INVAL, VS_NOMEM, VS_INTERNAL (encoder failure). */
vs_status vs_img_encode_png(const vs_image *img, uint8_t **out, size_t *n, vs_err *err);

/* Encodes img as PNG into the file at path.  Extra errors: VS_IO. */
vs_status vs_img_save_png(const vs_image *img, const char *path, vs_err *err);

#endif
