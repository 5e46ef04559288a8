/*
 * encode.c - PNG output (libspng), for `visage detect --draw OUT.png` and debug crops.
 *
 * PNG because it is lossless (drawn boxes and text stay crisp) and libspng is already linked for
 * decoding.  Rows go to the encoder one at a time, so images with padded strides (views into a
 * larger image) need no copy.  The encoded buffer is allocated by libspng with malloc and handed
 * to the caller, who frees it with free().
 */
#include <stdio.h>
#include <stdlib.h>

#include <spng.h>

#include "img/img.h"

vs_status vs_img_encode_png(const vs_image *img, uint8_t **out, size_t *n, vs_err *err)
{
    if (!out || !n)
        return vs_err_set(err, VS_INVAL, "encode_png: out or n is NULL");
    *out = NULL;
    *n = 0;
    if (!img || !img->px || img->w <= 0 || img->h <= 0 ||
        (img->c != 1 && img->c != 3 && img->c != 4))
        return vs_err_set(err, VS_INVAL, "encode_png: bad image");

    static const uint8_t colour_type[5] = {0, SPNG_COLOR_TYPE_GRAYSCALE, 0,
                                           SPNG_COLOR_TYPE_TRUECOLOR,
                                           SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
    struct spng_ihdr ihdr = {0};
    ihdr.width = (uint32_t)img->w;
    ihdr.height = (uint32_t)img->h;
    ihdr.bit_depth = 8;
    ihdr.color_type = colour_type[img->c];

    vs_status st = VS_OK;
    int rc = 0;
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx)
        return vs_err_set(err, VS_NOMEM, "cannot create a PNG encoder");
    rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    if (rc == 0)
        rc = spng_set_ihdr(ctx, &ihdr);
    if (rc == 0)
        rc = spng_encode_image(ctx, NULL, 0, SPNG_FMT_PNG,
                               SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
    for (int y = 0; rc == 0 && y < img->h; y++) {
        rc = spng_encode_row(ctx, img->px + (size_t)y * img->stride, (size_t)img->w * img->c);
        if (rc == SPNG_EOI && y == img->h - 1)
            rc = 0; /* the last row ends the image */
    }
    if (rc != 0) {
        st = vs_err_set(err, rc == SPNG_EMEM ? VS_NOMEM : VS_INTERNAL, "PNG encoder: %s",
                        spng_strerror(rc));
        goto out;
    }
    *out = spng_get_png_buffer(ctx, n, &rc);
    if (!*out || rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        st = vs_err_set(err, VS_INTERNAL, "PNG encoder: %s", spng_strerror(rc));
    }
out:
    spng_ctx_free(ctx);
    return st;
}

vs_status vs_img_save_png(const vs_image *img, const char *path, vs_err *err)
{
    if (!path)
        return vs_err_set(err, VS_INVAL, "save_png: path is NULL");
    uint8_t *buf = NULL;
    size_t n = 0;
    vs_status st = vs_img_encode_png(img, &buf, &n, err);
    if (st != VS_OK)
        return st;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return vs_err_set(err, VS_IO, "cannot create %s", path);
    }
    size_t wrote = fwrite(buf, 1, n, f);
    int closed = fclose(f);
    free(buf);
    if (wrote != n || closed != 0)
        return vs_err_set(err, VS_IO, "cannot write %s", path);
    return VS_OK;
}
