/* cmd_bench.c: `hart bench`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_bench(int argc, char **argv)
{
  fprintf(stderr, "hart bench: not implemented yet\n");
  return 1;
}
