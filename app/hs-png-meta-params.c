/* hs-png-meta-params.c: HsGenParams and its two text forms (A1111 infotext, hart_metadata JSON).
 * Parsing is strict: wrong types, invalid UTF-8 and oversized strings are errors, never crashes. */
#include "hs-png-meta.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(hs - png - meta - error - quark, hs_png_meta_error)
G_DEFINE_BOXED_TYPE(HsGenParams, hs_gen_params, hs_gen_params_copy, hs_gen_params_free)

/* Short strings (model names, backend, ...) have their own, smaller bound. */
#define MAX_SHORT_STRING 1024

HsGenParams *hs_gen_params_new(void)
{
  HsGenParams *p = g_new0(HsGenParams, 1);

  p->cfg = 4.5;
  p->smooth = TRUE;
  p->use_system_prompt = TRUE;
  return p;
}

HsGenParams *hs_gen_params_copy(const HsGenParams *params)
{
  HsGenParams *p;

  g_return_val_if_fail(params != NULL, NULL);
  p = g_memdup2(params, sizeof(*params));
  p->prompt = g_strdup(params->prompt);
  p->model_name = g_strdup(params->model_name);
  p->model_revision = g_strdup(params->model_revision);
  p->model_hash = g_strdup(params->model_hash);
  p->engine_version = g_strdup(params->engine_version);
  p->backend = g_strdup(params->backend);
  p->device = g_strdup(params->device);
  return p;
}

void hs_gen_params_free(HsGenParams *params)
{
  if (params == NULL)
    return;
  g_free(params->prompt);
  g_free(params->model_name);
  g_free(params->model_revision);
  g_free(params->model_hash);
  g_free(params->engine_version);
  g_free(params->backend);
  g_free(params->device);
  g_free(params);
}

/* A1111 values are separated by ", "; a value holding a comma or quote is written as a JSON
 * string, as A1111's quote() does. */
static void append_a1111_value(GString *s, const char *key, const char *value)
{
  if (value == NULL || *value == '\0')
    return;
  g_string_append_printf(s, ", %s: ", key);
  if (strpbrk(value, ",:\"\n") != NULL) {
    g_autofree char *escaped = g_strescape(value, NULL);
    g_string_append_printf(s, "\"%s\"", escaped);
  } else {
    g_string_append(s, value);
  }
}

