/* safetensors.c: strict, zero-copy reader of .safetensors files.
 *
 * Format: u64 LE header length N | N bytes of UTF-8 JSON | data. Every rule of the format is
 * enforced (see shared/golden/README.md "File format"); the views point into the mapping. */
#include "tensor_set.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#define ST_HEADER_MAX 100000000ull

typedef struct {
  uint64_t begin, end;
  size_t index;
} st_span;

static int span_cmp(const void *a, const void *b)
{
  const st_span *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : (x->end > y->end);
}

/* json-glib silently keeps the last of duplicate keys, so scan the raw text for duplicates at any
 * nesting level ourselves. The header is already known to be valid JSON when this runs. */
typedef struct {
  gboolean is_object;
  GHashTable *keys; /* NULL for arrays */
} json_level;

/* Also reports in *end where the first top-level value ends (one past its closing bracket), so
 * that anything after it can be refused: json-glib accepts "{...} {...}". */
static gboolean has_duplicate_keys(const char *s, size_t n, size_t *end, char **dup_key)
{
  GArray *stack = g_array_new(FALSE, FALSE, sizeof(json_level));
  gboolean dup = FALSE, expect_key = FALSE;
  size_t i = 0;

  *end = n;
  while (i < n && !dup) {
    char c = s[i];
    json_level lv = { FALSE, NULL };
    if (c == '{' || c == '[') {
      lv.is_object = c == '{';
      if (lv.is_object)
        lv.keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
      g_array_append_val(stack, lv);
      expect_key = lv.is_object;
      i++;
    } else if (c == '}' || c == ']') {
      if (stack->len > 0) {
        json_level *top = &g_array_index(stack, json_level, stack->len - 1);
        if (top->keys)
          g_hash_table_unref(top->keys);
        g_array_set_size(stack, stack->len - 1);
        if (stack->len == 0 && *end == n)
          *end = i + 1;
      }
      expect_key = FALSE;
      i++;
    } else if (c == ',') {
      expect_key = stack->len > 0 && g_array_index(stack, json_level, stack->len - 1).is_object;
      i++;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < n && s[j] != '"')
        j += s[j] == '\\' ? 2 : 1;
      if (expect_key && stack->len > 0) {
        GHashTable *keys = g_array_index(stack, json_level, stack->len - 1).keys;
        char *key = g_strndup(s + i + 1, j - i - 1);
        if (g_hash_table_contains(keys, key)) {
          dup = TRUE;
          *dup_key = key; /* raw JSON text of the key, for the message */
        } else {
          g_hash_table_add(keys, key);
        }
      }
      expect_key = FALSE;
      i = j + 1;
    } else {
      i++;
    }
  }
  for (guint k = 0; k < stack->len; k++)
    if (g_array_index(stack, json_level, k).keys)
      g_hash_table_unref(g_array_index(stack, json_level, k).keys);
  g_array_free(stack, TRUE);
  return dup;
}

static int mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
  return __builtin_mul_overflow(a, b, out);
}

