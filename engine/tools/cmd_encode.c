/* cmd_encode.c: `hart encode`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_encode(int argc, char **argv)
{
  fprintf(stderr, "hart encode: not implemented yet\n");
  return 1;
}
