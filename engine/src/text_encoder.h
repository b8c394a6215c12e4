/* text_encoder.h: from a prompt to HART's conditioning (hart-spec.md 1.2, 1.3, 5): the Qwen2
 * tokenizer, the system prompt, the 300 context ids with their mask and positions, and the Qwen2
 * encoder's last hidden states at the prompt positions.
 *
 * Empty prompts, and prompts whose ids are all padding (e.g. only "<|endoftext|>"), are refused
 * with HART_ERR_INVALID_ARGUMENT: the reference would run them with context positions of -1,
 * which has no meaning. The unconditional (null) branch needs no encoder run: it is zeros. */
#ifndef HART_TEXT_ENCODER_H
#define HART_TEXT_ENCODER_H

#include "backend.h"
#include "qwen2.h"
#include "tokenizer.h"

typedef struct hart_text_encoder hart_text_encoder;

/* The longest context accepted (HART uses 300): bounds the attention's [T, T] scores. */
#define HART_TEXT_MAX_CONTEXT 4096

/* Loads the Qwen2 folder qwen_dir (config.json, weights) and its tokenizer: tokenizer_json, or
 * qwen_dir/tokenizer.json when NULL. */
hart_status hart_text_encoder_load(hart_backend *be, const char *qwen_dir,
                                   const char *tokenizer_json, hart_text_encoder **out,
                                   hart_error *err);
/* Wraps an already loaded model and tokenizer (taking ownership of both; benchmarks). */
hart_status hart_text_encoder_new(hart_qwen2 *model, hart_tokenizer *tok, hart_text_encoder **out,
                                  hart_error *err);
void hart_text_encoder_free(hart_text_encoder *enc);

int hart_text_encoder_hidden(const hart_text_encoder *enc);
const hart_tokenizer *hart_text_encoder_tokenizer(const hart_text_encoder *enc);

/* Qwen's input for one prompt: ids = sys_ids ++ ids_ctx (T = n_sys + n_ctx), attention mask
 * ones(n_sys) ++ mask, and HART's context mask and positions. */
typedef struct {
  int64_t n_sys, n_ctx, T;
  int32_t *ids;  /* [T] */
  uint8_t *attn; /* [T] */
  uint8_t *mask; /* [n_ctx] */
  int64_t *pos;  /* [n_ctx] */
} hart_text_input;

/* Builds the input (refusing empty and all-padding prompts); clear it with
 * hart_text_input_clear. */
hart_status hart_text_input_build(const hart_text_encoder *enc, const char *prompt,
                                  int use_system_prompt, int n_ctx, hart_text_input *in,
                                  hart_error *err);
void hart_text_input_clear(hart_text_input *in);

/* Runs the encoder: ctx (host) [n_ctx, hidden] = last hidden states at the prompt positions. */
hart_status hart_text_encoder_run(hart_text_encoder *enc, const hart_text_input *in, float *ctx,
                                  hart_error *err);

/* All of the above for one prompt: ctx [context_tokens, hidden], mask [context_tokens] and pos
 * [context_tokens] (host memory; mask/pos may be NULL). */
hart_status hart_text_encode(hart_text_encoder *enc, const char *prompt, int use_system_prompt,
                             int context_tokens, float *ctx, uint8_t *mask, int64_t *pos,
                             hart_error *err);

#endif
