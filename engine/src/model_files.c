/* model_files.c: choosing and opening the weight files of a model part folder. */
#include "model_files.h"

#include "tensor_set.h"
#include "torch_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const weight_names[] = {
  HART_WEIGHTS_EMA_ST, HART_WEIGHTS_EMA_BIN, HART_WEIGHTS_INDEX,
  HART_WEIGHTS_ST,     HART_WEIGHTS_BIN_ST,  HART_WEIGHTS_BIN,
};

hart_status hart_file_sniff(const char *path, hart_file_kind *kind, hart_error *err)
{
  unsigned char b[16];
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  *kind = HART_FILE_UNKNOWN;
  if (fd < 0)
    return hart_fail(err, HART_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  n = read(fd, b, sizeof b);
  close(fd);
  if (n < 0)
    return hart_fail(err, HART_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
  if (n >= 9 && b[8] == '{')
    /* Checked first: a header length such as 0x280 starts with the bytes of a pickle PROTO. */
    *kind = HART_FILE_SAFETENSORS;
  else if (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
    *kind = HART_FILE_TORCH_ZIP;
  else if (n >= 4 && memcmp(b, "\x80\x02\x8a\x0a", 4) == 0)
    /* PROTO 2 and the LONG1 magic number 0x1950a86a20f9469cfc6c that legacy files start with. */
    *kind = HART_FILE_TORCH_LEGACY;
  else if (n >= 8)
    /* Let the strict safetensors reader explain what is wrong with it. */
    *kind = HART_FILE_SAFETENSORS;
  return HART_OK;
}

const char *hart_tensor_set_origin(const hart_tensor_set *set)
{
  return set->origin;
}

static hart_status read_one_into(const char *path, hart_tensor_set *set, hart_error *err)
{
  hart_file_kind kind;
  hart_status st = hart_file_sniff(path, &kind, err);

  if (st != HART_OK)
    return st;
  switch (kind) {
  case HART_FILE_TORCH_ZIP:
    return hart_torch_read_into(path, set, err);
  case HART_FILE_TORCH_LEGACY:
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "%s: legacy torch.save format is not supported; re-save with torch>=1.6 or "
                     "convert",
                     path);
  case HART_FILE_SAFETENSORS:
  case HART_FILE_UNKNOWN:
  default:
    /* Unknown: too short to tell, and the strict to tell: the strict reader explains what is wrong
     * with it. */
    return hart_safetensors_read_into(path, set, err);
  }
}

hart_status hart_tensor_set_open_file(const char *path, hart_tensor_set **out, hart_error *err)
{
  hart_tensor_set *set;
  hart_status st;

  *out = NULL;
  if (g_str_has_suffix(path, ".index.json"))
    return hart_tensor_set_open_index(path, out, err);
  set = hart_tensor_set_new(path);
  if (set == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
  st = read_one_into(path, set, err);
  if (st != HART_OK) {
    hart_tensor_set_free(set);
    return st;
  }
  *out = set;
  return HART_OK;
}

char *hart_model_weights_path(const char *dir, hart_error *err)
{
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    hart_fail(err, HART_ERR_IO, "%s: not a folder", dir);
    return NULL;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(weight_names); i++) {
    char *p = g_build_filename(dir, weight_names[i], NULL);
    if (g_file_test(p, G_FILE_TEST_EXISTS)) {
      char *r = strdup(p);
      g_free(p);
      if (r == NULL)
        hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", dir);
      return r;
    }
    g_free(p);
  }
  hart_fail(err, HART_ERR_IO, "%s: no weights found (looked for %s, %s, %s, %s, %s, %s)", dir,
            weight_names[0], weight_names[1], weight_names[2], weight_names[3], weight_names[4],
            weight_names[5]);
  return NULL;
}

hart_status hart_tensor_set_open_dir(const char *dir, hart_tensor_set **out, hart_error *err)
{
  char *path = hart_model_weights_path(dir, err);
  hart_status st;

  *out = NULL;
  if (path == NULL)
    return err != NULL ? err->code : HART_ERR_IO;
  st = hart_tensor_set_open_file(path, out, err);
  free(path);
  return st;
}

/* ---- sharded checkpoints ---- */

/* A shard name from the index must be a plain file name in the index's folder: never let a
 * downloaded index point elsewhere on the disk. */
static gboolean shard_name_ok(const char *name)
{
  return name[0] != '\0' && strchr(name, '/') == NULL && strchr(name, '\\') == NULL &&
         strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Reads the weight_map of an index into name -> shard (strings owned by the parser). */
static hart_status index_load(const char *path, JsonParser *parser, GHashTable *map,
                              GPtrArray *shards, hart_error *err)
{
  GError *gerr = NULL;
  JsonNode *root, *wm;
  JsonObject *wmo;
  GList *members, *l;
  hart_status st = HART_OK;

  if (!json_parser_load_from_mapped_file(parser, path, &gerr)) {
    st = hart_fail(err, gerr->domain == G_FILE_ERROR ? HART_ERR_IO : HART_ERR_FORMAT, "%s: %s",
                   path, gerr->message);
    g_error_free(gerr);
    return st;
  }
  root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    return hart_fail(err, HART_ERR_FORMAT, "%s: not a JSON object", path);
  wm = json_object_get_member(json_node_get_object(root), "weight_map");
  if (wm == NULL || !JSON_NODE_HOLDS_OBJECT(wm))
    return hart_fail(err, HART_ERR_FORMAT, "%s: weight_map is missing or not an object", path);
  wmo = json_node_get_object(wm);
  members = json_object_get_members(wmo);
  for (l = members; l != NULL && st == HART_OK; l = l->next) {
    const char *name = l->data;
    JsonNode *v = json_object_get_member(wmo, name);
    const char *shard;
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
      st = hart_fail(err, HART_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a string", path, name);
      break;
    }
    shard = json_node_get_string(v);
    if (!shard_name_ok(shard)) {
      st = hart_fail(err, HART_ERR_FORMAT,
                     "%s: weight_map[\"%s\"] = \"%s\" is not a file name in the same folder", path,
                     name, shard);
      break;
    }
    g_hash_table_insert(map, (gpointer)name, (gpointer)shard);
    if (!g_ptr_array_find_with_equal_func(shards, shard, g_str_equal, NULL))
      g_ptr_array_add(shards, (gpointer)shard);
  }
  g_list_free(members);
  if (st == HART_OK && shards->len == 0)
    st = hart_fail(err, HART_ERR_FORMAT, "%s: weight_map is empty", path);
  return st;
}

/* Checks the tensors [first, set->n) just read from shard against the index. */
static hart_status check_shard(const char *index_path, const char *shard, hart_tensor_set *set,
                               size_t first, GHashTable *map, GHashTable *seen, hart_error *err)
{
  for (size_t i = first; i < set->n; i++) {
    const char *name = set->tensors[i].name;
    const char *want = g_hash_table_lookup(map, name);
    const char *prev = g_hash_table_lookup(seen, name);
    if (prev != NULL)
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s is in two shards: %s and %s",
                       index_path, name, prev, shard);
    if (want == NULL)
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s of shard %s is not in the index",
                       index_path, name, shard);
    if (strcmp(want, shard) != 0)
      return hart_fail(err, HART_ERR_FORMAT,
                       "%s: tensor %s is in shard %s but the index maps it to %s", index_path, name,
                       shard, want);
    g_hash_table_insert(seen, (gpointer)name, (gpointer)shard);
  }
  return HART_OK;
}

hart_status hart_tensor_set_open_index(const char *index_path, hart_tensor_set **out,
                                       hart_error *err)
{
  JsonParser *parser = json_parser_new_immutable();
  GHashTable *map = g_hash_table_new(g_str_hash, g_str_equal);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  GPtrArray *shards = g_ptr_array_new();
  char *dir = g_path_get_dirname(index_path);
  hart_tensor_set *set = hart_tensor_set_new(index_path);
  hart_status st;

  *out = NULL;
  if (set == NULL) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", index_path);
    goto out;
  }
  st = index_load(index_path, parser, map, shards, err);
  for (guint i = 0; st == HART_OK && i < shards->len; i++) {
    const char *shard = shards->pdata[i];
    char *p = g_build_filename(dir, shard, NULL);
    size_t first = set->n;
    if (!g_file_test(p, G_FILE_TEST_EXISTS))
      st = hart_fail(err, HART_ERR_IO, "%s: shard %s is missing", index_path, shard);
    else
      st = read_one_into(p, set, err);
    g_free(p);
    if (st == HART_OK)
      st = check_shard(index_path, shard, set, first, map, seen, err);
  }
  if (st == HART_OK && g_hash_table_size(seen) != g_hash_table_size(map)) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, map);
    while (g_hash_table_iter_next(&it, &k, &v))
      if (!g_hash_table_contains(seen, k)) {
        st = hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s is not in its shard %s", index_path,
                       (const char *)k, (const char *)v);
        break;
      }
  }
  if (st == HART_OK) {
    *out = set;
    set = NULL;
  }
out:
  hart_tensor_set_free(set);
  g_free(dir);
  g_ptr_array_unref(shards);
  g_hash_table_unref(seen);
  g_hash_table_unref(map);
  g_object_unref(parser);
  return st;
}
