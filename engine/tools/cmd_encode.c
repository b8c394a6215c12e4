/* cmd_encode.c: `hart encode`: a prompt through the Qwen2 text encoder into a .safetensors file
 * with the tensor names of shared/text/qwen2-tiny/golden.safetensors (no `caseN.` prefix). */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cmd.h"
#include "safetensors_write.h"
#include "text_encoder.h"

/* Writes the encoder's inputs and outputs for one prompt. */
static int write_outputs(const char *out, const hart_text_input *in, const float *ctx, int hidden)
{
  int64_t *ids64 = g_new(int64_t, in->T);
  hart_error err = { 0 };
  int rc = 0;

  for (int64_t t = 0; t < in->T; t++)
    ids64[t] = in->ids[t];
  {
    /* Names, dtypes and shapes of shared/text/qwen2-tiny/golden.safetensors (batch of 1). */
    hart_tensor e[] = {
      { "attention_mask", HART_DT_BOOL, 2, { 1, in->T }, in->attn, (size_t)in->T },
      { "context_mask", HART_DT_BOOL, 2, { 1, in->n_ctx }, in->mask, (size_t)in->n_ctx },
      { "context_position_ids", HART_DT_I64, 2, { 1, in->n_ctx }, in->pos, (size_t)in->n_ctx * 8 },
      { "context_tensor",
        HART_DT_F32,
        3,
        { 1, in->n_ctx, hidden },
        ctx,
        (size_t)in->n_ctx * (size_t)hidden * 4 },
      { "input_ids", HART_DT_I64, 2, { 1, in->T }, ids64, (size_t)in->T * 8 },
    };
    if (hart_safetensors_write(out, e, G_N_ELEMENTS(e), &err) != HART_OK) {
      fprintf(stderr, "hart encode: %s\n", err.msg);
      rc = 1;
    }
  }
  g_free(ids64);
  return rc;
}

static int encode(const char *model_dir, const char *tokenizer, const char *prompt, int no_system,
                  int n_ctx, const char *backend, int threads, const char *out)
{
  hart_error err = { 0 };
  hart_backend *be = NULL;
  hart_text_encoder *enc = NULL;
  hart_text_input in = { 0 };
  float *ctx = NULL;
  hart_status st;
  int rc = 1;
  gint64 t0;

  st = g_strcmp0(backend, "cuda") == 0 ? hart_backend_cuda_new(0, &err, &be)
                                       : hart_backend_cpu_new(threads, &err, &be);
  if (st != HART_OK)
    goto fail;
  be->err = &err;
  if ((st = hart_text_encoder_load(be, model_dir, tokenizer, &enc, &err)) != HART_OK ||
      (st = hart_text_input_build(enc, prompt, !no_system, n_ctx, &in, &err)) != HART_OK)
    goto fail;
  ctx = g_new(float, (gsize)n_ctx *(gsize)hart_text_encoder_hidden(enc));
  t0 = g_get_monotonic_time();
  if ((st = hart_text_encoder_run(enc, &in, ctx, &err)) != HART_OK)
    goto fail;
  fprintf(stderr, "hart encode: %lld tokens encoded in %.1f ms on %s\n", (long long)in.T,
          (g_get_monotonic_time() - t0) / 1e3, be->device);
  rc = write_outputs(out, &in, ctx, hart_text_encoder_hidden(enc));
  goto done;
fail:
  fprintf(stderr, "hart encode: %s\n", err.msg);
done:
  g_free(ctx);
  hart_text_input_clear(&in);
  hart_text_encoder_free(enc);
  if (be != NULL)
    be->ops->destroy(be);
  return rc;
}

int hart_cmd_encode(int argc, char **argv)
{
  char *model_dir = NULL, *tokenizer = NULL, *prompt = NULL, *out = NULL, *backend = NULL;
  gboolean no_system = FALSE;
  int n_ctx = 300, threads = 0, rc;
  GOptionEntry entries[] = {
    { "text-model", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Qwen2 model folder", "DIR" },
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer,
      "tokenizer.json (default: DIR/tokenizer.json)", "FILE" },
    { "prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "The prompt", "TEXT" },
    { "no-system-prompt", 0, 0, G_OPTION_ARG_NONE, &no_system, "Leave out HART's system prompt",
      NULL },
    { "context-tokens", 0, 0, G_OPTION_ARG_INT, &n_ctx, "Context length (default 300)", "N" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or cuda", "NAME" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all)", "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output .safetensors file", "FILE" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  };
  GOptionContext *octx = g_option_context_new("- encode a prompt with the Qwen2 text model");
  GError *gerr = NULL;

  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &gerr)) {
    fprintf(stderr, "hart encode: %s\n", gerr->message);
    g_error_free(gerr);
    rc = 2;
  } else if (model_dir == NULL || prompt == NULL || out == NULL || argc != 1 ||
             (backend != NULL && strcmp(backend, "cpu") != 0 && strcmp(backend, "cuda") != 0)) {
    fprintf(stderr, "Usage: hart encode --text-model DIR [--tokenizer FILE] --prompt TEXT "
                    "[--no-system-prompt] [--backend cpu|cuda] --out OUT.safetensors\n");
    rc = 2;
  } else {
    rc = encode(model_dir, tokenizer, prompt, no_system, n_ctx, backend, threads, out);
  }
  g_option_context_free(octx);
  g_free(model_dir);
  g_free(tokenizer);
  g_free(prompt);
  g_free(out);
  g_free(backend);
  return rc;
}
