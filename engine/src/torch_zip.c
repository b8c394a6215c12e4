/* torch_zip.c: the central directory of a zip archive, read with every bound checked.
 *
 * Layout: local file headers (30 bytes + name + extra) each followed by its data, then the
 * central directory (46 bytes + name + extra + comment per entry), optionally the ZIP64 end
 * record and its locator, then the end-of-central-directory record (22 bytes + comment). The
 * sizes in the central directory are authoritative (torch writes data descriptors, so the local
 * headers may carry zeros). */
#include "torch_zip.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define EOCD_SIZE 22u
#define MAX_ENTRIES 1000000u

static uint16_t rd16(const uint8_t *p)
{
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
  return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

uint32_t hart_crc32(const uint8_t *p, size_t n)
{
  static uint32_t table[256];
  static gsize init = 0;
  uint32_t c = 0xffffffffu;

  if (g_once_init_enter(&init)) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t v = i;
      for (int k = 0; k < 8; k++)
        v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
      table[i] = v;
    }
    g_once_init_leave(&init, 1);
  }
  for (size_t i = 0; i < n; i++)
    c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

typedef struct {
  uint64_t cd_offset, cd_size, n_entries;
  uint64_t cd_end_limit; /* where the central directory must end (start of EOCD64 or EOCD) */
} zip_dir;

/* Finds the end records. Torch writes no archive comment, but tolerate one. */
static hart_status find_end(const uint8_t *buf, size_t len, const char *where, zip_dir *d,
                            hart_error *err)
{
  size_t lo = len > EOCD_SIZE + 65535 ? len - EOCD_SIZE - 65535 : 0, pos;
  gboolean found = FALSE;
  const uint8_t *e;

  if (len < EOCD_SIZE)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip archive too short", where);
  for (pos = len - EOCD_SIZE + 1; pos-- > lo;)
    if (rd32(buf + pos) == SIG_EOCD && pos + EOCD_SIZE + rd16(buf + pos + 20) == len) {
      found = TRUE;
      break;
    }
  if (!found)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip end of central directory not found", where);
  e = buf + pos;
  if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10))
    return hart_fail(err, HART_ERR_FORMAT, "%s: multi-disk zip archives are not supported", where);
  d->n_entries = rd16(e + 10);
  d->cd_size = rd32(e + 12);
  d->cd_offset = rd32(e + 16);
  d->cd_end_limit = pos;
  if (d->n_entries == 0xffff || d->cd_size == 0xffffffffu || d->cd_offset == 0xffffffffu) {
    const uint8_t *loc, *e64;
    uint64_t off64;
    if (pos < 20 || rd32(buf + pos - 20) != SIG_LOC64)
      return hart_fail(err, HART_ERR_FORMAT, "%s: zip64 locator missing", where);
    loc = buf + pos - 20;
    off64 = rd64(loc + 8);
    if (off64 > pos - 20 || pos - 20 - off64 < 56 || rd32(buf + off64) != SIG_EOCD64)
      return hart_fail(err, HART_ERR_FORMAT, "%s: zip64 end record out of bounds", where);
    e64 = buf + off64;
    if (rd32(e64 + 16) != 0 || rd32(e64 + 20) != 0 || rd64(e64 + 24) != rd64(e64 + 32))
      return hart_fail(err, HART_ERR_FORMAT, "%s: multi-disk zip archives are not supported",
                       where);
    d->n_entries = rd64(e64 + 32);
    d->cd_size = rd64(e64 + 40);
    d->cd_offset = rd64(e64 + 48);
    d->cd_end_limit = off64;
  }
  if (d->cd_offset > d->cd_end_limit || d->cd_size > d->cd_end_limit - d->cd_offset)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: zip central directory (offset %llu, %llu bytes) is out of bounds", where,
                     (unsigned long long)d->cd_offset, (unsigned long long)d->cd_size);
  if (d->n_entries > MAX_ENTRIES || d->n_entries * 46 > d->cd_size)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip declares %llu entries in %llu bytes", where,
                     (unsigned long long)d->n_entries, (unsigned long long)d->cd_size);
  return HART_OK;
}

/* Replaces the 0xffffffff placeholders by the values of the ZIP64 extra field (id 1). */
static gboolean apply_zip64(const uint8_t *extra, size_t n, uint64_t *usize, uint64_t *csize,
                            uint64_t *offset)
{
  size_t i = 0;

  while (i + 4 <= n) {
    uint16_t id = rd16(extra + i), sz = rd16(extra + i + 2);
    const uint8_t *f = extra + i + 4, *end;
    if (i + 4 + sz > n)
      return FALSE;
    end = f + sz;
    if (id == 1) {
      uint64_t *fields[3] = { usize, csize, offset };
      for (int k = 0; k < 3; k++)
        if (*fields[k] == 0xffffffffu) {
          if (end - f < 8)
            return FALSE;
          *fields[k] = rd64(f);
          f += 8;
        }
      return TRUE;
    }
    i += 4 + (size_t)sz;
  }
  return *usize != 0xffffffffu && *csize != 0xffffffffu && *offset != 0xffffffffu;
}

typedef struct {
  uint64_t begin, end;
  size_t index;
} zip_span;