static hart_status parse_entry(const char *path, const char *name, JsonNode *node,
                               uint64_t data_len, hart_tensor *t, st_span *span, hart_error *err)
{
  JsonObject *o;
  JsonNode *dt, *shape, *offs;
  JsonArray *sa, *oa;
  int dtype;
  uint64_t numel = 1, nbytes, begin, end;

  if (!JSON_NODE_HOLDS_OBJECT(node))
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: entry is not an object", path, name);
  o = json_node_get_object(node);
  if (json_object_get_size(o) != 3)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: tensor %s: entry must have exactly dtype, shape and data_offsets", path,
                     name);
  dt = json_object_get_member(o, "dtype");
  shape = json_object_get_member(o, "shape");
  offs = json_object_get_member(o, "data_offsets");
  if (dt == NULL || shape == NULL || offs == NULL)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: tensor %s: entry must have exactly dtype, shape and data_offsets", path,
                     name);
  if (!JSON_NODE_HOLDS_VALUE(dt) || json_node_get_value_type(dt) != G_TYPE_STRING)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: dtype is not a string", path, name);
  dtype = hart_dtype_from_name(json_node_get_string(dt));
  if (dtype < 0)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: unknown dtype \"%s\"", path, name,
                     json_node_get_string(dt));
  if (!JSON_NODE_HOLDS_ARRAY(shape))
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: shape is not an array", path, name);
  sa = json_node_get_array(shape);
  if (json_array_get_length(sa) > HART_MAX_DIMS)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: more than %d dimensions", path, name,
                     HART_MAX_DIMS);
  t->dtype = (hart_dtype)dtype;
  t->ndim = (int)json_array_get_length(sa);
  for (int i = 0; i < t->ndim; i++) {
    JsonNode *d = json_array_get_element(sa, (guint)i);
    gint64 v;
    if (!JSON_NODE_HOLDS_VALUE(d) || json_node_get_value_type(d) != G_TYPE_INT64)
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: shape[%d] is not an integer", path,
                       name, i);
    v = json_node_get_int(d);
    if (v < 0)
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: shape[%d] is negative", path, name, i);
    t->shape[i] = v;
    if (mul_overflow_u64(numel, (uint64_t)v, &numel))
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: element count overflows", path, name);
  }
  if (mul_overflow_u64(numel, hart_dtype_size(t->dtype), &nbytes))
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: byte size overflows", path, name);
  if (!JSON_NODE_HOLDS_ARRAY(offs) || json_array_get_length(json_node_get_array(offs)) != 2)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: data_offsets is not [begin, end]", path,
                     name);
  oa = json_node_get_array(offs);
  for (guint i = 0; i < 2; i++) {
    JsonNode *d = json_array_get_element(oa, i);
    if (!JSON_NODE_HOLDS_VALUE(d) || json_node_get_value_type(d) != G_TYPE_INT64 ||
        json_node_get_int(d) < 0)
      return hart_fail(err, HART_ERR_FORMAT,
                       "%s: tensor %s: data_offsets must be non-negative integers", path, name);
  }
  begin = (uint64_t)json_array_get_int_element(oa, 0);
  end = (uint64_t)json_array_get_int_element(oa, 1);
  if (begin > end)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: data_offsets begin > end", path, name);
  if (end > data_len)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: data ends past the end of the file",
                     path, name);
  if (end - begin != nbytes)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: tensor %s: %llu bytes for %llu elements of %s (expected %llu)", path,
                     name, (unsigned long long)(end - begin), (unsigned long long)numel,
                     hart_dtype_name(t->dtype), (unsigned long long)nbytes);
  t->nbytes = (size_t)nbytes;
  span->begin = begin;
  span->end = end;
  return HART_OK;
}

static hart_status check_metadata(const char *path, JsonNode *node, hart_error *err)
{
  JsonObject *o;
  GList *members, *l;
  hart_status st = HART_OK;

  if (!JSON_NODE_HOLDS_OBJECT(node))
    return hart_fail(err, HART_ERR_FORMAT, "%s: __metadata__ is not an object", path);
  o = json_node_get_object(node);
  members = json_object_get_members(o);
  for (l = members; l != NULL; l = l->next) {
    JsonNode *v = json_object_get_member(o, l->data);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
      st = hart_fail(err, HART_ERR_FORMAT, "%s: __metadata__ value of \"%s\" is not a string", path,
                     (const char *)l->data);
      break;
    }
  }
  g_list_free(members);
  return st;
}