char *hs_gen_params_to_a1111(const HsGenParams *params)
{
  GString *s = g_string_new(params->prompt ? params->prompt : "");
  char cfg[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_val_if_fail(params != NULL, NULL);
  g_ascii_formatd(cfg, sizeof(cfg), "%g", params->cfg);
  g_string_append_printf(s, "\nSteps: 8, Sampler: HART, CFG scale: %s, Seed: %" G_GUINT64_FORMAT,
                         cfg, params->seed);
  if (params->width > 0 && params->height > 0)
    g_string_append_printf(s, ", Size: %dx%d", params->width, params->height);
  append_a1111_value(s, "Model", params->model_name);
  append_a1111_value(s, "Model hash", params->model_hash);
  g_string_append_printf(s, ", Smooth: %s, System prompt: %s", params->smooth ? "True" : "False",
                         params->use_system_prompt ? "True" : "False");
  append_a1111_value(s, "Version", params->engine_version);
  return g_string_free(s, FALSE);
}

static void add_string(JsonBuilder *b, const char *key, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name(b, key);
  json_builder_add_string_value(b, value);
}

static void add_double(JsonBuilder *b, const char *key, double value)
{
  json_builder_set_member_name(b, key);
  json_builder_add_double_value(b, value);
}

char *hs_gen_params_to_json(const HsGenParams *params)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  char seed[32];

  g_return_val_if_fail(params != NULL, NULL);
  json_builder_begin_object(b);
  add_string(b, "format", "hart-studio/1");
  add_string(b, "prompt", params->prompt ? params->prompt : "");
  /* A string: JSON readers (and json-glib) lose 64-bit integers above 2^53 or 2^63. */
  g_snprintf(seed, sizeof(seed), "%" G_GUINT64_FORMAT, params->seed);
  add_string(b, "seed", seed);
  add_double(b, "cfg", params->cfg);
  json_builder_set_member_name(b, "smooth");
  json_builder_add_boolean_value(b, params->smooth);
  json_builder_set_member_name(b, "system_prompt");
  json_builder_add_boolean_value(b, params->use_system_prompt);
  json_builder_set_member_name(b, "width");
  json_builder_add_int_value(b, params->width);
  json_builder_set_member_name(b, "height");
  json_builder_add_int_value(b, params->height);
  json_builder_set_member_name(b, "model");
  json_builder_begin_object(b);
  add_string(b, "name", params->model_name);
  add_string(b, "revision", params->model_revision);
  add_string(b, "hash", params->model_hash);
  json_builder_end_object(b);
  add_string(b, "engine_version", params->engine_version);
  add_string(b, "backend", params->backend);
  add_string(b, "device", params->device);
  json_builder_set_member_name(b, "timings");
  json_builder_begin_object(b);
  add_double(b, "text", params->t_text);
  add_double(b, "transformer", params->t_transformer);
  add_double(b, "diffusion", params->t_diffusion);
  add_double(b, "decode", params->t_decode);
  add_double(b, "total", params->t_total);
  json_builder_end_object(b);
  if (params->created_us > 0) {
    json_builder_set_member_name(b, "created_us");
    json_builder_add_int_value(b, params->created_us);
  }
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

static gboolean fail(GError **error, HsPngMetaError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean fail(GError **error, HsPngMetaError code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_propagate_error(error, g_error_new_valist(HS_PNG_META_ERROR, code, fmt, ap));
  va_end(ap);
  return FALSE;
}

/* Reads an optional string member into *out; wrong type or oversize is an error. */
static gboolean get_string(JsonObject *o, const char *key, gsize max, char **out, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  const char *v;

  if (n == NULL || JSON_NODE_HOLDS_NULL(n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"%s\" is not a string", key);
  v = json_node_get_string(n);
  if (strlen(v) > max)
    return fail(error, HS_PNG_META_ERROR_TOO_LARGE,
                "hart_metadata: \"%s\" is longer than %zu bytes", key, (size_t)max);
  g_free(*out);
  *out = g_strdup(v);
  return TRUE;
}

static gboolean get_number(JsonObject *o, const char *key, double lo, double hi, double *out,
                           gboolean *found, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  GType t;
  double v;

  if (n == NULL)
    return TRUE;
  t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"%s\" is not a number", key);
  v = t == G_TYPE_DOUBLE ? json_node_get_double(n) : (double)json_node_get_int(n);
  if (!(v >= lo && v <= hi))
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"%s\" = %g is out of range", key,
                v);
  *out = v;
  if (found)
    *found = TRUE;
  return TRUE;
}

static gboolean get_bool(JsonObject *o, const char *key, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);

  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"%s\" is not a boolean", key);
  *out = json_node_get_boolean(n);
  return TRUE;
}

static gboolean parse_u64(const char *s, guint64 *out)
{
  char *end = NULL;

  if (s == NULL || !g_ascii_isdigit(s[0]))
    return FALSE;
  errno = 0;
  *out = g_ascii_strtoull(s, &end, 10);
  return errno == 0 && end != s && *end == '\0';
}

static gboolean get_seed(JsonObject *o, HsGenParams *p, GError **error)
{
  JsonNode *n = json_object_get_member(o, "seed");

  if (n == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64) {
    /* A negative number is a seed above 2^63 written through an int64 (json-glib has no
     * unsigned integers): the same 64 bits. */
    p->seed = (guint64)json_node_get_int(n);
  } else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
             parse_u64(json_node_get_string(n), &p->seed)) {
  } else {
    return fail(error, HS_PNG_META_ERROR_INVALID,
                "hart_metadata: \"seed\" is not an unsigned 64-bit integer");
  }
  p->has_seed = TRUE;
  return TRUE;
}

