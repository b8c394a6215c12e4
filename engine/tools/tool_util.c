/* tool_util.c: see tool_util.h. */
#include "tool_util.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  char *name;
  hart_dtype dt;
  int ndim;
  int64_t shape[8];
  void *data;
  size_t nbytes;
} entry;

struct tool_dump_set {
  GHashTable *by_name;
};

static void entry_free(gpointer p)
{
  entry *e = p;
  g_free(e->name);
  g_free(e->data);
  g_free(e);
}

tool_dump_set *tool_dump_set_new(void)
{
  tool_dump_set *s = g_new0(tool_dump_set, 1);
  s->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
  return s;
}

void tool_dump_set_free(tool_dump_set *s)
{
  if (s == NULL)
    return;
  g_hash_table_destroy(s->by_name);
  g_free(s);
}

void tool_dump_collect(void *ud, const char *name, hart_dtype dt, int ndim, const int64_t *shape,
                       const void *data)
{
  tool_dump_set *s = ud;
  entry *e = g_new0(entry, 1);
  int64_t n = 1;
  e->name = g_strdup(name);
  e->dt = dt;
  e->ndim = ndim;
  for (int i = 0; i < ndim && i < 8; i++) {
    e->shape[i] = shape[i];
    n *= shape[i];
  }
  e->nbytes = (size_t)n * hart_dtype_size(dt);
  e->data = g_memdup2(data, e->nbytes);
  g_hash_table_replace(s->by_name, e->name, e);
}

static gint by_name(gconstpointer a, gconstpointer b)
{
  return strcmp((*(entry *const *)a)->name, (*(entry *const *)b)->name);
}

gboolean tool_dump_set_write(tool_dump_set *s, const char *path, GError **error)
{
  GPtrArray *list = g_ptr_array_new();
  GString *hdr = g_string_new("{");
  size_t off = 0;
  gboolean ok = TRUE;
  char *tmp = g_strdup_printf("%s.tmp", path);
  FILE *f;
  uint64_t n;
  uint8_t n8[8];

  {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->by_name);
    while (g_hash_table_iter_next(&it, NULL, &v))
      g_ptr_array_add(list, v);
  }
  g_ptr_array_sort(list, by_name);
  for (guint i = 0; i < list->len; i++) {
    entry *e = list->pdata[i];
    g_string_append_printf(hdr, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", e->name,
                           hart_dtype_name(e->dt));
    for (int d = 0; d < e->ndim; d++)
      g_string_append_printf(hdr, "%s%lld", d ? "," : "", (long long)e->shape[d]);
    g_string_append_printf(hdr, "],\"data_offsets\":[%zu,%zu]}", off, off + e->nbytes);
    off += e->nbytes;
  }
  g_string_append_c(hdr, '}');
  while ((8 + hdr->len) % 8)
    g_string_append_c(hdr, ' '); /* the data starts 8-aligned, as the golden files do */
  n = hdr->len;
  for (int b = 0; b < 8; b++)
    n8[b] = (uint8_t)(n >> (8 * b));
  f = fopen(tmp, "wb");
  if (f == NULL) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: cannot write", tmp);
    ok = FALSE;
  } else {
    ok = fwrite(n8, 1, 8, f) == 8 && fwrite(hdr->str, 1, hdr->len, f) == hdr->len;
    for (guint i = 0; ok && i < list->len; i++) {
      entry *e = list->pdata[i];
      ok = fwrite(e->data, 1, e->nbytes, f) == e->nbytes;
    }
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0)
      ok = FALSE;
    if (!ok)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: write failed", path);
  }
  g_free(tmp);
  g_string_free(hdr, TRUE);
  g_ptr_array_unref(list);
  return ok;
}

gboolean tool_load_context(const char *path, int row, int ct, int cd, float **ctx, uint8_t **mask,
                           int64_t **pos, GError **error)
{
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  const hart_tensor *t, *m, *p;
  int64_t B;
  gboolean ok = FALSE;
  float *all = NULL;
  int64_t *mall = NULL, *pall = NULL;

  *ctx = NULL;
  *mask = NULL;
  *pos = NULL;
  if (hart_tensor_set_open_safetensors(path, &set, &err) != HART_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", err.msg);
    return FALSE;
  }
  t = hart_tensor_set_get(set, "context_tensor");
  if (t == NULL)
    t = hart_tensor_set_get(set, "context");
  m = hart_tensor_set_get(set, "context_mask");
  p = hart_tensor_set_get(set, "context_position_ids");
  if (t == NULL) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: no tensor context_tensor (or context)", path);
    goto out;
  }
  B = t->ndim == 3 ? t->shape[0] : 1;
  if (!((t->ndim == 3 || t->ndim == 2) && t->shape[t->ndim - 2] == ct &&
        t->shape[t->ndim - 1] == cd)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: %s has the wrong shape (the model needs [%d, %d] or [B, %d, %d])", path,
                t->name, ct, cd, ct, cd);
    goto out;
  }
  if (row < 0 || row >= B) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: row %d out of range (%lld rows)",
                path, row, (long long)B);
    goto out;
  }
  if ((m && hart_tensor_numel(m) != B * ct) || (p && hart_tensor_numel(p) != B * ct)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: context_mask / context_position_ids must have %lld x %d entries", path,
                (long long)B, ct);
    goto out;
  }
  all = g_new(float, B *ct *cd);
  if (hart_tensor_to_f32(t, all, &err) != HART_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", err.msg);
    goto out;
  }
  *ctx = g_memdup2(all + (int64_t)row * ct * cd, (gsize)ct * cd * sizeof(float));
  if (m) {
    mall = g_new(int64_t, B * ct);
    if (hart_tensor_to_i64(m, mall, &err) != HART_OK)
      goto bad;
    *mask = g_new(uint8_t, ct);
    for (int i = 0; i < ct; i++)
      (*mask)[i] = mall[(int64_t)row * ct + i] != 0;
  }
  if (p) {
    pall = g_new(int64_t, B * ct);
    if (hart_tensor_to_i64(p, pall, &err) != HART_OK)
      goto bad;
    *pos = g_memdup2(pall + (int64_t)row * ct, (gsize)ct * sizeof(int64_t));
  }
  ok = TRUE;
  goto out;
bad:
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", err.msg);
out:
  g_free(all);
  g_free(mall);
  g_free(pall);
  hart_tensor_set_free(set);
  if (!ok) {
    g_clear_pointer(ctx, g_free);
    g_clear_pointer(mask, g_free);
    g_clear_pointer(pos, g_free);
  }
  return ok;
}
