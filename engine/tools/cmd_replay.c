/* cmd_replay.c: `hart replay`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_replay(int argc, char **argv)
{
  fprintf(stderr, "hart replay: not implemented yet\n");
  return 1;
}
