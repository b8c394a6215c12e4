/* hs-model-validate.c: model folder checks with the engine's readers, and the one-time
 * conversion of PyTorch checkpoints through `hart convert`. */
#include "hs-model-validate.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "hs-model-fs.h"
#include "model_convert.h"
#include "model_part.h"

static gboolean engine_error(const hart_error *err, GError **error)
{
  int code = err->code == HART_ERR_IO ? G_IO_ERROR_NOT_FOUND : G_IO_ERROR_INVALID_DATA;
  g_set_error_literal(error, G_IO_ERROR, code, err->msg);
  return FALSE;
}

static gboolean require_file(const char *dir, const char *rel, GError **error)
{
  g_autofree char *path = g_build_filename(dir, rel, NULL);
  if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s is missing (in %s)", rel, dir);
  return FALSE;
}

static gboolean is_torch_zip(const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GFileInputStream) in = g_file_read(file, NULL, NULL);
  guchar magic[4] = { 0 };
  gsize n = 0;

  if (in == NULL ||
      !g_input_stream_read_all(G_INPUT_STREAM(in), magic, sizeof magic, &n, NULL, NULL))
    return FALSE;
  return n == 4 && memcmp(magic, "PK\x03\x04", 4) == 0;
}

/* The engine's own loader: config, the weights it would choose (EMA first, shards through the
 * index, torch checkpoints through the restricted reader), and the tensor manifest. */
static gboolean validate_hart(const char *dir, GError **error)
{
  g_autofree char *llm_dir = g_build_filename(dir, "llm", NULL);
  g_autofree char *vae_dir = g_build_filename(dir, "tokenizer", NULL);
  hart_model_part llm, vae;
  hart_error err = { 0 };
  gboolean ok;

  if (!require_file(dir, "llm/config.json", error) ||
      !require_file(dir, "tokenizer/config.json", error))
    return FALSE;
  if (hart_model_part_open(llm_dir, HART_PART_LLM, &llm, &err) != HART_OK)
    return engine_error(&err, error);
  if (hart_model_part_open(vae_dir, HART_PART_VAE, &vae, &err) != HART_OK) {
    hart_model_part_clear(&llm);
    return engine_error(&err, error);
  }
  ok = hart_config_check_pair(&llm.llm, &vae.vae, dir, &err) == HART_OK &&
       hart_model_check_pair(&llm, &vae, &err) == HART_OK;
  hart_model_part_clear(&llm);
  hart_model_part_clear(&vae);
  return ok || engine_error(&err, error);
}

static gboolean validate_text(const char *dir, GError **error)
{
  hart_model_part part;
  hart_error err = { 0 };

  if (!require_file(dir, "config.json", error))
    return FALSE;
  if (hart_model_part_open(dir, HART_PART_QWEN2, &part, &err) != HART_OK)
    return engine_error(&err, error);
  hart_model_part_clear(&part);
  return TRUE;
}

gboolean hs_model_validate_dir(const char *dir, HsModelPart part, GError **error)
{
  switch (part) {
  case HS_MODEL_PART_HART:
    return validate_hart(dir, error);
  case HS_MODEL_PART_TEXT:
    return validate_text(dir, error);
  default:
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown model part");
    return FALSE;
  }
}

gboolean hs_model_detect_part(const char *dir, HsModelPart *part, GError **error)
{
  g_autofree char *llm = g_build_filename(dir, "llm", NULL);
  g_autofree char *vae = g_build_filename(dir, "tokenizer", NULL);
  g_autofree char *cfg = g_build_filename(dir, "config.json", NULL);

  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s is not a folder", dir);
    return FALSE;
  }
  if (g_file_test(llm, G_FILE_TEST_IS_DIR) || g_file_test(vae, G_FILE_TEST_IS_DIR)) {
    *part = HS_MODEL_PART_HART;
    return TRUE;
  }
  if (g_file_test(cfg, G_FILE_TEST_IS_REGULAR)) {
    *part = HS_MODEL_PART_TEXT;
    return TRUE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
              "%s is neither a HART folder (llm/ and tokenizer/) nor a Qwen2 folder "
              "(config.json)",
              dir);
  return FALSE;
}

