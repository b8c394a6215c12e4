/* hs-hub.c: revision resolution, tree listing and file URLs of the Hugging Face hub API. */
#include "hs-hub.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define HS_SETTINGS_SCHEMA "io.github.hartstudio.HartStudio"
#define HS_SETTINGS_BASE_URL_KEY "download-base-url"
#define HS_USER_AGENT "HartStudio/" HART_VERSION " "

void hs_hub_file_free(HsHubFile *file)
{
  if (file == NULL)
    return;
  g_free(file->path);
  g_free(file->sha256);
  g_free(file->git_oid);
  g_free(file);
}

static char *strip_trailing_slashes(char *url)
{
  gsize n = strlen(url);
  while (n > 0 && url[n - 1] == '/')
    url[--n] = '\0';
  return url;
}

/* The GSettings key is read only when the schema is installed and has the key, so the tool and
 * the tests work without the app's schema (g_settings_new would abort otherwise). */
static char *base_url_from_settings(void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default();
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettings) settings = NULL;
  char *value;

  if (source == NULL)
    return NULL;
  schema = g_settings_schema_source_lookup(source, HS_SETTINGS_SCHEMA, TRUE);
  if (schema == NULL || !g_settings_schema_has_key(schema, HS_SETTINGS_BASE_URL_KEY))
    return NULL;
  settings = g_settings_new_full(schema, NULL, NULL);
  value = g_settings_get_string(settings, HS_SETTINGS_BASE_URL_KEY);
  if (value == NULL || value[0] == '\0') {
    g_free(value);
    return NULL;
  }
  return value;
}

char *hs_hub_base_url(void)
{
  const char *env = g_getenv(HS_HUB_URL_ENV);
  char *url;

  if (env != NULL && env[0] != '\0')
    url = g_strdup(env);
  else if ((url = base_url_from_settings()) == NULL)
    url = g_strdup(HS_HUB_DEFAULT_URL);
  return strip_trailing_slashes(url);
}

SoupSession *hs_hub_session_new(guint timeout_s)
{
  /* libsoup 3 uses g_proxy_resolver_get_default() unless told otherwise: that resolver reads
   * http_proxy/https_proxy/no_proxy or the GNOME proxy settings (the DiffusionBee #508 lesson). */
  SoupSession *session = soup_session_new_with_options("user-agent", HS_USER_AGENT, NULL);
  if (timeout_s > 0)
    soup_session_set_timeout(session, timeout_s);
  /* Bytes must arrive as they are hashed upstream, and Content-Length/Range count those bytes:
   * no transparent gzip (requests say Accept-Encoding: identity, or nothing). */
  soup_session_remove_feature_by_type(session, SOUP_TYPE_CONTENT_DECODER);
  return session;
}

static gboolean component_is_safe(const char *c, gsize len)
{
  if (len == 0 || len > 255)
    return FALSE;
  if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    guchar ch = (guchar)c[i];
    if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == ':')
      return FALSE;
  }
  return TRUE;
}

gboolean hs_hub_path_is_safe(const char *path)
{
  const char *start = path;

  if (path == NULL || path[0] == '\0' || path[0] == '/' || strlen(path) > 4096)
    return FALSE;
  if (!g_utf8_validate(path, -1, NULL))
    return FALSE;
  for (const char *p = path;; p++) {
    if (*p == '/' || *p == '\0') {
      if (!component_is_safe(start, (gsize)(p - start)))
        return FALSE;
      if (*p == '\0')
        return TRUE;
      start = p + 1;
    }
  }
}

