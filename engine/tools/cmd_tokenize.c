/* cmd_tokenize.c: `hart tokenize`. */
#include <stdio.h>

#include "cmd.h"

int hart_cmd_tokenize(int argc, char **argv)
{
  fprintf(stderr, "hart tokenize: not implemented yet\n");
  return 1;
}
