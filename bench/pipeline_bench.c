/*
 * pipeline_bench.c - the whole face pipeline per image, single thread, with per-stage times.
 *
 *   build/bench/pipeline_bench [--runs N] [--mode faceapi|default] IMAGE...
 *
 * --mode faceapi runs what face-api's pipeline runs (SSD MobileNetV1, 68 landmarks, the
 * face_recognition descriptor; no attributes, liveness or mirror), so the comparison with
 * bench/faceapi_pipeline.js is like for like; --mode default is visage's full pipeline (fused
 * matcher with mirror averaging, quality, age/gender/expression, liveness).
 * Prints one TSV line per image: name, faces, median wall ms, median CPU ms, and the median ms
 * of each stage.  Decoding is outside the timing (both sides get decoded pixels).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/face.h"
#include "img/img.h"

static double clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

enum { MAX_RUNS = 200, N_STAGES = 6 };

int main(int argc, char **argv)
{
    int runs = 20, faceapi_mode = 0, first = 1;
    for (; first < argc && argv[first][0] == '-'; first += 2) {
        if (first + 1 >= argc)
            return 2;
        if (strcmp(argv[first], "--runs") == 0)
            runs = atoi(argv[first + 1]);
        else if (strcmp(argv[first], "--mode") == 0)
            faceapi_mode = strcmp(argv[first + 1], "faceapi") == 0;
    }
    if (runs < 1 || runs > MAX_RUNS || first >= argc) {
        fprintf(stderr, "usage: pipeline_bench [--runs N] [--mode faceapi|default] IMAGE...\n");
        return 2;
    }
    vs_face_config cfg = {.threads = 1};
    if (faceapi_mode) {
        cfg.embedder = "face_recognition";
        cfg.no_attributes = cfg.no_liveness = 1;
    }
    vs_face_models *m;
    vs_face_ctx *c;
    vs_err err = {{0}};
    if (vs_face_models_load(&cfg, &m, &err) != VS_OK || vs_face_ctx_new(m, &c, &err) != VS_OK) {
        fprintf(stderr, "pipeline_bench: %s\n", err.msg);
        return 1;
    }
    vs_face_opts o = vs_face_opts_default();
    o.low_light = VS_FACE_LOWLIGHT_OFF; /* face-api has no low-light step */
    if (faceapi_mode)
        o.tiling = VS_TILE_OFF; /* nor tiling */
    printf("image\tmode\tfaces\twall_ms\tcpu_ms\tdetect\tlandmarks\tquality\tattributes\t"
           "liveness\tembed\n");
    for (int i = first; i < argc; i++) {
        vs_image *img;
        if (vs_img_load(argv[i], NULL, &img, &err) != VS_OK) {
            fprintf(stderr, "pipeline_bench: %s: %s\n", argv[i], err.msg);
            continue;
        }
        static double wall[MAX_RUNS], cpu[MAX_RUNS], stage[N_STAGES][MAX_RUNS];
        vs_face_result r = {0};
        for (int k = -2; k < runs; k++) {
            double w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
            if (vs_face_analyze(c, img, &o, &r, &err) != VS_OK) {
                fprintf(stderr, "pipeline_bench: %s: %s\n", argv[i], err.msg);
                break;
            }
            if (k < 0)
                continue;
            wall[k] = clock_ms(CLOCK_MONOTONIC) - w0;
            cpu[k] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
            double s[N_STAGES] = {r.ms_detect,     r.ms_landmarks, r.ms_quality,
                                  r.ms_attributes, r.ms_liveness,  r.ms_embed};
            for (int j = 0; j < N_STAGES; j++)
                stage[j][k] = s[j];
        }
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        printf("%s\t%s\t%d\t%.2f\t%.2f", name, faceapi_mode ? "faceapi" : "default", r.n,
               median(wall, runs), median(cpu, runs));
        for (int j = 0; j < N_STAGES; j++)
            printf("\t%.2f", median(stage[j], runs));
        putchar('\n');
        vs_image_free(img);
    }
    vs_face_ctx_free(c);
    vs_face_models_free(m);
    return 0;
}