static gboolean name_is_valid(const char *s)
{
  if (s == NULL || s[0] == '\0' || strlen(s) > 96 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

gboolean hs_hub_repo_id_is_valid(const char *repo_id)
{
  g_auto(GStrv) parts = NULL;

  if (repo_id == NULL)
    return FALSE;
  parts = g_strsplit(repo_id, "/", -1);
  return g_strv_length(parts) == 2 && name_is_valid(parts[0]) && name_is_valid(parts[1]);
}

gboolean hs_hub_revision_is_valid(const char *revision)
{
  return name_is_valid(revision);
}

char *hs_hub_file_url(const char *base, const char *repo_id, const char *revision, const char *path)
{
  g_autofree char *escaped = g_uri_escape_string(path, "/", FALSE);
  return g_strdup_printf("%s/%s/resolve/%s/%s", base, repo_id, revision, escaped);
}

/* Listings of the released repositories are a few kB; anything past this is not a listing. */
#define MAX_DOCUMENT_SIZE (16 * 1024 * 1024)

/* Reads at most MAX_DOCUMENT_SIZE bytes of a body. */
static GBytes *read_bounded(GInputStream *in, const char *url, GCancellable *cancellable,
                            GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new();
  guchar chunk[16384];

  for (;;) {
    gssize n = g_input_stream_read(in, chunk, sizeof chunk, cancellable, error);
    if (n < 0) {
      g_prefix_error(error, "%s: ", url);
      return NULL;
    }
    if (n == 0)
      break;
    if (buf->len + (gsize)n > MAX_DOCUMENT_SIZE) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: answer larger than %d MiB", url,
                  MAX_DOCUMENT_SIZE >> 20);
      return NULL;
    }
    g_byte_array_append(buf, chunk, (guint)n);
  }
  return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

/* GETs a small JSON document; a non-2xx status becomes an error naming the URL. */
static GBytes *get_document(SoupSession *session, const char *url, guint *status,
                            GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupMessage) msg = soup_message_new(SOUP_METHOD_GET, url);
  g_autoptr(GInputStream) in = NULL;
  GBytes *body;

  if (msg == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid URL %s", url);
    return NULL;
  }
  soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept", "application/json");
  in = soup_session_send(session, msg, cancellable, error);
  if (in == NULL) {
    g_prefix_error(error, "%s: ", url);
    return NULL;
  }
  *status = soup_message_get_status(msg);
  if (*status < 200 || *status >= 300) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: HTTP %u %s", url, *status,
                soup_message_get_reason_phrase(msg));
    g_input_stream_close(in, NULL, NULL);
    return NULL;
  }
  body = read_bounded(in, url, cancellable, error);
  g_input_stream_close(in, NULL, NULL);
  return body;
}

static gboolean hex_is_valid(const char *s, gsize len)
{
  if (s == NULL || strlen(s) != len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit(s[i]))
      return FALSE;
  return TRUE;
}

static gboolean is_abbreviated_commit(const char *revision)
{
  gsize len = strlen(revision);
  return len >= 4 && len < 40 && hex_is_valid(revision, len);
}

/* The full hash of the commit of main's history that starts with prefix, from
 * GET <base>/api/models/<repo>/commits/main (a JSON array of objects with "id"). */
static char *find_commit(SoupSession *session, const char *base, const char *repo_id,
                         const char *prefix, GCancellable *cancellable, GError **error)
{
  g_autofree char *url = g_strdup_printf("%s/api/models/%s/commits/main", base, repo_id);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonArray *commits;
  guint status = 0;

  body = get_document(session, url, &status, cancellable, error);
  if (body == NULL)
    return NULL;
  if (!json_parser_load_from_data(parser, g_bytes_get_data(body, NULL),
                                  (gssize)g_bytes_get_size(body), error)) {
    g_prefix_error(error, "%s: ", url);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser))) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a JSON array", url);
    return NULL;
  }
  commits = json_node_get_array(json_parser_get_root(parser));
  for (guint i = 0; i < json_array_get_length(commits); i++) {
    JsonNode *node = json_array_get_element(commits, i);
    const char *id =
        JSON_NODE_HOLDS_OBJECT(node)
            ? json_object_get_string_member_with_default(json_node_get_object(node), "id", NULL)
            : NULL;
    if (hex_is_valid(id, 40) && g_ascii_strncasecmp(id, prefix, strlen(prefix)) == 0)
      return g_ascii_strdown(id, -1);
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no commit of %s starts with %s", url,
              repo_id, prefix);
  return NULL;
}

