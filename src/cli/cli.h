/*
 * cli.h - the visage command's subcommands (private to src/cli/).
 *
 * Each subcommand takes the arguments after its name and returns the process exit status:
 * 0 success, 1 failure (the message already printed to stderr), 2 usage error.
 */
#ifndef VS_CLI_H
#define VS_CLI_H

int vs_cli_nn(int argc, char **argv);
int vs_cli_detect(int argc, char **argv);
int vs_cli_embed(int argc, char **argv);
int vs_cli_compare(int argc, char **argv);
int vs_cli_enroll(int argc, char **argv);
int vs_cli_import(int argc, char **argv);
int vs_cli_identify(int argc, char **argv);
int vs_cli_persons(int argc, char **argv);
int vs_cli_serve(int argc, char **argv);
int vs_cli_eval(int argc, char **argv);

#endif