static int span_cmp(const void *a, const void *b)
{
  const zip_span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Parses one central directory record at *pos; fills e and the byte span of its local entry. */
static hart_status read_central(const uint8_t *buf, const char *where, uint64_t *pos,
                                uint64_t cd_end, hart_zip_entry *e, zip_span *span, hart_error *err)
{
  const uint8_t *c = buf + *pos, *l;
  uint16_t flags, method, nlen, xlen, clen;
  uint64_t csize, usize, loff, data_off;

  if (cd_end - *pos < 46 || rd32(c) != SIG_CENTRAL)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip central directory record at %llu is corrupt",
                     where, (unsigned long long)*pos);
  flags = rd16(c + 8);
  method = rd16(c + 10);
  nlen = rd16(c + 28);
  xlen = rd16(c + 30);
  clen = rd16(c + 32);
  if (cd_end - *pos - 46 < (uint64_t)nlen + xlen + clen)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip central directory record at %llu overruns",
                     where, (unsigned long long)*pos);
  if (nlen == 0 || memchr(c + 46, '\0', nlen) != NULL ||
      !g_utf8_validate((const char *)c + 46, nlen, NULL))
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip entry name at %llu is invalid", where,
                     (unsigned long long)*pos);
  e->name = g_strndup((const char *)c + 46, nlen);
  e->crc32 = rd32(c + 16);
  csize = rd32(c + 20);
  usize = rd32(c + 24);
  loff = rd32(c + 42);
  if (!apply_zip64(c + 46 + nlen, xlen, &usize, &csize, &loff))
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip entry %s: bad zip64 extra field", where,
                     e->name);
  *pos += 46 + (uint64_t)nlen + xlen + clen;
  if (flags & 0x41)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "%s: zip entry %s is encrypted", where, e->name);
  if (method != 0 || csize != usize)
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "%s: zip entry %s is compressed (method %u); torch.save stores entries "
                     "uncompressed",
                     where, e->name, method);
  /* The local header: its name must match; its data follows its extra field. */
  if (loff > cd_end || cd_end - loff < 30 || rd32(buf + loff) != SIG_LOCAL)
    return hart_fail(err, HART_ERR_FORMAT, "%s: zip entry %s: local header out of bounds", where,
                     e->name);
  l = buf + loff;
  data_off = loff + 30 + (uint64_t)rd16(l + 26) + rd16(l + 28);
  if (rd16(l + 26) != nlen || data_off > cd_end || memcmp(l + 30, e->name, nlen) != 0)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: zip entry %s: local header does not match the central directory", where,
                     e->name);
  if (usize > cd_end - data_off)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: zip entry %s declares %llu bytes, past the central directory", where,
                     e->name, (unsigned long long)usize);
  e->data = buf + data_off;
  e->size = usize;
  span->begin = loff;
  span->end = data_off + usize;
  return HART_OK;
}

hart_status hart_zip_open(const uint8_t *buf, size_t len, const char *where, hart_zip *z,
                          hart_error *err)
{
  zip_dir d = { 0, 0, 0, 0 };
  zip_span *spans = NULL;
  uint64_t pos, cd_end;
  hart_status st;

  z->entries = NULL;
  z->n = 0;
  z->index = NULL;
  st = find_end(buf, len, where, &d, err);
  if (st != HART_OK)
    return st;
  z->entries = g_new0(hart_zip_entry, d.n_entries + 1);
  spans = g_new0(zip_span, d.n_entries + 1);
  pos = d.cd_offset;
  cd_end = d.cd_offset + d.cd_size;
  for (uint64_t i = 0; i < d.n_entries && st == HART_OK; i++) {
    z->n++;
    spans[i].index = i;
    /* Local entries live before the central directory. */
    st = read_central(buf, where, &pos, cd_end, &z->entries[i], &spans[i], err);
    if (st == HART_OK && spans[i].end > d.cd_offset)
      st = hart_fail(err, HART_ERR_FORMAT, "%s: zip entry %s overlaps the central directory", where,
                     z->entries[i].name);
  }
  if (st == HART_OK && pos != cd_end)
    st = hart_fail(err, HART_ERR_FORMAT, "%s: zip central directory size mismatch", where);
  if (st == HART_OK) {
    qsort(spans, z->n, sizeof *spans, span_cmp);
    for (size_t i = 1; i < z->n && st == HART_OK; i++)
      if (spans[i].begin < spans[i - 1].end)
        st = hart_fail(err, HART_ERR_FORMAT, "%s: zip entries %s and %s overlap", where,
                       z->entries[spans[i - 1].index].name, z->entries[spans[i].index].name);
  }
  if (st == HART_OK) {
    /* Duplicate names would make lookups ambiguous. */
    GHashTable *names = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < z->n && st == HART_OK; i++)
      if (!g_hash_table_insert(names, z->entries[i].name, &z->entries[i]))
        st = hart_fail(err, HART_ERR_FORMAT, "%s: zip entry %s appears twice", where,
                       z->entries[i].name);
    z->index = names;
  }
  g_free(spans);
  if (st != HART_OK)
    hart_zip_close(z);
  return st;
}

const hart_zip_entry *hart_zip_find(const hart_zip *z, const char *name)
{
  return z->index != NULL ? g_hash_table_lookup(z->index, name) : NULL;
}

void hart_zip_close(hart_zip *z)
{
  if (z->index != NULL)
    g_hash_table_unref(z->index);
  z->index = NULL;
  for (size_t i = 0; i < z->n; i++)
    g_free(z->entries[i].name);
  g_free(z->entries);
  z->entries = NULL;
  z->n = 0;
}
