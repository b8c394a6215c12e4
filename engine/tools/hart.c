/* hart.c: the `hart` command-line tool: a table of subcommands, each in cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "hart.h"

static const hart_command commands[] = {
  { "inspect", "Show the configuration, files and tensors of a model folder", hart_cmd_inspect },
  { "convert", "Copy a model folder, converting PyTorch checkpoints to safetensors",
    hart_cmd_convert },
  { "generate", "Generate an image from a prompt or a context tensor", hart_cmd_generate },
  { "replay", "Re-run a golden case with its recorded random draws", hart_cmd_replay },
  { "bench", "Time each stage of generation", hart_cmd_bench },
  { "tokenize", "Turn text into Qwen2 token ids", hart_cmd_tokenize },
  { "encode", "Encode a prompt with the Qwen2 text model", hart_cmd_encode },
};

static void usage(FILE *f)
{
  fprintf(f, "Usage: hart COMMAND [OPTIONS...]\n\nHART text-to-image engine %s\n\nCommands:\n",
          hart_version());
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nRun 'hart COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("hart %s\n", hart_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "hart: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
