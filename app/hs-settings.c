/* hs-settings.c: GSettings access with environment overrides. */
#define G_LOG_DOMAIN "HsSettings"

#include "hs-config.h"

#include "hs-settings.h"

GSettings *hs_settings_new(void)
{
  return g_settings_new(HS_SETTINGS_SCHEMA_ID);
}

static char *dup_dir(GSettings *settings, const char *env, const char *key)
{
  const char *from_env = g_getenv(env);
  g_autofree char *value = NULL;

  if (from_env != NULL && *from_env != '\0')
    return g_strdup(from_env);
  value = g_settings_get_string(settings, key);
  if (*value == '\0')
    return NULL;
  return g_steal_pointer(&value);
}

char *hs_settings_dup_model_dir(GSettings *settings)
{
  g_return_val_if_fail(G_IS_SETTINGS(settings), NULL);
  return dup_dir(settings, HS_ENV_MODEL_DIR, "model-dir");
}

char *hs_settings_dup_text_model_dir(GSettings *settings)
{
  g_return_val_if_fail(G_IS_SETTINGS(settings), NULL);
  return dup_dir(settings, HS_ENV_TEXT_MODEL_DIR, "text-model-dir");
}

HsEngineOptions *hs_settings_dup_engine_options(GSettings *settings)
{
  g_autofree char *model_dir = NULL;
  g_autofree char *text_dir = NULL;
  HsEngineOptions *options;

  g_return_val_if_fail(G_IS_SETTINGS(settings), NULL);

  model_dir = hs_settings_dup_model_dir(settings);
  if (model_dir == NULL)
    return NULL;
  text_dir = hs_settings_dup_text_model_dir(settings);
  options = hs_engine_options_new(model_dir, text_dir);
  /* The enum nicks map one to one onto hart_backend_kind (see the schema). */
  options->backend = (hart_backend_kind)g_settings_get_enum(settings, "backend");
  options->n_threads = g_settings_get_int(settings, "threads");
  return options;
}
