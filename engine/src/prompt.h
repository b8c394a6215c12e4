/* prompt.h: HART's prompt encoding around the tokenizer (hart-spec.md sections 1.2, 5.2, 5.3):
 * the system prompt, truncation and right padding to context_token ids, the context mask and the
 * context position ids. */
#ifndef HART_PROMPT_H
#define HART_PROMPT_H

#include "tokenizer.h"

/* The pad token HART pads with (Qwen2's "<|endoftext|>", id 151643). */
#define HART_PAD_TOKEN "<|endoftext|>"

/* HART's LLM system prompt, verbatim (NUL-terminated, 705 bytes). */
const char *hart_system_prompt(void);

/* The pad id of tok: the id of its "<|endoftext|>" added token; an error if it has none. */
hart_status hart_prompt_pad_id(const hart_tokenizer *tok, int32_t *pad, hart_error *err);

/* HART's context ids for one prompt, as `tokenizer(prompt, padding="max_length",
 * max_length=n_ctx, truncation=True)` builds them: the first n_ctx ids, right-padded with pad.
 * mask[j] = ids[j] != pad (a literal "<|endoftext|>" counts as padding), pos[j] =
 * cumsum(mask)[j] - 1. Any of mask/pos may be NULL. *n_real (may be NULL) gets the number of
 * mask entries that are true. An empty prompt is not refused here (300 pads, positions -1):
 * callers that run the model refuse it (hart_text_encode). */
hart_status hart_prompt_context_ids(const hart_tokenizer *tok, const char *prompt, size_t len,
                                    int n_ctx, int32_t pad, int32_t *ids, uint8_t *mask,
                                    int64_t *pos, int *n_real, hart_error *err);

/* The system prompt's ids (tokenized alone: no padding, truncated to max_len ids). *ids is
 * malloc'ed. */
hart_status hart_prompt_system_ids(const hart_tokenizer *tok, int max_len, int32_t **ids,
                                   size_t *n_ids, hart_error *err);

#endif
