/* hs-metadata.c: A1111 infotext and the hart_metadata JSON. */
#define G_LOG_DOMAIN "HsMetadata"

#include "hs-config.h"

#include "hs-metadata.h"

#include <json-glib/json-glib.h>

#include "hs-png.h"

/* Engine defaults the request leaves implicit (hart.h: 0 = default). */
#define HS_TOP_K_EARLY 600
#define HS_TOP_K_LATE 300

static char *model_name(const HsModelIdentity *model)
{
  if (model == NULL || model->model_dir == NULL)
    return g_strdup("HART");
  return g_path_get_basename(model->model_dir);
}

static const char *preview_mode_name(HsPreviewMode mode)
{
  switch (mode) {
  case HS_PREVIEW_OFF:
    return "off";
  case HS_PREVIEW_FAST:
    return "fast";
  case HS_PREVIEW_FULL:
    return "full";
  default:
    return "unknown";
  }
}

char *hs_metadata_parameters(const HsRequest *request, const HsImage *image,
                             const HsModelIdentity *model)
{
  g_autofree char *name = model_name(model);
  GString *s = g_string_new(request->prompt ? request->prompt : "");
  const hart_engine_info *info = model ? model->info : NULL;
  char cfg[G_ASCII_DTOSTR_BUF_SIZE];

  /* The number is written with a '.' whatever the locale: readers parse it. */
  g_ascii_formatd(cfg, sizeof cfg, "%.1f", request->cfg);
  g_string_append_printf(s,
                         "\nSteps: %d, Sampler: HART, CFG scale: %s, Seed: %" G_GUINT64_FORMAT
                         ", Size: %dx%d, Model: %s",
                         info && info->n_diffusion_steps > 0 ? info->n_diffusion_steps : 8, cfg,
                         request->seed, image->width, image->height, name);
  if (info != NULL && info->model_id[0] != '\0')
    g_string_append_printf(s, ", Model hash: %.10s", info->model_id);
  g_string_append_printf(s, ", Smooth: %s, System prompt: %s, Version: Hart Studio %s",
                         request->smooth ? "True" : "False",
                         request->use_system_prompt ? "True" : "False", PACKAGE_VERSION);
  return g_string_free(s, FALSE);
}

static void add_string(JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name(b, key);
  if (value != NULL)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void add_int(JsonBuilder *b, const char *key, gint64 value)
{
  json_builder_set_member_name(b, key);
  json_builder_add_int_value(b, value);
}

static void add_double(JsonBuilder *b, const char *key, double value)
{
  json_builder_set_member_name(b, key);
  json_builder_add_double_value(b, value);
}

static void add_bool(JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name(b, key);
  json_builder_add_boolean_value(b, value);
}

static void add_model(JsonBuilder *b, const HsModelIdentity *model)
{
  const hart_engine_info *info = model ? model->info : NULL;

  json_builder_set_member_name(b, "model");
  json_builder_begin_object(b);
  add_string(b, "dir", model ? model->model_dir : NULL);
  add_string(b, "text_dir", model ? model->text_model_dir : NULL);
  if (info != NULL) {
    add_string(b, "id", info->model_id);
    add_string(b, "backend", info->backend_name);
    add_string(b, "device", info->device_name);
    add_int(b, "image_size", info->image_size);
    add_int(b, "scales", info->n_scales);
    add_int(b, "diffusion_steps", info->n_diffusion_steps);
    add_int(b, "context_tokens", info->context_tokens);
  }
  json_builder_end_object(b);
}

char *hs_metadata_json(const HsRequest *request, const HsImage *image, const HsModelIdentity *model)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object(b);
  add_string(b, "generator", "Hart Studio " PACKAGE_VERSION);
  add_string(b, "engine_version", hart_version());
  add_string(b, "prompt", request->prompt);
  add_bool(b, "use_system_prompt", request->use_system_prompt);
  add_bool(b, "context_conditioning", request->context != NULL);
  /* Seeds are kept under 2^53 by the UI; as a JSON number they stay exact. */
  add_int(b, "seed", (gint64)request->seed);
  add_double(b, "cfg", request->cfg);
  add_bool(b, "smooth", request->smooth);
  add_int(b, "top_k_early", HS_TOP_K_EARLY);
  add_int(b, "top_k_late", HS_TOP_K_LATE);
  add_double(b, "top_p", 0.0);
  add_string(b, "preview_mode", preview_mode_name(request->preview_mode));
  add_int(b, "width", image->width);
  add_int(b, "height", image->height);
  add_model(b, model);
  json_builder_set_member_name(b, "timings");
  json_builder_begin_object(b);
  add_double(b, "text", image->t_text);
  add_double(b, "transformer", image->t_transformer);
  add_double(b, "diffusion", image->t_diffusion);
  add_double(b, "decode", image->t_decode);
  add_double(b, "total", image->t_total);
  json_builder_end_object(b);
  json_builder_end_object(b);

  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  return json_generator_to_data(gen, NULL);
}

gboolean hs_metadata_save_png(const char *path, const HsRequest *request, const HsImage *image,
                              const HsModelIdentity *model, GError **error)
{
  g_autofree char *parameters = hs_metadata_parameters(request, image, model);
  g_autofree char *json = hs_metadata_json(request, image, model);
  HsPngText texts[] = {
    { HS_METADATA_PARAMETERS_KEY, parameters },
    { HS_METADATA_JSON_KEY, json },
    { "Software", "Hart Studio " PACKAGE_VERSION },
  };

  return hs_png_save(path, image, texts, G_N_ELEMENTS(texts), error);
}
