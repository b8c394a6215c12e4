/* cmd_convert.c: `hart convert SRC DST`: a copy of a model folder whose PyTorch checkpoints are
 * safetensors files (same names, dtypes and bytes), so the app never reads pickles again. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "model_convert.h"

static const char usage_text[] =
    "Usage: hart convert SRC DST\n"
    "\n"
    "Copy the model folder SRC to DST, replacing every PyTorch checkpoint\n"
    "(torch.save zip: *.bin, *.pt, *.pth, *.ckpt) by a .safetensors file with\n"
    "the same stem, the same tensor names, dtypes and values (read back and\n"
    "compared). Other files are copied unchanged; legacy-format checkpoints\n"
    "cannot be converted and are copied unchanged with a note.\n"
    "\n"
    "DST must not exist (or be an empty folder). Files are written atomically\n"
    "(temporary file, fsync, rename) and the tree is built beside DST and\n"
    "renamed into place at the end, so a failure leaves no partial DST.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet  print nothing but errors\n"
    "  -h, --help   show this help\n";

static void log_line(const char *line, void *user)
{
  (void)user;
  printf("%s\n", line);
  fflush(stdout);
}

int hart_cmd_convert(int argc, char **argv)
{
  const char *src = NULL, *dst = NULL;
  int quiet = 0;
  hart_convert_report rep;
  hart_error err = { 0 };
  hart_status st;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-' || (src != NULL && dst != NULL)) {
      fprintf(stderr, "hart convert: unexpected argument '%s'\n\n%s", argv[i], usage_text);
      return 2;
    } else if (src == NULL) {
      src = argv[i];
    } else {
      dst = argv[i];
    }
  }
  if (src == NULL || dst == NULL) {
    fputs(usage_text, stderr);
    return 2;
  }
  st = hart_convert_folder(src, dst, quiet ? NULL : log_line, NULL, &rep, &err);
  if (st != HART_OK) {
    fprintf(stderr, "hart convert: %s (%s)\n", err.msg, hart_status_name(st));
    return 1;
  }
  if (!quiet)
    printf("%s: %d checkpoint(s) converted, %d file(s) copied, %d legacy checkpoint(s) copied "
           "unchanged\n",
           dst, rep.n_converted, rep.n_copied, rep.n_legacy);
  return 0;
}