static gboolean parse_json_object(JsonObject *o, HsGenParams *p, GError **error)
{
  JsonNode *model = json_object_get_member(o, "model");
  JsonNode *timings = json_object_get_member(o, "timings");
  double w = 0, h = 0, created = 0;

  if (!get_string(o, "prompt", HS_PNG_META_MAX_PROMPT, &p->prompt, error) ||
      !get_seed(o, p, error) || !get_number(o, "cfg", 0.0, 100.0, &p->cfg, &p->has_cfg, error) ||
      !get_bool(o, "smooth", &p->smooth, error) ||
      !get_bool(o, "system_prompt", &p->use_system_prompt, error) ||
      !get_bool(o, "use_system_prompt", &p->use_system_prompt, error) ||
      !get_number(o, "width", 0, HS_PNG_META_MAX_SIDE, &w, NULL, error) ||
      !get_number(o, "height", 0, HS_PNG_META_MAX_SIDE, &h, NULL, error) ||
      !get_number(o, "created_us", 0, 1e17, &created, NULL, error) ||
      !get_string(o, "engine_version", MAX_SHORT_STRING, &p->engine_version, error) ||
      !get_string(o, "backend", MAX_SHORT_STRING, &p->backend, error) ||
      !get_string(o, "device", MAX_SHORT_STRING, &p->device, error))
    return FALSE;
  if (p->prompt == NULL)
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: no \"prompt\"");
  p->width = (int)w;
  p->height = (int)h;
  p->created_us = (gint64)created;
  if (model != NULL) {
    JsonObject *m = JSON_NODE_HOLDS_OBJECT(model) ? json_node_get_object(model) : NULL;
    if (m == NULL)
      return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"model\" is not an object");
    if (!get_string(m, "name", MAX_SHORT_STRING, &p->model_name, error) ||
        !get_string(m, "revision", MAX_SHORT_STRING, &p->model_revision, error) ||
        !get_string(m, "hash", MAX_SHORT_STRING, &p->model_hash, error))
      return FALSE;
    /* The window's Save As writes the engine's model id and device inside "model". */
    if ((p->model_hash == NULL && !get_string(m, "id", MAX_SHORT_STRING, &p->model_hash, error)) ||
        (p->backend == NULL && !get_string(m, "backend", MAX_SHORT_STRING, &p->backend, error)) ||
        (p->device == NULL && !get_string(m, "device", MAX_SHORT_STRING, &p->device, error)))
      return FALSE;
  }
  if (timings != NULL) {
    JsonObject *t = JSON_NODE_HOLDS_OBJECT(timings) ? json_node_get_object(timings) : NULL;
    if (t == NULL)
      return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: \"timings\" is not an object");
    if (!get_number(t, "text", 0, 1e7, &p->t_text, NULL, error) ||
        !get_number(t, "transformer", 0, 1e7, &p->t_transformer, NULL, error) ||
        !get_number(t, "diffusion", 0, 1e7, &p->t_diffusion, NULL, error) ||
        !get_number(t, "decode", 0, 1e7, &p->t_decode, NULL, error) ||
        !get_number(t, "total", 0, 1e7, &p->t_total, NULL, error))
      return FALSE;
  }
  return TRUE;
}

gboolean hs_gen_params_parse_json(const char *json, gsize len, HsGenParams *params, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local = NULL;
  JsonNode *root;

  g_return_val_if_fail(json != NULL && params != NULL, FALSE);
  if (len > HS_PNG_META_MAX_CHUNK)
    return fail(error, HS_PNG_META_ERROR_TOO_LARGE, "hart_metadata: %zu bytes exceed the limit",
                (size_t)len);
  if (!g_utf8_validate(json, (gssize)len, NULL))
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: not valid UTF-8");
  parser = json_parser_new_immutable();
  if (!json_parser_load_from_data(parser, json, (gssize)len, &local))
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: %s", local->message);
  root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    return fail(error, HS_PNG_META_ERROR_INVALID, "hart_metadata: not a JSON object");
  if (!parse_json_object(json_node_get_object(root), params, error))
    return FALSE;
  params->source = HS_PNG_META_SOURCE_HART;
  return TRUE;
}

