/* cmd_tokenize.c: `hart tokenize`: text to Qwen2 token ids as JSON, optionally with HART's
 * padded context ids, mask and positions. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "prompt.h"
#include "tokenizer.h"

static void print_ids(const char *key, const int32_t *ids, size_t n, int comma)
{
  printf("  \"%s\": [", key);
  for (size_t i = 0; i < n; i++)
    printf(i ? ", %d" : "%d", ids[i]);
  printf("]%s\n", comma ? "," : "");
}

/* Prints HART's view of the text: ids_300, mask, position_ids, and Qwen's input_ids and
 * attention_mask (the system prompt's ids in front unless no_system). */
static int print_hart(const hart_tokenizer *tok, const char *text, size_t len, int n_ctx,
                      int no_system)
{
  int32_t pad, *ctx = g_new(int32_t, n_ctx), *sys = NULL;
  uint8_t *mask = g_new(uint8_t, n_ctx);
  int64_t *pos = g_new(int64_t, n_ctx);
  size_t n_sys = 0;
  hart_error err = { 0 };
  int rc = 1;

  if (hart_prompt_pad_id(tok, &pad, &err) != HART_OK ||
      hart_prompt_context_ids(tok, text, len, n_ctx, pad, ctx, mask, pos, NULL, &err) != HART_OK ||
      (!no_system && hart_prompt_system_ids(tok, 300, &sys, &n_sys, &err) != HART_OK)) {
    fprintf(stderr, "hart tokenize: %s\n", err.msg);
    goto out;
  }
  print_ids("ids_300", ctx, (size_t)n_ctx, 1);
  printf("  \"mask\": [");
  for (int j = 0; j < n_ctx; j++)
    printf(j ? ", %s" : "%s", mask[j] ? "true" : "false");
  printf("],\n  \"position_ids\": [");
  for (int j = 0; j < n_ctx; j++)
    printf(j ? ", %lld" : "%lld", (long long)pos[j]);
  printf("],\n  \"input_ids\": [");
  for (size_t j = 0; j < n_sys + (size_t)n_ctx; j++)
    printf(j ? ", %d" : "%d", j < n_sys ? sys[j] : ctx[j - n_sys]);
  printf("],\n  \"attention_mask\": [");
  for (size_t j = 0; j < n_sys + (size_t)n_ctx; j++)
    printf(j ? ", %s" : "%s", j < n_sys || mask[j - n_sys] ? "true" : "false");
  printf("]\n");
  rc = 0;
out:
  g_free(ctx);
  g_free(mask);
  g_free(pos);
  free(sys);
  return rc;
}

int hart_cmd_tokenize(int argc, char **argv)
{
  char *tokenizer = NULL, *text_file = NULL, *text = NULL;
  gboolean hart = FALSE, no_system = FALSE;
  int n_ctx = 300, rc = 1;
  GOptionEntry entries[] = {
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer, "tokenizer.json to use", "FILE" },
    { "hart", 0, 0, G_OPTION_ARG_NONE, &hart,
      "Also print HART's ids_300, mask, position_ids, input_ids and attention_mask", NULL },
    { "no-system-prompt", 0, 0, G_OPTION_ARG_NONE, &no_system,
      "With --hart: no system prompt in input_ids", NULL },
    { "context-tokens", 0, 0, G_OPTION_ARG_INT, &n_ctx, "Context length (default 300)", "N" },
    { "text-file", 0, 0, G_OPTION_ARG_FILENAME, &text_file, "Read the text from FILE", "FILE" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  };
  GOptionContext *octx = g_option_context_new("TEXT - turn text into Qwen2 token ids (JSON)");
  GError *gerr = NULL;
  hart_tokenizer *tok = NULL;
  hart_error err = { 0 };
  int32_t *ids = NULL;
  size_t n = 0, len = 0;

  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &gerr)) {
    fprintf(stderr, "hart tokenize: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(octx);
    return 2;
  }
  g_option_context_free(octx);
  if (tokenizer == NULL || (text_file == NULL) == (argc != 2) || n_ctx <= 0 || n_ctx > 1 << 16) {
    fprintf(stderr, "Usage: hart tokenize --tokenizer FILE [--hart] [--no-system-prompt] "
                    "[--context-tokens N] (TEXT | --text-file FILE)\n");
    rc = 2;
    goto out;
  }
  if (text_file != NULL) {
    if (!g_file_get_contents(text_file, &text, &len, &gerr)) {
      fprintf(stderr, "hart tokenize: %s\n", gerr->message);
      g_error_free(gerr);
      goto out;
    }
  } else {
    text = g_strdup(argv[1]);
    len = strlen(text);
  }
  if (hart_tokenizer_load(tokenizer, &tok, &err) != HART_OK ||
      hart_tokenizer_encode(tok, text, len, -1, &ids, &n, &err) != HART_OK) {
    fprintf(stderr, "hart tokenize: %s\n", err.msg);
    goto out;
  }
  printf("{\n");
  print_ids("ids", ids, n, hart);
  rc = hart ? print_hart(tok, text, len, n_ctx, no_system) : 0;
  printf("}\n");
out:
  free(ids);
  hart_tokenizer_free(tok);
  g_free(text);
  g_free(tokenizer);
  g_free(text_file);
  return rc;
}
