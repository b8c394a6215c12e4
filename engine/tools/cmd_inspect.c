/* cmd_inspect.c: `hart inspect`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_inspect(int argc, char **argv)
{
  fprintf(stderr, "hart inspect: not implemented yet\n");
  return 1;
}
