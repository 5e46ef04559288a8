/*
 * cmd_nn.c - `visage nn`: the debugging door into the engine.
 *
 *   visage nn list
 *   visage nn info MODEL
 *   visage nn run MODEL --input IN.f32 --output OUT.f32 [--node NAME] [--backend ref|xnnpack]
 *                 [--threads N]
 *
 * IN.f32 is raw little-endian float32 NHWC data in the model's input shape, exactly the values
 * the model takes; OUT.f32 receives the named node (default: the model's first output).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "cli.h"

static const char usage_text[] =
    "usage: visage nn list\n"
    "       visage nn info MODEL\n"
    "       visage nn run MODEL --input IN.f32 --output OUT.f32 [--node NAME]\n"
    "                     [--backend ref|xnnpack] [--threads N] [--models DIR]\n"
    "\n"
    "IN.f32: raw little-endian float32 in the model's input shape (NHWC), values exactly as\n"
    "the model takes them.  OUT.f32: the output (or --node NAME) as raw float32.\n";

static int usage(FILE *f)
{
    fputs(usage_text, f);
    return f == stdout ? 0 : 2;
}

static void print_shape(FILE *f, const vs_nn_tensor_info *t)
{
    fputc('[', f);
    for (int i = 0; i < t->rank; i++)
        fprintf(f, "%s%lld", i ? "," : "", (long long)t->dim[i]);
    fputc(']', f);
}

static int64_t numel(const vs_nn_tensor_info *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dim[i];
    return n;
}

static int cmd_info(const char *models, const char *name)
{
    vs_model *m;
    vs_err err = {{0}};
    vs_status st = vs_nn_model_load(models, name, NULL, &m, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage nn info: %s: %s\n", vs_status_str(st), err.msg);
        return 1;
    }
    vs_nn_model_info info;
    vs_nn_model_info_get(m, &info);
    printf("model      %s (%s)\n", info.name, info.format);
    for (int i = 0; i < info.n_inputs; i++) {
        vs_nn_tensor_info t = vs_nn_input_info(m, i);
        printf("input %d    %s ", i, t.name);
        print_shape(stdout, &t);
        putchar('\n');
    }
    for (int i = 0; i < info.n_outputs; i++) {
        vs_nn_tensor_info t = vs_nn_output_info(m, i);
        printf("output %d   %s ", i, t.name);
        print_shape(stdout, &t);
        putchar('\n');
    }
    printf("nodes      %d (after folding and fusion)\n", info.n_nodes);
    printf("ops       ");
    for (int op = 0; op < 64; op++)
        if (info.op_count[op])
            printf(" %s:%d", vs_nn_op_name(op), info.op_count[op]);
    putchar('\n');
    printf("parameters %zu\n", info.n_params);
    printf("flops      %.1f M per inference\n", info.flops / 1e6);
    printf("arena      %.2f MB of activations per runtime\n", info.arena_bytes / 1048576.0);
    vs_nn_model_free(m);
    return 0;
}

static int read_exact(const char *path, float *dst, int64_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "visage nn run: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t got = fread(dst, sizeof(float), (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)n || extra) {
        fprintf(stderr, "visage nn run: %s must hold exactly %lld float32 values (%lld bytes)\n",
                path, (long long)n, (long long)n * 4);
        return -1;
    }
    return 0;
}

typedef struct run_opts {
    const char *models, *name, *input, *output, *node;
    vs_nn_backend backend;
    int threads;
} run_opts;

static int cmd_run(const run_opts *o)
{
    const char *extra[2] = {o->node, NULL};
    vs_model *m = NULL;
    vs_runtime *rt = NULL;
    vs_err err = {{0}};
    int rc = 1;
    vs_status st = vs_nn_model_load(o->models, o->name, o->node ? extra : NULL, &m, &err);
    if (st == VS_OK)
        st = vs_nn_runtime_new(m, o->backend, o->threads, &rt, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage nn run: %s: %s\n", vs_status_str(st), err.msg);
        goto out;
    }
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    if (read_exact(o->input, vs_nn_input(rt, 0), numel(&in)))
        goto out;
    st = vs_nn_run(rt, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage nn run: %s: %s\n", vs_status_str(st), err.msg);
        goto out;
    }
    vs_nn_model_info info;
    vs_nn_model_info_get(m, &info);
    int which = 0;
    for (int i = 0; o->node && i < info.n_outputs; i++)
        if (strcmp(vs_nn_output_info(m, i).name, o->node) == 0)
            which = i;
    vs_nn_tensor_info t = vs_nn_output_info(m, which);
    FILE *f = fopen(o->output, "wb");
    if (!f ||
        fwrite(vs_nn_output(rt, which), sizeof(float), (size_t)numel(&t), f) != (size_t)numel(&t)) {
        fprintf(stderr, "visage nn run: cannot write %s\n", o->output);
        if (f)
            fclose(f);
        goto out;
    }
    if (fclose(f)) {
        fprintf(stderr, "visage nn run: cannot write %s\n", o->output);
        goto out;
    }
    fprintf(stderr, "%s: wrote %s ", t.name, o->output);
    print_shape(stderr, &t);
    fputc('\n', stderr);
    rc = 0;
out:
    vs_nn_runtime_free(rt);
    vs_nn_model_free(m);
    return rc;
}

static int parse_run(int argc, char **argv, run_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0)
            return 1;
        if (!v) {
            fprintf(stderr, "visage nn run: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--input") == 0)
            o->input = v;
        else if (strcmp(a, "--output") == 0)
            o->output = v;
        else if (strcmp(a, "--node") == 0)
            o->node = v;
        else if (strcmp(a, "--models") == 0)
            o->models = v;
        else if (strcmp(a, "--threads") == 0) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 256) {
                fprintf(stderr, "visage nn run: --threads must be 1..256\n");
                return -1;
            }
            o->threads = (int)t;
        } else if (strcmp(a, "--backend") == 0) {
            if (strcmp(v, "ref") == 0)
                o->backend = VS_NN_BACKEND_REF;
            else if (strcmp(v, "xnnpack") == 0)
                o->backend = VS_NN_BACKEND_XNNPACK;
            else {
                fprintf(stderr, "visage nn run: --backend is ref or xnnpack\n");
                return -1;
            }
        } else {
            fprintf(stderr, "visage nn run: unknown option %s\n", a);
            return -1;
        }
        i++;
    }
    if (!o->input || !o->output) {
        fprintf(stderr, "visage nn run: --input and --output are required\n");
        return -1;
    }
    return 0;
}

int vs_cli_nn(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0)
        return usage(argc < 1 ? stderr : stdout);
    const char *models = getenv("VISAGE_MODELS");
    if (strcmp(argv[0], "list") == 0) {
        for (const char *const *n = vs_nn_model_names(); *n; n++)
            puts(*n);
        return 0;
    }
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[0], "info") == 0)
        return cmd_info(models, argv[1]);
    if (strcmp(argv[0], "run") == 0) {
        run_opts o = {
            .models = models, .name = argv[1], .backend = VS_NN_BACKEND_XNNPACK, .threads = 1};
        int r = parse_run(argc - 1, argv + 1, &o);
        if (r)
            return r > 0 ? usage(stdout) : 2;
        return cmd_run(&o);
    }
    return usage(stderr);
}
