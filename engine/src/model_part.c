/* model_part.c: opening and checking one model part folder. */
#include "model_part.h"

#include "model_files.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *model_type, *name;
} kinds[] = {
  [HART_PART_LLM] = { "hart_transformer_t2i", "transformer" },
  [HART_PART_VAE] = { "hart_autoencoder_with_disc", "tokenizer" },
  [HART_PART_QWEN2] = { "qwen2", "Qwen2 text model" },
};

const char *hart_part_kind_name(hart_part_kind kind)
{
  return (unsigned)kind < G_N_ELEMENTS(kinds) ? kinds[kind].name : "?";
}

hart_status hart_model_part_detect(const char *dir, hart_part_kind *kind, hart_error *err)
{
  char *path = g_build_filename(dir, "config.json", NULL);
  JsonParser *parser = json_parser_new_immutable();
  GError *gerr = NULL;
  JsonNode *root, *mt;
  hart_status st = HART_OK;

  if (!json_parser_load_from_mapped_file(parser, path, &gerr)) {
    st = hart_fail(err, gerr->domain == G_FILE_ERROR ? HART_ERR_IO : HART_ERR_FORMAT, "%s: %s",
                   path, gerr->message);
    g_error_free(gerr);
    goto out;
  }
  root = json_parser_get_root(parser);
  mt = root && JSON_NODE_HOLDS_OBJECT(root)
           ? json_object_get_member(json_node_get_object(root), "model_type")
           : NULL;
  if (mt == NULL || !JSON_NODE_HOLDS_VALUE(mt) || json_node_get_value_type(mt) != G_TYPE_STRING) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: model_type is missing or not a string", path);
    goto out;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
    if (strcmp(json_node_get_string(mt), kinds[i].model_type) == 0) {
      *kind = (hart_part_kind)i;
      goto out;
    }
  st = hart_fail(err, HART_ERR_UNSUPPORTED,
                 "%s: model_type = \"%s\" is not supported (supported: \"hart_transformer_t2i\", "
                 "\"hart_autoencoder_with_disc\", \"qwen2\")",
                 path, json_node_get_string(mt));
out:
  g_object_unref(parser);
  g_free(path);
  return st;
}

hart_status hart_model_part_open(const char *dir, hart_part_kind kind, hart_model_part *part,
                                 hart_error *err)
{
  hart_status st;

  memset(part, 0, sizeof *part);
  part->kind = kind;
  part->dir = g_strdup(dir);
  part->config_path = g_build_filename(dir, "config.json", NULL);
  switch (kind) {
  case HART_PART_LLM:
    st = hart_llm_config_load(part->config_path, &part->llm, err);
    break;
  case HART_PART_VAE:
    st = hart_vae_config_load(part->config_path, &part->vae, err);
    break;
  case HART_PART_QWEN2:
    st = hart_qwen2_config_load(part->config_path, &part->qwen2, err);
    break;
  default:
    st = hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: unknown model part kind", dir);
    break;
  }
  if (st == HART_OK && (part->weights_path = hart_model_weights_path(dir, err)) == NULL)
    st = err != NULL ? err->code : HART_ERR_IO;
  if (st == HART_OK)
    st = hart_tensor_set_open_file(part->weights_path, &part->set, err);
  if (st == HART_OK) {
    switch (kind) {
    case HART_PART_LLM:
      st = hart_manifest_check_llm_stats(part->set, &part->llm, &part->stats, err);
      break;
    case HART_PART_VAE:
      st = hart_manifest_check_vae_stats(part->set, &part->vae, &part->stats, err);
      break;
    case HART_PART_QWEN2:
    default:
      st = hart_manifest_check_qwen2_stats(part->set, &part->qwen2, &part->stats, err);
      break;
    }
  }
  if (st != HART_OK)
    hart_model_part_clear(part);
  return st;
}

void hart_model_part_clear(hart_model_part *part)
{
  hart_tensor_set_free(part->set);
  g_free(part->dir);
  g_free(part->config_path);
  free(part->weights_path);
  memset(part, 0, sizeof *part);
}

int hart_is_hart_folder(const char *dir)
{
  char *llm = g_build_filename(dir, "llm", NULL), *tok = g_build_filename(dir, "tokenizer", NULL);
  int r = g_file_test(llm, G_FILE_TEST_IS_DIR) && g_file_test(tok, G_FILE_TEST_IS_DIR);
  g_free(llm);
  g_free(tok);
  return r;
}

hart_status hart_model_check_pair(const hart_model_part *llm, const hart_model_part *vae,
                                  hart_error *err)
{
  hart_status st = hart_config_check_pair(&llm->llm, &vae->vae, vae->config_path, err);
  if (st != HART_OK)
    return st;
  return hart_manifest_check_llm_vae(llm->set, &vae->vae, err);
}
