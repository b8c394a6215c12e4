/* torch_reader.c: torch.save zip checkpoints -> tensor sets: the archive layout, the storages
 * and the views the pickle describes, every offset and stride checked against its storage. */
#include "torch_reader.h"

#include "torch_pickle.h"
#include "torch_zip.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* The entries sit under one top-level folder named after the file stem (not hard-coded):
 * <prefix>/data.pkl, <prefix>/data/<key>, <prefix>/version, maybe <prefix>/byteorder. */
static hart_status find_prefix(const hart_zip *z, const char *where, char **prefix, hart_error *err)
{
  const char *pkl = NULL;
  size_t plen;

  *prefix = NULL;
  for (size_t i = 0; i < z->n; i++) {
    const char *name = z->entries[i].name, *slash = strchr(name, '/');
    if (slash != NULL && strcmp(slash, "/data.pkl") == 0) {
      if (pkl != NULL)
        return hart_fail(err, HART_ERR_FORMAT, "%s: zip holds two pickles: %s and %s", where, pkl,
                         name);
      pkl = name;
    }
  }
  if (pkl == NULL)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: zip archive has no <folder>/data.pkl: not a torch.save checkpoint",
                     where);
  plen = (size_t)(strchr(pkl, '/') - pkl) + 1;
  for (size_t i = 0; i < z->n; i++)
    if (strncmp(z->entries[i].name, pkl, plen) != 0)
      return hart_fail(err, HART_ERR_FORMAT,
                       "%s: zip entry %s is outside the checkpoint folder %.*s", where,
                       z->entries[i].name, (int)plen, pkl);
  *prefix = g_strndup(pkl, plen);
  return HART_OK;
}

static hart_status check_small_records(const hart_zip *z, const char *prefix, const char *where,
                                       hart_error *err)
{
  char *bo = g_strconcat(prefix, "byteorder", NULL);
  const hart_zip_entry *e = hart_zip_find(z, bo);
  hart_status st = HART_OK;

  g_free(bo);
  if (e != NULL && !(e->size == 6 && memcmp(e->data, "little", 6) == 0))
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: only little-endian checkpoints are supported (byteorder record)", where);
  return st;
}

/* Checks the view against its storage; *contiguous says whether it can point into it. */
static hart_status check_view(const hart_pickle_tensor *pt, const char *where, uint64_t *nbytes,
                              gboolean *contiguous, hart_error *err)
{
  uint64_t numel = 1, last = (uint64_t)pt->offset, es = hart_dtype_size(pt->dtype), expect = 1;

  *contiguous = TRUE;
  for (int d = 0; d < pt->ndim; d++)
    if (__builtin_mul_overflow(numel, (uint64_t)pt->shape[d], &numel))
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: element count overflows", where,
                       pt->name);
  for (int d = pt->ndim - 1; d >= 0; d--) {
    uint64_t reach;
    if (pt->shape[d] > 1 && (uint64_t)pt->stride[d] != expect)
      *contiguous = FALSE;
    expect *= (uint64_t)pt->shape[d]; /* <= numel: no overflow */
    if (numel == 0)
      continue;
    if (__builtin_mul_overflow((uint64_t)(pt->shape[d] - 1), (uint64_t)pt->stride[d], &reach) ||
        __builtin_add_overflow(last, reach, &last))
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: strides overflow", where, pt->name);
  }
  if (numel > 0 ? last >= (uint64_t)pt->storage_numel
                : (uint64_t)pt->offset > (uint64_t)pt->storage_numel)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: tensor %s: view (offset %lld) reaches element %llu of a storage of %lld",
                     where, pt->name, (long long)pt->offset, (unsigned long long)last,
                     (long long)pt->storage_numel);
  *nbytes = numel * es; /* numel <= storage numel, whose byte size was checked */
  return HART_OK;
}

/* Copies a strided view into dst (C order). The view is known to stay inside the storage. */
static void gather(const hart_pickle_tensor *pt, const uint8_t *storage, uint8_t *dst,
                   uint64_t numel)
{
  size_t es = hart_dtype_size(pt->dtype);
  int64_t idx[HART_MAX_DIMS] = { 0 };

  for (uint64_t n = 0; n < numel; n++) {
    uint64_t off = (uint64_t)pt->offset;
    for (int d = 0; d < pt->ndim; d++)
      off += (uint64_t)idx[d] * (uint64_t)pt->stride[d];
    memcpy(dst + n * es, storage + off * es, es);
    for (int d = pt->ndim - 1; d >= 0; d--) {
      if (++idx[d] < pt->shape[d])
        break;
      idx[d] = 0;
    }
  }
}