/* Splits "Key: value, Key: "quoted, value", ..." and applies the keys Hart Studio knows. */
static void parse_a1111_pairs(const char *line, HsGenParams *p)
{
  const char *s = line;

  while (*s != '\0') {
    const char *colon = strchr(s, ':');
    g_autofree char *key = NULL;
    g_autofree char *value = NULL;
    const char *v, *end;

    if (colon == NULL)
      break;
    key = g_strstrip(g_strndup(s, colon - s));
    v = colon + 1;
    while (*v == ' ')
      v++;
    if (*v == '"') {
      /* A quoted value ends at the next unescaped quote. */
      end = v + 1;
      while (*end != '\0' && *end != '"')
        end += (end[0] == '\\' && end[1] != '\0') ? 2 : 1;
      {
        g_autofree char *raw = g_strndup(v + 1, end - v - 1);
        value = g_strcompress(raw);
      }
      if (*end == '"')
        end++;
      end = strchr(end, ',') ? strchr(end, ',') : end + strlen(end);
    } else {
      end = strchr(v, ',');
      if (end == NULL)
        end = v + strlen(v);
      value = g_strstrip(g_strndup(v, end - v));
    }
    if (g_ascii_strcasecmp(key, "Seed") == 0) {
      p->has_seed = parse_u64(value, &p->seed);
    } else if (g_ascii_strcasecmp(key, "CFG scale") == 0) {
      char *e = NULL;
      double c = g_ascii_strtod(value, &e);
      if (e != value && *e == '\0' && c > 0 && c <= 100) {
        p->cfg = c;
        p->has_cfg = TRUE;
      }
    } else if (g_ascii_strcasecmp(key, "Size") == 0) {
      int w = 0, h = 0;
      if (sscanf(value, "%dx%d", &w, &h) == 2 && w > 0 && h > 0 && w <= HS_PNG_META_MAX_SIDE &&
          h <= HS_PNG_META_MAX_SIDE) {
        p->width = w;
        p->height = h;
      }
    } else if (g_ascii_strcasecmp(key, "Model") == 0 && strlen(value) <= MAX_SHORT_STRING) {
      g_free(p->model_name);
      p->model_name = g_strdup(value);
    } else if (g_ascii_strcasecmp(key, "Model hash") == 0 && strlen(value) <= MAX_SHORT_STRING) {
      g_free(p->model_hash);
      p->model_hash = g_strdup(value);
    } else if (g_ascii_strcasecmp(key, "Smooth") == 0) {
      p->smooth = g_ascii_strcasecmp(value, "False") != 0;
    } else if (g_ascii_strcasecmp(key, "System prompt") == 0) {
      p->use_system_prompt = g_ascii_strcasecmp(value, "False") != 0;
    }
    s = *end == ',' ? end + 1 : end;
    while (*s == ' ')
      s++;
  }
}

gboolean hs_gen_params_parse_a1111(const char *text, gsize len, HsGenParams *params, GError **error)
{
  g_auto(GStrv) lines = NULL;
  g_autofree char *copy = NULL;
  GString *prompt;
  int kv = -1, n;

  g_return_val_if_fail(text != NULL && params != NULL, FALSE);
  if (len > HS_PNG_META_MAX_CHUNK)
    return fail(error, HS_PNG_META_ERROR_TOO_LARGE, "parameters: %zu bytes exceed the limit",
                (size_t)len);
  if (!g_utf8_validate(text, (gssize)len, NULL))
    return fail(error, HS_PNG_META_ERROR_INVALID, "parameters: not valid UTF-8");
  copy = g_strndup(text, len);
  lines = g_strsplit(copy, "\n", -1);
  n = (int)g_strv_length(lines);
  /* The settings line is the last one that starts with "Steps:" (A1111's own rule). */
  for (int i = n - 1; i >= 0 && kv < 0; i--)
    if (g_str_has_prefix(lines[i], "Steps:"))
      kv = i;
  prompt = g_string_new(NULL);
  for (int i = 0; i < (kv < 0 ? n : kv); i++) {
    /* HART has no negative prompt: that line and what follows up to the settings is dropped. */
    if (g_str_has_prefix(lines[i], "Negative prompt:"))
      break;
    if (prompt->len > 0)
      g_string_append_c(prompt, '\n');
    g_string_append(prompt, lines[i]);
  }
  if (prompt->len > HS_PNG_META_MAX_PROMPT) {
    g_string_free(prompt, TRUE);
    return fail(error, HS_PNG_META_ERROR_TOO_LARGE, "parameters: the prompt exceeds %d bytes",
                HS_PNG_META_MAX_PROMPT);
  }
  g_free(params->prompt);
  params->prompt = g_string_free(prompt, FALSE);
  if (kv >= 0)
    parse_a1111_pairs(lines[kv], params);
  params->source = HS_PNG_META_SOURCE_A1111;
  return TRUE;
}
