/* fuzz-config.c: the config.json parsers (transformer, tokenizer, Qwen2) on arbitrary bytes.
 * They read files, so each input is written to one temporary file first. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void remove_input(void)
{
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hart_llm_config lc;
  hart_vae_config vc;
  hart_qwen2_config qc;
  hart_error err = { 0 };
  FILE *f;

  if (path[0] == '\0') {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/hart-fuzz-config-%d.json", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    atexit(remove_input);
  }
  f = fopen(path, "wb");
  if (f == NULL)
    return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  if (hart_llm_config_load(path, &lc, &err) == HART_OK)
    hart_phi_index(lc.n_scales - 1, lc.n_scales, 4);
  if (hart_vae_config_load(path, &vc, &err) == HART_OK &&
      hart_llm_config_load(path, &lc, &err) == HART_OK)
    hart_config_check_pair(&lc, &vc, path, &err);
  hart_qwen2_config_load(path, &qc, &err);
  return 0;
}
