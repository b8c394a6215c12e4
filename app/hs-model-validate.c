/* hs-model-validate.c: model folder checks with the engine's readers, and the one-time
 * conversion of PyTorch checkpoints through `hart convert`. */
#include "hs-model-validate.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "hs-model-fs.h"
#include "tensor.h"

/* Weight file names in the engine loader's order of preference. */
static const char *const weight_names[] = { "ema_model.safetensors", "ema_model.bin",
                                            "model.safetensors.index.json", "model.safetensors",
                                            "pytorch_model.bin" };

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

static gboolean check_safetensors(const char *path, GError **error)
{
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };

  if (hart_tensor_set_open_safetensors(path, &set, &err) != HART_OK)
    return engine_error(&err, error);
  if (hart_tensor_set_count(set) == 0) {
    hart_tensor_set_free(set);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: holds no tensors", path);
    return FALSE;
  }
  hart_tensor_set_free(set);
  return TRUE;
}

/* The shards an index names must all be present and readable. */
static gboolean check_index(const char *dir, const char *index_path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GHashTable) shards = g_hash_table_new(g_str_hash, g_str_equal);
  JsonObject *root, *map;
  GHashTableIter it;
  gpointer shard;

  if (!json_parser_load_from_mapped_file(parser, index_path, error))
    return FALSE;
  root = JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))
             ? json_node_get_object(json_parser_get_root(parser))
             : NULL;
  map = root && json_object_has_member(root, "weight_map")
            ? json_object_get_object_member(root, "weight_map")
            : NULL;
  if (map == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no \"weight_map\" object",
                index_path);
    return FALSE;
  }
  for (GList *l = json_object_get_members(map), *head = l; l; l = l->next) {
    JsonNode *v = json_object_get_member(map, l->data);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: weight_map entry %s is not a file name", index_path, (char *)l->data);
      g_list_free(head);
      return FALSE;
    }
    g_hash_table_add(shards, (gpointer)json_node_get_string(v));
    if (l->next == NULL)
      g_list_free(head);
  }
  g_hash_table_iter_init(&it, shards);
  while (g_hash_table_iter_next(&it, &shard, NULL)) {
    g_autofree char *path = g_build_filename(dir, shard, NULL);
    if (strchr(shard, '/') != NULL || !require_file(dir, shard, error) ||
        !check_safetensors(path, error))
      return FALSE;
  }
  return TRUE;
}

/* Checks the weights the engine will pick in a part folder (llm/, tokenizer/, a Qwen2 folder).
 * Every safetensors file there is read strictly, since a truncated download shows up there. */
static gboolean check_weights(const char *dir, const char *label, GError **error)
{
  const char *chosen = NULL;

  for (guint i = 0; i < G_N_ELEMENTS(weight_names) && chosen == NULL; i++) {
    g_autofree char *path = g_build_filename(dir, weight_names[i], NULL);
    if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
      chosen = weight_names[i];
  }
  if (chosen == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "%s: no weights (expected one of ema_model.bin, model.safetensors, "
                "model.safetensors.index.json, pytorch_model.bin)",
                label);
    return FALSE;
  }
  {
    g_autofree char *path = g_build_filename(dir, chosen, NULL);
    if (g_str_has_suffix(chosen, ".index.json"))
      return check_index(dir, path, error);
    if (g_str_has_suffix(chosen, ".bin")) {
      if (!is_torch_zip(path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: not a torch.save zip checkpoint", path);
        return FALSE;
      }
      return TRUE;
    }
    return check_safetensors(path, error);
  }
}

static gboolean validate_hart(const char *dir, GError **error)
{
  g_autofree char *llm_dir = g_build_filename(dir, "llm", NULL);
  g_autofree char *vae_dir = g_build_filename(dir, "tokenizer", NULL);
  g_autofree char *llm_cfg = g_build_filename(llm_dir, "config.json", NULL);
  g_autofree char *vae_cfg = g_build_filename(vae_dir, "config.json", NULL);
  hart_llm_config llm;
  hart_vae_config vae;
  hart_error err = { 0 };

  if (!require_file(dir, "llm/config.json", error) ||
      !require_file(dir, "tokenizer/config.json", error))
    return FALSE;
  if (hart_llm_config_load(llm_cfg, &llm, &err) != HART_OK ||
      hart_vae_config_load(vae_cfg, &vae, &err) != HART_OK ||
      hart_config_check_pair(&llm, &vae, dir, &err) != HART_OK)
    return engine_error(&err, error);
  return check_weights(llm_dir, "llm/", error) && check_weights(vae_dir, "tokenizer/", error);
}

