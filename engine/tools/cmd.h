/* cmd.h: the subcommands of the `hart` tool. Each takes (argc, argv) with argv[0] = its name and
 * returns the process exit status: 0 success, 1 failure, 2 usage error. */
#ifndef HART_CMD_H
#define HART_CMD_H

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} hart_command;

int hart_cmd_inspect(int argc, char **argv);
int hart_cmd_convert(int argc, char **argv);
int hart_cmd_generate(int argc, char **argv);
int hart_cmd_replay(int argc, char **argv);
int hart_cmd_bench(int argc, char **argv);
int hart_cmd_tokenize(int argc, char **argv);
int hart_cmd_encode(int argc, char **argv);

#endif