/* The storage record of a tensor, checked for size and for agreement with earlier uses. */
static hart_status storage_of(const hart_zip *z, const char *prefix, const char *where,
                              const hart_pickle_tensor *pt, GHashTable *seen,
                              const hart_zip_entry **out, hart_error *err)
{
  char *name = g_strconcat(prefix, "data/", pt->storage_key, NULL);
  const hart_zip_entry *e = hart_zip_find(z, name);
  const hart_pickle_tensor *first = g_hash_table_lookup(seen, pt->storage_key);
  uint64_t bytes;
  hart_status st = HART_OK;

  if (e == NULL)
    st = hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: storage record %s is missing", where,
                   pt->name, name);
  else if (first != NULL &&
           (first->dtype != pt->dtype || first->storage_numel != pt->storage_numel))
    st = hart_fail(err, HART_ERR_FORMAT,
                   "%s: tensor %s: storage %s is declared with another type or size by %s", where,
                   pt->name, pt->storage_key, first->name);
  else if (__builtin_mul_overflow((uint64_t)pt->storage_numel, hart_dtype_size(pt->dtype),
                                  &bytes) ||
           bytes != e->size)
    st = hart_fail(err, HART_ERR_FORMAT,
                   "%s: tensor %s: storage %s holds %llu bytes, not %lld elements of %s", where,
                   pt->name, name, (unsigned long long)e->size, (long long)pt->storage_numel,
                   hart_dtype_name(pt->dtype));
  if (st == HART_OK && first == NULL)
    g_hash_table_insert(seen, pt->storage_key, (gpointer)pt);
  g_free(name);
  *out = e;
  return st;
}

static hart_status add_tensor(hart_tensor_set *set, const hart_pickle_tensor *pt,
                              const hart_zip_entry *e, const char *where, hart_error *err)
{
  uint64_t nbytes = 0;
  gboolean contiguous = FALSE;
  hart_tensor *t;
  hart_status st = check_view(pt, where, &nbytes, &contiguous, err);

  if (st != HART_OK)
    return st;
  t = hart_tensor_set_add(set, pt->name);
  if (t == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", where);
  t->dtype = pt->dtype;
  t->ndim = pt->ndim;
  memcpy(t->shape, pt->shape, sizeof t->shape);
  t->nbytes = (size_t)nbytes;
  if (contiguous) {
    t->data = e->data + (size_t)pt->offset * hart_dtype_size(pt->dtype);
  } else {
    uint8_t *buf = malloc(nbytes ? nbytes : 1);
    if (buf == NULL || hart_tensor_set_keep_buffer(set, buf) != 0) {
      free(buf);
      return hart_fail(err, HART_ERR_NO_MEMORY, "%s: tensor %s: out of memory", where, pt->name);
    }
    gather(pt, e->data, buf, nbytes / hart_dtype_size(pt->dtype));
    t->data = buf;
  }
  if (t->dtype == HART_DT_BOOL)
    for (size_t b = 0; b < t->nbytes; b++)
      if (((const uint8_t *)t->data)[b] > 1)
        return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s: BOOL byte %u is not 0 or 1", where,
                         t->name, ((const uint8_t *)t->data)[b]);
  return HART_OK;
}

hart_status hart_torch_read_buffer(const uint8_t *buf, size_t len, const char *where,
                                   hart_tensor_set *set, hart_error *err)
{
  hart_zip z;
  hart_pickle_state ps = { NULL, 0 };
  char *prefix = NULL, *pkl_name = NULL;
  const hart_zip_entry *pkl;
  GHashTable *seen = NULL, *names = NULL;
  hart_status st = hart_zip_open(buf, len, where, &z, err);

  if (st != HART_OK)
    return st;
  if ((st = find_prefix(&z, where, &prefix, err)) != HART_OK ||
      (st = check_small_records(&z, prefix, where, err)) != HART_OK)
    goto out;
  pkl_name = g_strconcat(prefix, "data.pkl", NULL);
  pkl = hart_zip_find(&z, pkl_name);
  /* The pickle steers everything else: make sure it is the one that was written. */
  if (hart_crc32(pkl->data, pkl->size) != pkl->crc32) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s: %s is corrupt (CRC mismatch)", where, pkl_name);
    goto out;
  }
  st = hart_pickle_load_state_dict(pkl->data, pkl->size, where, &ps, err);
  seen = g_hash_table_new(g_str_hash, g_str_equal);
  names = g_hash_table_new(g_str_hash, g_str_equal);
  for (size_t i = 0; i < set->n; i++)
    g_hash_table_add(names, (gpointer)set->tensors[i].name);
  for (size_t i = 0; i < ps.n && st == HART_OK; i++) {
    const hart_zip_entry *e;
    if (!g_hash_table_add(names, ps.tensors[i].name)) {
      st = hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s is already loaded", where,
                     ps.tensors[i].name);
      break;
    }
    st = storage_of(&z, prefix, where, &ps.tensors[i], seen, &e, err);
    if (st == HART_OK)
      st = add_tensor(set, &ps.tensors[i], e, where, err);
  }
out:
  if (seen != NULL)
    g_hash_table_unref(seen);
  if (names != NULL)
    g_hash_table_unref(names);
  hart_pickle_state_clear(&ps);
  g_free(pkl_name);
  g_free(prefix);
  hart_zip_close(&z);
  return st;
}

hart_status hart_torch_read_into(const char *path, hart_tensor_set *set, hart_error *err)
{
  hart_mapping map;
  size_t first = set->n, first_owned = set->n_owned;
  hart_status st = hart_map_file(path, &map, err);

  if (st != HART_OK)
    return st;
  st = hart_torch_read_buffer(map.addr, map.len, path, set, err);
  if (st == HART_OK && hart_tensor_set_keep_mapping(set, map.addr, map.len) != 0)
    st = hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", path);
  if (st != HART_OK) {
    /* Drop what this file added: its views would dangle once the mapping goes. */
    for (size_t i = first; i < set->n; i++)
      free((char *)set->tensors[i].name);
    set->n = first;
    for (size_t i = first_owned; i < set->n_owned; i++)
      free(set->owned[i]);
    set->n_owned = first_owned;
    hart_unmap(&map);
  }
  return st;
}
