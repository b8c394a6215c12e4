/* cmd_generate.c: `hart generate`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_generate(int argc, char **argv)
{
  fprintf(stderr, "hart generate: not implemented yet\n");
  return 1;
}
