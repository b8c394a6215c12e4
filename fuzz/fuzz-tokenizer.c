/* fuzz-tokenizer.c: the tokenizer.json parser and the tokenizer on arbitrary bytes.
 *
 * The first input byte picks the target: odd, the rest is a tokenizer.json (loaded from memory;
 * if it loads, a few fixed texts are encoded with it); even, the rest is text for the Qwen2
 * tokenizer of $HART_SHARED/text/tokenizer.json (or ../shared/text/tokenizer.json), checking
 * that a stopped encoding is a prefix of the full one and that ASCII text decodes back to
 * itself. */
#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hart_tokenizer *qwen; /* loaded once; NULL when the file is missing */

/* Loading the 11 MB tokenizer.json takes seconds under the sanitizers: done here, outside the
 * per-input timeout. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  const char *shared = getenv("HART_SHARED");
  char *path =
      g_build_filename(shared && *shared ? shared : "../shared", "text", "tokenizer.json", NULL);
  hart_error err = { 0 };

  if (hart_tokenizer_load(path, &qwen, &err) != HART_OK) {
    fprintf(stderr, "fuzz-tokenizer: %s; fuzzing the tokenizer.json parser only\n", err.msg);
    qwen = NULL;
  }
  g_free(path);
  return 0;
}

static void fuzz_json(const uint8_t *data, size_t size)
{
  static const char *const texts[] = { "", "a cat", "<|endoftext|> x", "  \n\t 12 caf\xc3\xa9" };
  hart_tokenizer *tok = NULL;
  hart_error err = { 0 };

  if (hart_tokenizer_load_data((const char *)data, size, "fuzz.json", &tok, &err) != HART_OK)
    return;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (hart_tokenizer_encode(tok, texts[i], strlen(texts[i]), -1, &ids, &n, &err) == HART_OK) {
      char *back = NULL;
      size_t len = 0;
      if (hart_tokenizer_decode(tok, ids, n, &back, &len, &err) == HART_OK)
        free(back);
    }
    free(ids);
  }
  hart_tokenizer_free(tok);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  int32_t *all = NULL, *some = NULL;
  size_t n_all = 0, n_some = 0, ascii = 0;
  hart_error err = { 0 };

  if (qwen == NULL)
    return;
  if (hart_tokenizer_encode(qwen, text, size, -1, &all, &n_all, &err) != HART_OK)
    return;
  /* Stopping early keeps exactly the first ids. */
  if (hart_tokenizer_encode(qwen, text, size, 7, &some, &n_some, &err) != HART_OK ||
      n_some != (n_all < 7 ? n_all : 7) || (n_some && memcmp(some, all, n_some * 4) != 0))
    abort();
  while (ascii < size && data[ascii] > 0 && data[ascii] < 0x80)
    ascii++;
  if (ascii == size) { /* ASCII is its own NFC: decoding gives the text back */
    char *back = NULL;
    size_t len = 0;
    if (hart_tokenizer_decode(qwen, all, n_all, &back, &len, &err) != HART_OK || len != size ||
        memcmp(back, text, size) != 0)
      abort();
    free(back);
  }
  free(all);
  free(some);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  if (data[0] & 1)
    fuzz_json(data + 1, size - 1);
  else
    fuzz_text(data + 1, size - 1);
  return 0;
}
