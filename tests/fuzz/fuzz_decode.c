/*
 * fuzz_decode.c - libFuzzer target for the image decoders (vs_img_decode) and the EXIF parser.
 *
 * Every input must come back as a status, never a crash, a leak or a sanitizer report, and an
 * image that does come back must respect the limits and be fully readable.  Limits are small
 * (1 MiB in, 1 megapixel out) so the fuzzer spends its time in parsers, not in big memsets.
 *
 * libFuzzer build (ASan + UBSan) and a 30-second run on the seed files, from the repository root
 * (written with [a-z]* globs, since a slash and a star would open a comment in this one):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_decode.c src/img/[a-z]*.c src/core/status.c -ljpeg -lspng -lwebp -lm \
 *       -o build/fuzz_decode
 *   mkdir -p build/fuzz_corpus && cp tests/data/img/seeds/[a-z]* build/fuzz_corpus/
 *   build/fuzz_decode -max_total_time=30 -rss_limit_mb=1024 build/fuzz_corpus
 * Standalone replay (no libFuzzer, any compiler; for a corpus or a crash reproducer):
 *   gcc -DVS_FUZZ_STANDALONE -g -O1 -fsanitize=address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_decode.c src/img/[a-z]*.c src/core/status.c -ljpeg -lspng -lwebp -lm \
 *       -o build/fuzz_decode_replay
 *   build/fuzz_decode_replay tests/data/img/seeds/[a-z]*
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "img/img.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const vs_img_limits lim = {(size_t)1 << 20, (uint64_t)1 << 20};
    vs_image *img = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_decode(data, size, &lim, &img, &err);
    if ((st == VS_OK) != (img != NULL))
        __builtin_trap();
    if (img) {
        if (img->c != 3 || (uint64_t)img->w * (uint64_t)img->h > lim.max_pixels)
            __builtin_trap();
        /* Read every pixel, so ASan and MSan see any part the decoder failed to write. */
        unsigned sum = 0;
        for (int y = 0; y < img->h; y++)
            for (size_t x = 0; x < (size_t)img->w * 3; x++)
                sum += img->px[(size_t)y * img->stride + x];
        if (sum == 0xffffffffu)
            __builtin_trap(); /* keeps the loop from being optimised away */
        vs_image_free(img);
    }
    int o = vs_img_exif_orientation(data, size);
    if (o < 1 || o > 8)
        __builtin_trap();
    return 0;
}

#ifdef VS_FUZZ_STANDALONE
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_decode: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "fuzz_decode: out of memory reading %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= run_file(argv[i]);
    printf("fuzz_decode: replayed %d file(s)\n", argc - 1);
    return bad;
}
#endif