static hart_status parse_header(const char *path, const char *json, size_t hlen,
                                const uint8_t *data, uint64_t data_len, hart_tensor_set *set,
                                hart_error *err)
{
  JsonParser *parser = NULL;
  GError *gerr = NULL;
  JsonObject *root;
  GList *members = NULL, *l;
  st_span *spans = NULL;
  size_t n_spans = 0, first = set->n;
  hart_status st = HART_OK;
  uint64_t pos = 0;
  size_t k = 0, json_end = hlen;
  char *dup_key = NULL;

  if (!g_utf8_validate(json, (gssize)hlen, NULL))
    return hart_fail(err, HART_ERR_FORMAT, "%s: header is not valid UTF-8", path);
  while (k < hlen && (json[k] == ' ' || json[k] == '\t' || json[k] == '\n' || json[k] == '\r'))
    k++;
  if (k == hlen || json[k] != '{')
    return hart_fail(err, HART_ERR_FORMAT, "%s: header is not a JSON object", path);
  if (memchr(json, '\0', hlen) != NULL)
    return hart_fail(err, HART_ERR_FORMAT, "%s: header contains a NUL byte", path);

  parser = json_parser_new();
  if (!json_parser_load_from_data(parser, json, (gssize)hlen, &gerr)) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: header is not valid JSON: %s", path, gerr->message);
    g_error_free(gerr);
    goto out;
  }
  if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: header is not a JSON object", path);
    goto out;
  }
  if (has_duplicate_keys(json, hlen, &json_end, &dup_key)) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: header has duplicate key \"%.200s\"", path, dup_key);
    g_free(dup_key);
    goto out;
  }
  for (size_t j = json_end; j < hlen; j++)
    if (json[j] != ' ' && json[j] != '\t' && json[j] != '\n' && json[j] != '\r') {
      st = hart_fail(err, HART_ERR_FORMAT, "%s: header has data after its JSON object", path);
      goto out;
    }
  root = json_node_get_object(json_parser_get_root(parser));
  members = json_object_get_members(root);
  spans = calloc(json_object_get_size(root) + 1, sizeof *spans);
  if (spans == NULL) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
    goto out;
  }
  for (l = members; l != NULL; l = l->next) {
    const char *name = l->data;
    JsonNode *node = json_object_get_member(root, name);
    hart_tensor *t;
    if (strcmp(name, "__metadata__") == 0) {
      st = check_metadata(path, node, err);
      if (st != HART_OK)
        goto out;
      continue;
    }
    t = hart_tensor_set_add(set, name);
    if (t == NULL) {
      st = hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
      goto out;
    }
    st = parse_entry(path, name, node, data_len, t, &spans[n_spans], err);
    if (st != HART_OK)
      goto out;
    spans[n_spans].index = set->n - 1;
    t->data = data + spans[n_spans].begin;
    n_spans++;
  }
  /* The data buffer must be covered exactly: no hole, no overlap, nothing after the last. */
  qsort(spans, n_spans, sizeof *spans, span_cmp);
  for (size_t i = 0; i < n_spans; i++) {
    if (spans[i].begin != pos) {
      st = hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: data %s at offset %llu", path,
                     set->tensors[spans[i].index].name,
                     spans[i].begin > pos ? "leaves a hole" : "overlaps another tensor",
                     (unsigned long long)spans[i].begin);
      goto out;
    }
    pos = spans[i].end;
  }
  if (pos != data_len) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: %llu bytes after the last tensor", path,
                   (unsigned long long)(data_len - pos));
    goto out;
  }
  for (size_t i = first; i < set->n; i++) {
    hart_tensor *t = &set->tensors[i];
    if (t->dtype == HART_DT_BOOL)
      for (size_t b = 0; b < t->nbytes; b++)
        if (((const uint8_t *)t->data)[b] > 1) {
          st = hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: BOOL byte %u is not 0 or 1", path,
                         t->name, ((const uint8_t *)t->data)[b]);
          goto out;
        }
  }
out:
  g_list_free(members);
  free(spans);
  if (parser)
    g_object_unref(parser);
  return st;
}

/* Drops the tensors a failed read appended: their views would dangle. */
static void rollback(hart_tensor_set *set, size_t first)
{
  for (size_t i = first; i < set->n; i++)
    free((char *)set->tensors[i].name);
  set->n = first;
}

hart_status hart_safetensors_parse_buffer(const uint8_t *buf, size_t len, const char *where,
                                          hart_tensor_set *set, hart_error *err)
{
  uint64_t hlen;
  size_t first = set->n;
  hart_status st;

  if (len < 8)
    return hart_fail(err, HART_ERR_FORMAT, "%s: file is shorter than 8 bytes", where);
  memcpy(&hlen, buf, 8);
  hlen = GUINT64_FROM_LE(hlen);
  if (hlen > ST_HEADER_MAX)
    return hart_fail(err, HART_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", where,
                     (unsigned long long)hlen);
  if (hlen > len - 8)
    return hart_fail(err, HART_ERR_FORMAT, "%s: header length %llu runs past the end of the file",
                     where, (unsigned long long)hlen);
  st = parse_header(where, (const char *)buf + 8, (size_t)hlen, buf + 8 + hlen, len - 8 - hlen, set,
                    err);
  if (st != HART_OK)
    rollback(set, first);
  return st;
}

hart_status hart_safetensors_read_into(const char *path, hart_tensor_set *set, hart_error *err)
{
  hart_mapping map;
  size_t first = set->n;
  hart_status st = hart_map_file(path, &map, err);

  if (st != HART_OK)
    return st;
  st = hart_safetensors_parse_buffer(map.addr, map.len, path, set, err);
  if (st == HART_OK && hart_tensor_set_keep_mapping(set, map.addr, map.len) != 0) {
    rollback(set, first);
    st = hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
  }
  if (st != HART_OK)
    hart_unmap(&map);
  return st;
}

hart_status hart_tensor_set_open_safetensors(const char *path, hart_tensor_set **out,
                                             hart_error *err)
{
  hart_tensor_set *set = hart_tensor_set_new(path);
  hart_status st;

  *out = NULL;
  if (set == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
  st = hart_safetensors_read_into(path, set, err);
  if (st != HART_OK) {
    hart_tensor_set_free(set);
    return st;
  }
  *out = set;
  return HART_OK;
}