char *hs_hub_resolve_revision(SoupSession *session, const char *base, const char *repo_id,
                              const char *revision, GCancellable *cancellable, GError **error)
{
  g_autofree char *url = g_strdup_printf("%s/api/models/%s/revision/%s", base, repo_id, revision);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) local = NULL;
  JsonNode *root;
  const char *sha;
  guint status = 0;

  body = get_document(session, url, &status, cancellable, &local);
  if (body == NULL) {
    /* The hub does not resolve every abbreviated hash: look it up in the history instead. */
    if (status >= 400 && status < 500 && is_abbreviated_commit(revision))
      return find_commit(session, base, repo_id, revision, cancellable, error);
    if (status == SOUP_STATUS_NOT_FOUND)
      return g_strdup(revision);
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (!json_parser_load_from_data(parser, g_bytes_get_data(body, NULL),
                                  (gssize)g_bytes_get_size(body), error)) {
    g_prefix_error(error, "%s: ", url);
    return NULL;
  }
  root = json_parser_get_root(parser);
  sha = JSON_NODE_HOLDS_OBJECT(root)
            ? json_object_get_string_member_with_default(json_node_get_object(root), "sha", NULL)
            : NULL;
  if (sha == NULL || !hs_hub_revision_is_valid(sha)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no valid \"sha\" member", url);
    return NULL;
  }
  return g_strdup(sha);
}

/* One tree entry; NULL with an error for anything malformed, NULL without one for a directory. */
static HsHubFile *parse_entry(JsonNode *node, const char *what, guint index, GError **error)
{
  JsonObject *o, *lfs;
  const char *type, *path, *oid;
  gint64 size;
  g_autoptr(HsHubFile) file = NULL;

  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: entry %u is not an object", what,
                index);
    return NULL;
  }
  o = json_node_get_object(node);
  type = json_object_get_string_member_with_default(o, "type", "");
  path = json_object_get_string_member_with_default(o, "path", NULL);
  if (strcmp(type, "directory") == 0)
    return NULL;
  if (strcmp(type, "file") != 0 || path == NULL || !hs_hub_path_is_safe(path)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "%s: entry %u (\"%s\") is not a file with a safe relative path", what, index,
                path ? path : "?");
    return NULL;
  }
  file = g_new0(HsHubFile, 1);
  file->path = g_strdup(path);
  size = json_object_get_int_member_with_default(o, "size", -1);
  oid = json_object_get_string_member_with_default(o, "oid", NULL);
  if (oid != NULL && hex_is_valid(oid, 40))
    file->git_oid = g_ascii_strdown(oid, -1);
  lfs = json_object_has_member(o, "lfs") ? json_object_get_object_member(o, "lfs") : NULL;
  if (lfs != NULL) {
    const char *sha = json_object_get_string_member_with_default(lfs, "oid", NULL);
    if (!hex_is_valid(sha, 64)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: %s: lfs.oid is not a SHA-256 hex digest", what, path);
      return NULL;
    }
    file->sha256 = g_ascii_strdown(sha, -1);
    size = json_object_get_int_member_with_default(lfs, "size", -1);
    g_clear_pointer(&file->git_oid, g_free); /* the oid of an LFS entry hashes the pointer */
  }
  if (size < 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s: missing or negative size",
                what, path);
    return NULL;
  }
  file->size = (guint64)size;
  return g_steal_pointer(&file);
}

GPtrArray *hs_hub_parse_tree(const char *json, gsize len, const char *what, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)hs_hub_file_free);
  JsonArray *array;
  JsonNode *root;

  if (!json_parser_load_from_data(parser, json, (gssize)len, error)) {
    g_prefix_error(error, "%s: ", what);
    return NULL;
  }
  root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY(root)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a JSON array", what);
    return NULL;
  }
  array = json_node_get_array(root);
  for (guint i = 0; i < json_array_get_length(array); i++) {
    GError *local = NULL;
    HsHubFile *file = parse_entry(json_array_get_element(array, i), what, i, &local);
    if (local != NULL) {
      g_propagate_error(error, local);
      return NULL;
    }
    if (file != NULL)
      g_ptr_array_add(files, file);
  }
  return g_steal_pointer(&files);
}

GPtrArray *hs_hub_list_files(SoupSession *session, const char *base, const char *repo_id,
                             const char *revision, GCancellable *cancellable, GError **error)
{
  g_autofree char *url =
      g_strdup_printf("%s/api/models/%s/tree/%s?recursive=true", base, repo_id, revision);
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  body = get_document(session, url, &status, cancellable, error);
  if (body == NULL)
    return NULL;
  return hs_hub_parse_tree(g_bytes_get_data(body, NULL), g_bytes_get_size(body), url, error);
}
