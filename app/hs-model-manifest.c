/* hs-model-manifest.c: manifest.json reading and writing with json-glib. */
#include "hs-model-manifest.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define MANIFEST_FORMAT 1

static void file_free(HsModelFile *f)
{
  g_free(f->path);
  g_free(f->sha256);
  g_free(f->git_oid);
  g_free(f->converted_from);
  g_free(f->converted_to);
  g_free(f);
}

HsModelManifest *hs_model_manifest_new(const char *repo_id, const char *revision, HsModelPart part)
{
  HsModelManifest *m = g_new0(HsModelManifest, 1);
  m->repo_id = g_strdup(repo_id);
  m->revision = g_strdup(revision);
  m->requested_revision = g_strdup(revision);
  m->part = part;
  m->source = g_strdup("");
  m->message = g_strdup("");
  m->files = g_ptr_array_new_with_free_func((GDestroyNotify)file_free);
  return m;
}

void hs_model_manifest_free(HsModelManifest *m)
{
  if (m == NULL)
    return;
  g_free(m->repo_id);
  g_free(m->revision);
  g_free(m->requested_revision);
  g_free(m->source);
  g_free(m->message);
  g_ptr_array_unref(m->files);
  g_free(m);
}

HsModelFile *hs_model_manifest_add(HsModelManifest *m, const char *path, guint64 size)
{
  HsModelFile *f = g_new0(HsModelFile, 1);
  f->path = g_strdup(path);
  f->size = size;
  g_ptr_array_add(m->files, f);
  return f;
}

HsModelFile *hs_model_manifest_find(const HsModelManifest *m, const char *path)
{
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    if (strcmp(f->path, path) == 0)
      return f;
  }
  return NULL;
}

void hs_model_manifest_set_message(HsModelManifest *m, HsModelState state, const char *message)
{
  m->state = state;
  g_free(m->message);
  m->message = g_strdup(message ? message : "");
}

guint64 hs_model_manifest_size_on_disk(const HsModelManifest *m)
{
  guint64 total = 0;
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    if (f->state == HS_MODEL_FILE_COMPLETE)
      total += f->size;
  }
  return total;
}

static const char *const state_names[] = { "incomplete", "ready", "broken" };
static const char *const file_state_names[] = { "pending", "complete", "converted" };

const char *hs_model_state_name(HsModelState state)
{
  return (guint)state < G_N_ELEMENTS(state_names) ? state_names[state] : "unknown";
}

static int name_index(const char *const *names, guint n, const char *name)
{
  for (guint i = 0; i < n; i++)
    if (g_strcmp0(names[i], name) == 0)
      return (int)i;
  return -1;
}

static void add_opt_string(JsonBuilder *b, const char *key, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name(b, key);
  json_builder_add_string_value(b, value);
}

static void build_file(JsonBuilder *b, const HsModelFile *f)
{
  json_builder_begin_object(b);
  add_opt_string(b, "path", f->path);
  json_builder_set_member_name(b, "size");
  json_builder_add_int_value(b, (gint64)f->size);
  add_opt_string(b, "sha256", f->sha256);
  add_opt_string(b, "git_oid", f->git_oid);
  add_opt_string(b, "state", file_state_names[f->state]);
  add_opt_string(b, "converted_from", f->converted_from);
  add_opt_string(b, "converted_to", f->converted_to);
  json_builder_end_object(b);
}

gboolean hs_model_manifest_save(const HsModelManifest *m, const char *dir, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = g_build_filename(dir, HS_MODEL_MANIFEST_NAME, NULL);

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "format");
  json_builder_add_int_value(b, MANIFEST_FORMAT);
  add_opt_string(b, "repo", m->repo_id);
  add_opt_string(b, "revision", m->revision);
  add_opt_string(b, "requested_revision", m->requested_revision);
  add_opt_string(b, "part", hs_model_part_name(m->part));
  add_opt_string(b, "source", m->source);
  add_opt_string(b, "state", hs_model_state_name(m->state));
  add_opt_string(b, "message", m->message);
  json_builder_set_member_name(b, "files");
  json_builder_begin_array(b);
  for (guint i = 0; i < m->files->len; i++)
    build_file(b, m->files->pdata[i]);
  json_builder_end_array(b);
  json_builder_end_object(b);

  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  text = json_generator_to_data(gen, NULL);
  /* g_file_set_contents writes a temporary file, fsyncs and renames it over the old one. */
  return g_file_set_contents(path, text, -1, error);
}

