/*
 * image.c - the vs_image type: allocation, release and copying.
 *
 * An image made here is one malloc block: the struct, then the pixels (16-byte aligned, since
 * sizeof(vs_image) is a multiple of 16 on the platforms we build for and malloc returns 16-byte
 * aligned blocks).  One block means one free and no half-built images on failure paths.  The
 * size is checked for overflow before it is computed, because w and h come from file headers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "img/img.h"

/* Bytes before the pixels: the struct, rounded up to 16. */
#define HEADER_BYTES ((sizeof(vs_image) + 15) & ~(size_t)15)

vs_status vs_image_new(int w, int h, int c, vs_image **out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "vs_image_new: out is NULL");
    *out = NULL;
    if (w <= 0 || h <= 0)
        return vs_err_set(err, VS_INVAL, "image size %dx%d is not positive", w, h);
    if (c != 1 && c != 3 && c != 4)
        return vs_err_set(err, VS_INVAL, "image channels %d (expected 1, 3 or 4)", c);

    size_t row = (size_t)w * (size_t)c; /* cannot overflow: both fit in int */
    size_t bytes;
    if (__builtin_mul_overflow(row, (size_t)h, &bytes) ||
        __builtin_add_overflow(bytes, HEADER_BYTES, &bytes) || bytes > (size_t)PTRDIFF_MAX)
        return vs_err_set(err, VS_LIMIT, "image %dx%dx%d is too large", w, h, c);

    unsigned char *block = malloc(bytes);
    if (!block)
        return vs_err_set(err, VS_NOMEM, "cannot allocate a %dx%dx%d image", w, h, c);
    vs_image *img = (vs_image *)block;
    img->w = w;
    img->h = h;
    img->c = c;
    img->stride = row;
    img->px = block + HEADER_BYTES;
    *out = img;
    return VS_OK;
}

void vs_image_free(vs_image *img)
{
    free(img);
}

vs_status vs_image_clone(const vs_image *src, vs_image **out, vs_err *err)
{
    if (!src || !src->px)
        return vs_err_set(err, VS_INVAL, "vs_image_clone: no source image");
    vs_status st = vs_image_new(src->w, src->h, src->c, out, err);
    if (st != VS_OK)
        return st;
    size_t row = (size_t)src->w * (size_t)src->c;
    for (int y = 0; y < src->h; y++)
        memcpy((*out)->px + (size_t)y * (*out)->stride, src->px + (size_t)y * src->stride, row);
    return VS_OK;
}