void hs_conversion_free(HsConversion *c)
{
  g_free(c->from);
  g_free(c->to);
  g_free(c);
}

/* Folders (relative, "" for the top) holding a torch.save zip checkpoint. */
static GPtrArray *checkpoint_dirs(const char *dir)
{
  g_autoptr(GPtrArray) files = hs_fs_list_files(dir, NULL);
  GPtrArray *dirs = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; files != NULL && i < files->len; i++) {
    const char *rel = files->pdata[i];
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(rel);
    if (!g_str_has_suffix(rel, ".bin") || !is_torch_zip(path))
      continue;
    if (strcmp(parent, ".") == 0)
      parent[0] = '\0';
    if (!g_ptr_array_find_with_equal_func(dirs, parent, g_str_equal, NULL))
      g_ptr_array_add(dirs, g_steal_pointer(&parent));
  }
  return dirs;
}

gboolean hs_model_needs_conversion(const char *dir)
{
  g_autoptr(GPtrArray) dirs = checkpoint_dirs(dir);
  return dirs->len > 0;
}

/* Converts one folder into a hidden sibling with the engine, then moves each safetensors file
 * that replaces a checkpoint of the same stem into the folder. */
static gboolean convert_one(const char *dir, const char *rel, GPtrArray *out, GError **error)
{
  g_autofree char *part = rel[0] ? g_build_filename(dir, rel, NULL) : g_strdup(dir);
  g_autofree char *base = g_path_get_basename(part);
  g_autofree char *parent = g_path_get_dirname(part);
  g_autofree char *tmp_dir = NULL;
  g_autoptr(GPtrArray) written = NULL;
  hart_convert_report rep;
  hart_error err = { 0 };
  gboolean ok = TRUE;

  tmp_dir = g_strdup_printf("%s/.%s.convert", parent, base);
  if (!hs_fs_remove_tree(tmp_dir, error))
    return FALSE;
  if (hart_convert_folder(part, tmp_dir, NULL, NULL, &rep, &err) != HART_OK) {
    hs_fs_remove_tree(tmp_dir, NULL);
    return engine_error(&err, error);
  }
  written = hs_fs_list_files(tmp_dir, error);
  ok = written != NULL;
  for (guint i = 0; ok && i < written->len; i++) {
    const char *name = written->pdata[i];
    g_autofree char *stem = NULL;
    g_autofree char *bin = NULL;
    g_autofree char *bin_path = NULL;
    g_autofree char *src = NULL;
    g_autofree char *dst = NULL;
    HsConversion *c;

    if (!g_str_has_suffix(name, ".safetensors"))
      continue;
    stem = g_strndup(name, strlen(name) - strlen(".safetensors"));
    bin = g_strconcat(stem, ".bin", NULL);
    bin_path = g_build_filename(part, bin, NULL);
    if (!g_file_test(bin_path, G_FILE_TEST_IS_REGULAR))
      continue; /* a copy of a file that was safetensors already */
    src = g_build_filename(tmp_dir, name, NULL);
    dst = g_build_filename(part, name, NULL);
    if (g_rename(src, dst) != 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot move %s to %s", src, dst);
      ok = FALSE;
      break;
    }
    c = g_new0(HsConversion, 1);
    c->from = rel[0] ? g_strconcat(rel, "/", bin, NULL) : g_strdup(bin);
    c->to = rel[0] ? g_strconcat(rel, "/", name, NULL) : g_strdup(name);
    g_ptr_array_add(out, c);
  }
  hs_fs_remove_tree(tmp_dir, NULL);
  return ok;
}

GPtrArray *hs_model_convert_dir(const char *dir, GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) dirs = checkpoint_dirs(dir);
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)hs_conversion_free);

  for (guint i = 0; i < dirs->len; i++) {
    if (g_cancellable_set_error_if_cancelled(cancellable, error) ||
        !convert_one(dir, dirs->pdata[i], out, error))
      return NULL;
  }
  return g_steal_pointer(&out);
}
