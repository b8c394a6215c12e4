/* hs-test-context.c: golden inputs for the app tests, through the engine's safetensors reader. */
#include "hs-test-context.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tensor.h"

char *hs_test_shared_path(const char *rel)
{
  const char *root = g_getenv("HART_SHARED");

  return g_build_filename(root && *root ? root : "../shared", rel, NULL);
}

static gboolean first_row(const hart_tensor_set *set, const char *name, hart_dtype dtype,
                          gsize row_bytes, GBytes **out, GError **error)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);

  if (t == NULL || t->dtype != dtype || t->ndim < 2 || t->nbytes < row_bytes) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "inputs.safetensors: bad tensor %s",
                name);
    return FALSE;
  }
  *out = g_bytes_new(t->data, row_bytes);
  return TRUE;
}

gboolean hs_test_load_context(const char *rel, GBytes **context, GBytes **mask,
                              GBytes **position_ids, GError **error)
{
  g_autofree char *dir = hs_test_shared_path(rel);
  g_autofree char *path = g_build_filename(dir, "inputs.safetensors", NULL);
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  const hart_tensor *ctx;
  gsize tokens, dim;
  gboolean ok;

  if (hart_tensor_set_open_safetensors(path, &set, &err) != HART_OK) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", path, err.msg);
    return FALSE;
  }
  ctx = hart_tensor_set_get(set, "context");
  if (ctx == NULL || ctx->ndim != 3) {
    hart_tensor_set_free(set);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no [B, T, C] context", path);
    return FALSE;
  }
  tokens = (gsize)ctx->shape[1];
  dim = (gsize)ctx->shape[2];
  /* BOOL is one byte per element, which is the u8 mask hart_request takes. */
  ok = first_row(set, "context", HART_DT_F32, tokens * dim * 4, context, error) &&
       first_row(set, "context_mask", HART_DT_BOOL, tokens, mask, error) &&
       first_row(set, "context_position_ids", HART_DT_I64, tokens * 8, position_ids, error);
  hart_tensor_set_free(set);
  return ok;
}

static hart_status try_open(const char *model, const char *text, char *errbuf, size_t len)
{
  hart_open_options opts;
  hart_engine *engine = NULL;
  hart_status st;

  hart_open_options_init(&opts);
  opts.model_dir = model;
  opts.text_model_dir = text;
  opts.backend = HART_BACKEND_CPU;
  st = hart_engine_open(&opts, &engine, errbuf, len);
  hart_engine_close(engine);
  return st;
}

static const char *const text_links[][2] = {
  { "text/qwen2-tiny/config.json", "config.json" },
  { "text/qwen2-tiny/model.safetensors", "model.safetensors" },
  { "text/tokenizer.json", "tokenizer.json" },
};

char *hs_test_make_text_dir(void)
{
  char *dir;

  for (gsize i = 0; i < G_N_ELEMENTS(text_links); i++) {
    g_autofree char *src = hs_test_shared_path(text_links[i][0]);
    if (!g_file_test(src, G_FILE_TEST_EXISTS))
      return NULL;
  }
  dir = g_dir_make_tmp("hs-text-XXXXXX", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(text_links); i++) {
    g_autofree char *src = hs_test_shared_path(text_links[i][0]);
    g_autofree char *abs = g_canonicalize_filename(src, NULL);
    g_autofree char *dst = g_build_filename(dir, text_links[i][1], NULL);
    if (symlink(abs, dst) != 0)
      g_error("symlink %s -> %s: %s", dst, abs, g_strerror(errno));
  }
  return dir;
}

void hs_test_remove_text_dir(char *dir)
{
  if (dir == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS(text_links); i++) {
    g_autofree char *dst = g_build_filename(dir, text_links[i][1], NULL);
    g_unlink(dst);
  }
  g_rmdir(dir);
  g_free(dir);
}

char *hs_test_engine_skip_reason_with_text(const char *text, gboolean *text_usable)
{
  g_autofree char *model = hs_test_shared_path("golden/tiny");
  char errbuf[512] = "";
  hart_status st;

  *text_usable = FALSE;
  if (!g_file_test(model, G_FILE_TEST_IS_DIR))
    return g_strdup_printf("reference data %s not found", model);
  if (g_file_test(text, G_FILE_TEST_IS_DIR) &&
      try_open(model, text, errbuf, sizeof errbuf) == HART_OK) {
    *text_usable = TRUE;
    return NULL;
  }
  st = try_open(model, NULL, errbuf, sizeof errbuf);
  if (st == HART_ERR_UNSUPPORTED)
    return g_strdup_printf("engine cannot run the tiny model yet: %s", errbuf);
  /* Any other failure is the test's to report. */
  return NULL;
}

char *hs_test_engine_skip_reason(gboolean *text_usable)
{
  g_autofree char *text = hs_test_shared_path("text/qwen2-tiny");

  return hs_test_engine_skip_reason_with_text(g_file_test(text, G_FILE_TEST_IS_DIR) ? text : NULL,
                                              text_usable);
}
