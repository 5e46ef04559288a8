/*
 * main.c - the visage command: dispatches to subcommands (one file each under src/cli/).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"detect", vs_cli_detect, "find every face in photos (boxes, landmarks; --draw, --json)"},
    {"embed", vs_cli_embed, "print the embedding of a photo's face"},
    {"compare", vs_cli_compare, "are two photos the same person?"},
    {"enroll", vs_cli_enroll, "enrol a person from photos"},
    {"import", vs_cli_import, "enrol a folder of people (one folder per person; resumable)"},
    {"identify", vs_cli_identify, "who is in these photos (known / possible / unknown)"},
    {"persons", vs_cli_persons, "list or search the people in the gallery"},
    {"eval", vs_cli_eval, "accuracy on an LFW-style set of pairs (eval lfw DIR PAIRS)"},
    {"serve", vs_cli_serve, "serve the HTTP/JSON API and the web UI (--port, --db, --threads)"},
    {"nn", vs_cli_nn, "run or describe a model of the engine (debugging)"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: visage COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`visage COMMAND --help` describes a command.\n");
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
        return usage(stdout);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "visage: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
