/* hs-model-release.c: the pinned release and the rules for which files it needs. */
#include "hs-model-release.h"

#include <string.h>

/* mit-han-lab/hart-0.7b-1024px: the initial (and only known) commit, b9e0976 of 2024-10-08
 * (shared/docs/hart-spec.md §6.1). Only the abbreviated hash is known offline; the store
 * resolves it to the full commit through the hub's revision API and stores the entry under the
 * full hash, so a moved branch can never change what is installed. No sizes or hashes are known
 * in advance: they come from the tree API of that commit and are verified against it. */
#define HART_REPO "mit-han-lab/hart-0.7b-1024px"
#define HART_REVISION "b9e0976"

/* mit-han-lab/Qwen2-VL-1.5B-Instruct: no commit is documented; "main" is resolved to a full
 * commit on first download and pinned from then on in the manifest. Replace with the full
 * commit hash once it is known (and fill the pinned table from its tree listing). */
#define QWEN_REPO "mit-han-lab/Qwen2-VL-1.5B-Instruct"
#define QWEN_REVISION "main"

static const HsModelRelease default_release = {
  .name = "hart-0.7b-1024px",
  .components = {
      { HS_MODEL_PART_HART, HART_REPO, HART_REVISION, NULL, 0 },
      { HS_MODEL_PART_TEXT, QWEN_REPO, QWEN_REVISION, NULL, 0 },
  },
  .n_components = 2,
};

const HsModelRelease *hs_model_release_default(void)
{
  return &default_release;
}

const char *hs_model_part_name(HsModelPart part)
{
  switch (part) {
  case HS_MODEL_PART_HART:
    return "hart";
  case HS_MODEL_PART_TEXT:
    return "text";
  default:
    return "unknown";
  }
}

gboolean hs_model_part_from_name(const char *name, HsModelPart *part)
{
  if (g_strcmp0(name, "hart") == 0)
    *part = HS_MODEL_PART_HART;
  else if (g_strcmp0(name, "text") == 0)
    *part = HS_MODEL_PART_TEXT;
  else
    return FALSE;
  return TRUE;
}

static gboolean hart_wants(const char *path, GHashTable *listed)
{
  if (!g_str_has_prefix(path, "llm/") && !g_str_has_prefix(path, "tokenizer/"))
    return FALSE;
  /* The engine loads the EMA weights (as the reference does by default); the non-EMA copy
   * would cost another 3.3 GB for nothing. */
  if (strcmp(path, "llm/model.safetensors") == 0 && listed != NULL &&
      g_hash_table_contains(listed, "llm/ema_model.bin"))
    return FALSE;
  return TRUE;
}

/* Top-level files the text encoder needs, plus the licence that travels with the weights. */
static gboolean text_wants(const char *path)
{
  static const char *const names[] = { "config.json",           "model.safetensors.index.json",
                                       "model.safetensors",     "tokenizer.json",
                                       "tokenizer_config.json", "LICENSE" };
  if (strchr(path, '/') != NULL)
    return FALSE;
  if (g_str_has_prefix(path, "model-") && g_str_has_suffix(path, ".safetensors"))
    return TRUE; /* shards named by the index */
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    if (strcmp(path, names[i]) == 0)
      return TRUE;
  return FALSE;
}

gboolean hs_model_component_wants(const HsModelComponent *component, const char *path,
                                  GHashTable *listed)
{
  switch (component->part) {
  case HS_MODEL_PART_HART:
    return hart_wants(path, listed);
  case HS_MODEL_PART_TEXT:
    return text_wants(path);
  default:
    return FALSE;
  }
}

const HsPinnedFile *hs_model_component_pinned(const HsModelComponent *component, const char *path)
{
  for (guint i = 0; i < component->n_pinned; i++)
    if (strcmp(component->pinned[i].path, path) == 0)
      return &component->pinned[i];
  return NULL;
}

char *hs_model_repo_dirname(const char *repo_id)
{
  g_auto(GStrv) parts = g_strsplit(repo_id, "/", 2);
  return g_strjoinv("--", parts);
}
