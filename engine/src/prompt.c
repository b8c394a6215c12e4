/* prompt.c: HART's per-prompt ids, mask and positions; the system prompt's ids. */
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

hart_status hart_prompt_pad_id(const hart_tokenizer *tok, int32_t *pad, hart_error *err)
{
  *pad = hart_tokenizer_added_id(tok, HART_PAD_TOKEN);
  if (*pad < 0)
    return hart_fail(err, HART_ERR_FORMAT, "the tokenizer has no \"%s\" token to pad with",
                     HART_PAD_TOKEN);
  return HART_OK;
}

hart_status hart_prompt_context_ids(const hart_tokenizer *tok, const char *prompt, size_t len,
                                    int n_ctx, int32_t pad, int32_t *ids, uint8_t *mask,
                                    int64_t *pos, int *n_real, hart_error *err)
{
  int32_t *got = NULL;
  size_t n = 0;
  int64_t count = 0;
  hart_status st;

  if (n_ctx <= 0)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "context length %d must be positive", n_ctx);
  /* Only the first n_ctx ids are kept, so the tokenizer may stop there. */
  st = hart_tokenizer_encode(tok, prompt, len, n_ctx, &got, &n, err);
  if (st != HART_OK)
    return st;
  for (int j = 0; j < n_ctx; j++) {
    ids[j] = (size_t)j < n ? got[j] : pad;
    count += ids[j] != pad;
    if (mask != NULL)
      mask[j] = ids[j] != pad;
    if (pos != NULL)
      pos[j] = count - 1;
  }
  free(got);
  if (n_real != NULL)
    *n_real = (int)count;
  return HART_OK;
}

hart_status hart_prompt_system_ids(const hart_tokenizer *tok, int max_len, int32_t **ids,
                                   size_t *n_ids, hart_error *err)
{
  const char *sp = hart_system_prompt();
  return hart_tokenizer_encode(tok, sp, strlen(sp), max_len, ids, n_ids, err);
}