static gboolean bad(GError **error, const char *path, const char *what)
{
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, what);
  return FALSE;
}

static gboolean parse_file(JsonNode *node, HsModelManifest *m, const char *where, GError **error)
{
  JsonObject *o;
  const char *path, *state;
  gint64 size;
  int si;
  HsModelFile *f;

  if (!JSON_NODE_HOLDS_OBJECT(node))
    return bad(error, where, "a \"files\" entry is not an object");
  o = json_node_get_object(node);
  path = json_object_get_string_member_with_default(o, "path", NULL);
  size = json_object_get_int_member_with_default(o, "size", -1);
  state = json_object_get_string_member_with_default(o, "state", NULL);
  si = name_index(file_state_names, G_N_ELEMENTS(file_state_names), state);
  if (path == NULL || size < 0 || si < 0)
    return bad(error, where, "a \"files\" entry lacks a valid path, size or state");
  f = hs_model_manifest_add(m, path, (guint64)size);
  f->state = (HsModelFileState)si;
  f->sha256 = g_strdup(json_object_get_string_member_with_default(o, "sha256", NULL));
  f->git_oid = g_strdup(json_object_get_string_member_with_default(o, "git_oid", NULL));
  f->converted_from =
      g_strdup(json_object_get_string_member_with_default(o, "converted_from", NULL));
  f->converted_to = g_strdup(json_object_get_string_member_with_default(o, "converted_to", NULL));
  return TRUE;
}

HsModelManifest *hs_model_manifest_load(const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename(dir, HS_MODEL_MANIFEST_NAME, NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(HsModelManifest) m = NULL;
  JsonObject *o;
  JsonArray *files;
  HsModelPart part;
  int state;

  if (!json_parser_load_from_mapped_file(parser, path, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    bad(error, path, "not a JSON object");
    return NULL;
  }
  o = json_node_get_object(json_parser_get_root(parser));
  if (json_object_get_int_member_with_default(o, "format", 0) != MANIFEST_FORMAT) {
    bad(error, path, "unknown \"format\"");
    return NULL;
  }
  if (!hs_model_part_from_name(json_object_get_string_member_with_default(o, "part", NULL),
                               &part)) {
    bad(error, path, "\"part\" is not \"hart\" or \"text\"");
    return NULL;
  }
  state = name_index(state_names, G_N_ELEMENTS(state_names),
                     json_object_get_string_member_with_default(o, "state", NULL));
  if (state < 0 || json_object_get_string_member_with_default(o, "repo", NULL) == NULL ||
      json_object_get_string_member_with_default(o, "revision", NULL) == NULL ||
      !json_object_has_member(o, "files") ||
      !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "files"))) {
    bad(error, path, "missing or invalid \"state\", \"repo\", \"revision\" or \"files\"");
    return NULL;
  }
  m = hs_model_manifest_new(json_object_get_string_member(o, "repo"),
                            json_object_get_string_member(o, "revision"), part);
  g_free(m->requested_revision);
  m->requested_revision =
      g_strdup(json_object_get_string_member_with_default(o, "requested_revision", m->revision));
  g_free(m->source);
  m->source = g_strdup(json_object_get_string_member_with_default(o, "source", ""));
  hs_model_manifest_set_message(m, (HsModelState)state,
                                json_object_get_string_member_with_default(o, "message", ""));
  files = json_object_get_array_member(o, "files");
  for (guint i = 0; i < json_array_get_length(files); i++)
    if (!parse_file(json_array_get_element(files, i), m, path, error))
      return NULL;
  return g_steal_pointer(&m);
}
