/*
 * test_pipeline.c - the one pipeline call: shared models, one context per thread, bad input.
 *
 * Cases:
 *   threads_share_models_and_agree   4 threads, each with its own context over one
 *                                    vs_face_models, analyse the same photos repeatedly; every
 *                                    result (boxes, landmarks, embeddings) equals the
 *                                    single-threaded one bit for bit
 *   dark_frame_is_enhanced_and_said  a photo darkened in the test (gamma 2.8, exposure x0.35,
 *                                    noise) is reported enhanced and its faces are still found
 *   bad_input_to_the_cli             truncated, corrupt, empty, huge-dimension and non-image
 *                                    files given to `visage detect`: a clear message, exit 1,
 *                                    no crash (the CLI runs as a child process)
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "face/face.h"
#include "img/img.h"

#include "check.h"

enum { N_PHOTOS = 3, MAX_F = 16 };
static const char *const photos[N_PHOTOS] = {"faceapi-test/images/faces.jpg", "bbt/bbt1.jpg",
                                             "bbt/howard/howard1.png"};
static vs_image *imgs[N_PHOTOS];
static vs_face_models *models;

typedef struct summary {
    int n;
    vs_face f[MAX_F];
} summary;

static summary reference[N_PHOTOS];

static int analyse(vs_face_ctx *c, int p, summary *out)
{
    vs_face_result r;
    if (vs_face_analyze(c, imgs[p], NULL, &r, NULL) != VS_OK)
        return -1;
    out->n = r.n < MAX_F ? r.n : MAX_F;
    memcpy(out->f, r.faces, (size_t)out->n * sizeof *out->f);
    return 0;
}

static int same(const summary *a, const summary *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++) {
        const vs_face *x = &a->f[i], *y = &b->f[i];
        if (memcmp(&x->det, &y->det, sizeof x->det) || memcmp(&x->lm, &y->lm, sizeof x->lm) ||
            x->n_emb != y->n_emb)
            return 0;
        for (int k = 0; k < x->n_emb; k++)
            if (memcmp(x->emb[k].v, y->emb[k].v, (size_t)x->emb[k].dim * sizeof(float)))
                return 0;
    }
    return 1;
}

static void *worker(void *arg)
{
    int *mismatches = arg;
    vs_face_ctx *c;
    if (vs_face_ctx_new(models, &c, NULL) != VS_OK) {
        (*mismatches)++;
        return NULL;
    }
    static __thread summary s;
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < N_PHOTOS; p++)
            if (analyse(c, p, &s) || !same(&s, &reference[p]))
                (*mismatches)++;
    vs_face_ctx_free(c);
    return NULL;
}

static void threads_share_models_and_agree(void)
{
    vs_face_ctx *c;
    CHECK(vs_face_ctx_new(models, &c, NULL) == VS_OK, "context");
    for (int p = 0; p < N_PHOTOS; p++)
        CHECK(analyse(c, p, &reference[p]) == 0 && reference[p].n > 0, "%s", photos[p]);
    vs_face_ctx_free(c);
    pthread_t t[4];
    int mism[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, &mism[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(mism[i] == 0, "thread %d: %d results differ from the single-threaded ones", i,
              mism[i]);
    }
    printf("  4 threads x 3 rounds x %d photos: results identical to one thread\n", N_PHOTOS);
}

static void dark_frame_is_enhanced_and_said(void)
{
    vs_image *dark;
    CHECK(vs_image_clone(imgs[0], &dark, NULL) == VS_OK, "clone");
    unsigned seed = 12345;
    for (int y = 0; y < dark->h; y++)
        for (int x = 0; x < dark->w * 3; x++) {
            uint8_t *p = dark->px + (size_t)y * dark->stride + x;
            seed = seed * 1103515245u + 12345u;
            double noise = ((seed >> 16) % 1000) / 1000.0 * 6.0 - 3.0;
            double v = 255.0 * pow(*p / 255.0, 2.8) * 0.35 + noise;
            *p = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
        }
    vs_face_ctx *c;
    vs_face_result r;
    CHECK(vs_face_ctx_new(models, &c, NULL) == VS_OK, "context");
    CHECK(vs_face_analyze(c, dark, NULL, &r, NULL) == VS_OK, "analyse");
    printf("  darkened faces.jpg: mean luma %.1f, enhanced %d, %d of %d faces found\n", r.mean_luma,
           r.enhanced, r.n, reference[0].n);
    CHECK(r.enhanced == 1, "a dark frame was not enhanced");
    CHECK(r.n >= reference[0].n - 1, "only %d faces on the dark frame", r.n);
    vs_face_ctx_free(c);
    vs_image_free(dark);
}

/* Runs build/visage detect on path; returns the exit status, stderr in err. */
static int cli_detect(const char *path, char *err, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "build/visage detect '%s' 2>&1 >/dev/null", path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t got = fread(err, 1, n - 1, f);
    err[got] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void bad_input_to_the_cli(const char *dir)
{
    if (access("build/visage", X_OK) != 0) {
        printf("  (build/visage not built: CLI cases skipped)\n");
        return;
    }
    char src[1024], path[1200];
    snprintf(src, sizeof src, "%s/%s", data_root(), photos[0]);
    FILE *f = fopen(src, "rb");
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    /* A PNG header declaring 30000 x 30000 pixels, nothing else. */
    static const uint8_t huge[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                                   13,   'I',  'H', 'D', 'R',  0,    0,    0x75, 0x30, 0, 0,
                                   0x75, 0x30, 8,   2,   0,    0,    0,    0,    0,    0, 0};
    struct {
        const char *name;
        const void *data;
        size_t n;
    } cases[] = {
        {"truncated.jpg", buf, n / 3},
        {"empty.jpg", buf, 0},
        {"text.jpg", "hello, I am not a photo\n", 24},
        {"huge.png", huge, sizeof huge},
    };
    uint8_t corrupt[1 << 16];
    memcpy(corrupt, buf, sizeof corrupt);
    for (size_t i = 600; i < sizeof corrupt; i += 97)
        corrupt[i] ^= 0x5a;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] + 1; i++) {
        const char *name = i < 4 ? cases[i].name : "corrupt.jpg";
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (i < 4)
            write_file(path, cases[i].data, cases[i].n);
        else
            write_file(path, corrupt, sizeof corrupt);
        char err[2048];
        int rc = cli_detect(path, err, sizeof err);
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        printf("  %-14s exit %d: %s\n", name, rc, err);
        CHECK(rc == 1 && strstr(err, name) != NULL, "%s: exit %d, message '%s'", name, rc, err);
    }
}

int main(void)
{
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/%s", data_root(), photos[0]);
    if (access(probe, R_OK) != 0 || access("models/faceapi", R_OK) != 0) {
        printf("SKIP test_pipeline: %s or models/ missing\n", probe);
        return 77;
    }
    for (int p = 0; p < N_PHOTOS; p++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", data_root(), photos[p]);
        CHECK(vs_img_load(path, NULL, &imgs[p], NULL) == VS_OK, "load %s", path);
    }
    vs_err err = {{0}};
    vs_face_config cfg = {.threads = 1};
    if (vs_face_models_load(&cfg, &models, &err) != VS_OK) {
        printf("FAIL: models: %s\n", err.msg);
        return 1;
    }
    char dir[] = "/tmp/visage-test-pipeline-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("threads_share_models_and_agree\n");
    threads_share_models_and_agree();
    printf("dark_frame_is_enhanced_and_said\n");
    dark_frame_is_enhanced_and_said();
    printf("bad_input_to_the_cli\n");
    bad_input_to_the_cli(dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", dir);
    for (int p = 0; p < N_PHOTOS; p++)
        vs_image_free(imgs[p]);
    vs_face_models_free(models);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
