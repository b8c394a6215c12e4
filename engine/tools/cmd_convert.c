/* cmd_convert.c: `hart convert`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_convert(int argc, char **argv)
{
  fprintf(stderr, "hart convert: not implemented yet\n");
  return 1;
}
