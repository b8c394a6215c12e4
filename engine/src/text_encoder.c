/* text_encoder.c: the tokenizer, the system prompt and the Qwen2 encoder put together. */
#include "text_encoder.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"

struct hart_text_encoder {
  hart_qwen2 *model;
  hart_tokenizer *tok;
  int32_t pad;
  int32_t *sys_ids; /* the system prompt, tokenized once */
  size_t n_sys;
};

/* The system prompt is tokenized like HART does: truncated to 300 ids (it has 139). */
#define HART_SYSTEM_MAX_IDS 300

hart_status hart_text_encoder_new(hart_qwen2 *model, hart_tokenizer *tok, hart_text_encoder **out,
                                  hart_error *err)
{
  hart_text_encoder *enc = calloc(1, sizeof *enc);
  hart_status st;

  *out = NULL;
  if (enc == NULL) {
    hart_qwen2_free(model);
    hart_tokenizer_free(tok);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  enc->model = model;
  enc->tok = tok;
  if ((st = hart_prompt_pad_id(tok, &enc->pad, err)) != HART_OK ||
      (st = hart_prompt_system_ids(tok, HART_SYSTEM_MAX_IDS, &enc->sys_ids, &enc->n_sys, err)) !=
          HART_OK) {
    hart_text_encoder_free(enc);
    return st;
  }
  if (hart_tokenizer_n_ids(tok) > hart_qwen2_get_config(model)->vocab_size) {
    st = hart_fail(err, HART_ERR_FORMAT,
                   "the tokenizer has ids up to %d but the text model's vocabulary has %d",
                   hart_tokenizer_n_ids(tok) - 1, hart_qwen2_get_config(model)->vocab_size);
    hart_text_encoder_free(enc);
    return st;
  }
  *out = enc;
  return HART_OK;
}

hart_status hart_text_encoder_load(hart_backend *be, const char *qwen_dir,
                                   const char *tokenizer_json, hart_text_encoder **out,
                                   hart_error *err)
{
  char *tpath = tokenizer_json ? g_strdup(tokenizer_json)
                               : g_build_filename(qwen_dir, "tokenizer.json", NULL);
  hart_tokenizer *tok = NULL;
  hart_qwen2 *model = NULL;
  hart_status st;

  *out = NULL;
  st = hart_tokenizer_load(tpath, &tok, err);
  g_free(tpath);
  if (st != HART_OK)
    return st;
  st = hart_qwen2_load(be, qwen_dir, &model, err);
  if (st != HART_OK) {
    hart_tokenizer_free(tok);
    return st;
  }
  return hart_text_encoder_new(model, tok, out, err);
}

void hart_text_encoder_free(hart_text_encoder *enc)
{
  if (enc == NULL)
    return;
  hart_qwen2_free(enc->model);
  hart_tokenizer_free(enc->tok);
  free(enc->sys_ids);
  free(enc);
}

int hart_text_encoder_hidden(const hart_text_encoder *enc)
{
  return hart_qwen2_get_config(enc->model)->hidden_size;
}

const hart_tokenizer *hart_text_encoder_tokenizer(const hart_text_encoder *enc)
{
  return enc->tok;
}

void hart_text_input_clear(hart_text_input *in)
{
  free(in->ids);
  free(in->attn);
  free(in->mask);
  free(in->pos);
  memset(in, 0, sizeof *in);
}

hart_status hart_text_input_build(const hart_text_encoder *enc, const char *prompt,
                                  int use_system_prompt, int n_ctx, hart_text_input *in,
                                  hart_error *err)
{
  int n_real = 0;
  hart_status st;

  memset(in, 0, sizeof *in);
  if (prompt == NULL || prompt[0] == '\0')
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "the prompt is empty");
  if (n_ctx <= 0 || n_ctx > HART_TEXT_MAX_CONTEXT)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "context length %d is out of range (1 .. %d)",
                     n_ctx, HART_TEXT_MAX_CONTEXT);
  in->n_sys = use_system_prompt ? (int64_t)enc->n_sys : 0;
  in->n_ctx = n_ctx;
  in->T = in->n_sys + n_ctx;
  in->ids = malloc((size_t)in->T * sizeof *in->ids);
  in->attn = malloc((size_t)in->T);
  in->mask = malloc((size_t)n_ctx);
  in->pos = malloc((size_t)n_ctx * sizeof *in->pos);
  if (in->ids == NULL || in->attn == NULL || in->mask == NULL || in->pos == NULL) {
    hart_text_input_clear(in);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  if (in->n_sys > 0)
    memcpy(in->ids, enc->sys_ids, (size_t)in->n_sys * sizeof *in->ids);
  memset(in->attn, 1, (size_t)in->n_sys);
  st = hart_prompt_context_ids(enc->tok, prompt, strlen(prompt), n_ctx, enc->pad,
                               in->ids + in->n_sys, in->mask, in->pos, &n_real, err);
  if (st == HART_OK && n_real == 0)
    st = hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                   "the prompt has no tokens other than padding (\"%s\")", HART_PAD_TOKEN);
  if (st != HART_OK) {
    hart_text_input_clear(in);
    return st;
  }
  memcpy(in->attn + in->n_sys, in->mask, (size_t)n_ctx);
  return HART_OK;
}

hart_status hart_text_encoder_run(hart_text_encoder *enc, const hart_text_input *in, float *ctx,
                                  hart_error *err)
{
  return hart_qwen2_forward(enc->model, in->ids, in->attn, in->T, in->n_sys, in->n_ctx, ctx, err);
}

hart_status hart_text_encode(hart_text_encoder *enc, const char *prompt, int use_system_prompt,
                             int context_tokens, float *ctx, uint8_t *mask, int64_t *pos,
                             hart_error *err)
{
  hart_text_input in;
  hart_status st = hart_text_input_build(enc, prompt, use_system_prompt, context_tokens, &in, err);

  if (st != HART_OK)
    return st;
  st = hart_text_encoder_run(enc, &in, ctx, err);
  if (st == HART_OK && mask != NULL)
    memcpy(mask, in.mask, (size_t)context_tokens);
  if (st == HART_OK && pos != NULL)
    memcpy(pos, in.pos, (size_t)context_tokens * sizeof *pos);
  hart_text_input_clear(&in);
  return st;
}