static gboolean validate_text(const char *dir, GError **error)
{
  g_autofree char *cfg_path = g_build_filename(dir, "config.json", NULL);
  hart_qwen2_config cfg;
  hart_error err = { 0 };

  if (!require_file(dir, "config.json", error))
    return FALSE;
  if (hart_qwen2_config_load(cfg_path, &cfg, &err) != HART_OK)
    return engine_error(&err, error);
  return check_weights(dir, "text model", error);
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

char *hs_model_find_hart_cli(void)
{
  const char *env = g_getenv("HART_CLI");
  g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
  char *path;

  if (env != NULL && g_file_test(env, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup(env);
  if (self != NULL) {
    g_autofree char *dir = g_path_get_dirname(self);
    path = g_build_filename(dir, "hart", NULL);
    if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
      return path;
    g_free(path);
  }
  path = g_build_filename(HS_BINDIR, "hart", NULL);
  if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
    return path;
  g_free(path);
  return g_find_program_in_path("hart");
}

void hs_conversion_free(HsConversion *c)
{
  g_free(c->from);
  g_free(c->to);
  g_free(c);
}

gboolean hs_model_needs_conversion(const char *dir)
{
  g_autoptr(GPtrArray) files = hs_fs_list_files(dir, NULL);
  if (files == NULL)
    return FALSE;
  for (guint i = 0; i < files->len; i++) {
    g_autofree char *path = g_build_filename(dir, files->pdata[i], NULL);
    if (g_str_has_suffix(files->pdata[i], ".bin") && is_torch_zip(path))
      return TRUE;
  }
  return FALSE;
}

static gboolean run_convert(const char *cli, const char *src, const char *dst,
                            GCancellable *cancellable, GError **error)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *out = NULL;

  proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, error,
                          cli, "convert", src, dst, NULL);
  if (proc == NULL || !g_subprocess_communicate_utf8(proc, NULL, cancellable, &out, NULL, error))
    return FALSE;
  if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "hart convert %s failed: %s", src,
                out ? g_strstrip(out) : "");
    return FALSE;
  }
  return TRUE;
}

/* The checkpoint in dir a converted file replaces: same folder and stem, ending in .bin. */
static char *checkpoint_for(const char *dir, const char *converted)
{
  g_autofree char *stem = g_strndup(converted, strlen(converted) - strlen(".safetensors"));
  char *bin = g_strconcat(stem, ".bin", NULL);
  g_autofree char *path = g_build_filename(dir, bin, NULL);

  if (g_file_test(path, G_FILE_TEST_IS_REGULAR) && is_torch_zip(path))
    return bin;
  g_free(bin);
  return NULL;
}

GPtrArray *hs_model_convert_dir(const char *dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *cli = hs_model_find_hart_cli();
  g_autofree char *tmp = g_strconcat(dir, ".convert", NULL);
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)hs_conversion_free);
  g_autoptr(GPtrArray) written = NULL;
  gboolean ok = TRUE;

  if (cli == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "the `hart` tool needed to convert checkpoints was not found");
    return NULL;
  }
  if (!hs_fs_remove_tree(tmp, error) || !run_convert(cli, dir, tmp, cancellable, error)) {
    hs_fs_remove_tree(tmp, NULL);
    return NULL;
  }
  written = hs_fs_list_files(tmp, error);
  ok = written != NULL;
  for (guint i = 0; ok && i < written->len; i++) {
    const char *rel = written->pdata[i];
    g_autofree char *from = NULL;
    g_autofree char *src = NULL;
    g_autofree char *dst = NULL;
    HsConversion *c;

    if (!g_str_has_suffix(rel, ".safetensors") || (from = checkpoint_for(dir, rel)) == NULL)
      continue;
    src = g_build_filename(tmp, rel, NULL);
    dst = g_build_filename(dir, rel, NULL);
    if (g_rename(src, dst) != 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot move %s to %s", src, dst);
      ok = FALSE;
      break;
    }
    c = g_new0(HsConversion, 1);
    c->from = g_steal_pointer(&from);
    c->to = g_strdup(rel);
    g_ptr_array_add(out, c);
  }
  hs_fs_remove_tree(tmp, NULL);
  return ok ? g_steal_pointer(&out) : NULL;
}
