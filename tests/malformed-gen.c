/* malformed-gen.c: see malformed-gen.h. */
#include "malformed-gen.h"

#include <string.h>

#include "torch_zip.h"

GByteArray *mg_safetensors(const char *header, const void *data, size_t data_len)
{
  GByteArray *b = g_byte_array_new();
  guint64 n = GUINT64_TO_LE((guint64)strlen(header));
  g_byte_array_append(b, (const guint8 *)&n, 8);
  g_byte_array_append(b, (const guint8 *)header, (guint)strlen(header));
  if (data_len > 0)
    g_byte_array_append(b, data, (guint)data_len);
  return b;
}

void mg_pk_op(GByteArray *b, uint8_t op)
{
  g_byte_array_append(b, &op, 1);
}

void mg_pk_str(GByteArray *b, const char *s)
{
  guint32 n = GUINT32_TO_LE((guint32)strlen(s));
  mg_pk_op(b, 'X');
  g_byte_array_append(b, (const guint8 *)&n, 4);
  g_byte_array_append(b, (const guint8 *)s, (guint)strlen(s));
}

void mg_pk_int(GByteArray *b, int64_t v)
{
  if (v >= INT32_MIN && v <= INT32_MAX) {
    gint32 x = GINT32_TO_LE((gint32)v);
    mg_pk_op(b, 'J');
    g_byte_array_append(b, (const guint8 *)&x, 4);
  } else {
    gint64 x = GINT64_TO_LE(v);
    mg_pk_op(b, 0x8a);
    mg_pk_op(b, 8);
    g_byte_array_append(b, (const guint8 *)&x, 8);
  }
}

void mg_pk_global(GByteArray *b, const char *module, const char *name)
{
  mg_pk_op(b, 'c');
  g_byte_array_append(b, (const guint8 *)module, (guint)strlen(module));
  mg_pk_op(b, '\n');
  g_byte_array_append(b, (const guint8 *)name, (guint)strlen(name));
  mg_pk_op(b, '\n');
}

static void pk_tensor(GByteArray *b, const mg_tensor *t)
{
  mg_pk_global(b, "torch._utils", "_rebuild_tensor_v2");
  mg_pk_op(b, '(');
  mg_pk_op(b, '(');
  mg_pk_str(b, "storage");
  mg_pk_global(b, "torch", t->storage_class);
  mg_pk_str(b, t->key);
  mg_pk_str(b, "cpu");
  mg_pk_int(b, t->numel);
  mg_pk_op(b, 't');
  mg_pk_op(b, 'Q');
  mg_pk_int(b, t->offset);
  mg_pk_op(b, '(');
  for (int d = 0; d < t->ndim; d++)
    mg_pk_int(b, t->shape[d]);
  mg_pk_op(b, 't');
  mg_pk_op(b, '(');
  for (int d = 0; d < t->ndim; d++)
    mg_pk_int(b, t->stride[d]);
  mg_pk_op(b, 't');
  mg_pk_op(b, 0x89);
  mg_pk_global(b, "collections", "OrderedDict");
  mg_pk_op(b, ')');
  mg_pk_op(b, 'R');
  mg_pk_op(b, 't');
  mg_pk_op(b, 'R');
}

GByteArray *mg_pickle(const mg_tensor *t, size_t n)
{
  GByteArray *b = g_byte_array_new();
  mg_pk_op(b, 0x80);
  mg_pk_op(b, 2);
  mg_pk_global(b, "collections", "OrderedDict");
  mg_pk_op(b, ')');
  mg_pk_op(b, 'R');
  mg_pk_op(b, '(');
  for (size_t i = 0; i < n; i++) {
    mg_pk_str(b, t[i].name);
    pk_tensor(b, &t[i]);
  }
  mg_pk_op(b, 'u');
  mg_pk_op(b, '.');
  return b;
}

void mg_put16(GByteArray *b, size_t at, uint16_t v)
{
  b->data[at] = (guint8)v;
  b->data[at + 1] = (guint8)(v >> 8);
}

void mg_put32(GByteArray *b, size_t at, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    b->data[at + (size_t)i] = (guint8)(v >> (8 * i));
}

static void put64(GByteArray *b, size_t at, uint64_t v)
{
  mg_put32(b, at, (uint32_t)v);
  mg_put32(b, at + 4, (uint32_t)(v >> 32));
}

static void put_zeros(GByteArray *b, size_t n)
{
  static const guint8 z[64] = { 0 };
  while (n > 0) {
    size_t k = MIN(n, sizeof z);
    g_byte_array_append(b, z, (guint)k);
    n -= k;
  }
}

static GByteArray *build_zip(const mg_zip_entry *e, size_t n, mg_zip_layout *layout, gboolean zip64)
{
  GByteArray *b = g_byte_array_new();
  size_t cd_start;

  g_assert(n <= 16);
  for (size_t i = 0; i < n; i++) {
    size_t nlen = strlen(e[i].name), at = b->len;
    /* Pad through the extra field so the data starts at a multiple of 64, as torch does. */
    size_t data_at = at + 30 + nlen, pad = (64 - (data_at + 4) % 64) % 64 + 4;
    layout->local[i] = at;
    put_zeros(b, 30);
    mg_put32(b, at, 0x04034b50u);
    mg_put16(b, at + 4, 20);
    mg_put16(b, at + 8, e[i].method);
    mg_put32(b, at + 14, hart_crc32(e[i].data, e[i].len));
    mg_put32(b, at + 18, (uint32_t)e[i].len);
    mg_put32(b, at + 22, (uint32_t)e[i].len);
    mg_put16(b, at + 26, (uint16_t)nlen);
    mg_put16(b, at + 28, (uint16_t)pad);
    g_byte_array_append(b, (const guint8 *)e[i].name, (guint)nlen);
    put_zeros(b, pad);
    mg_put16(b, b->len - pad, 0x1234); /* an unknown extra block id */
    mg_put16(b, b->len - pad + 2, (uint16_t)(pad - 4));
    g_byte_array_append(b, e[i].data, (guint)e[i].len);
  }
  cd_start = b->len;
  for (size_t i = 0; i < n; i++) {
    size_t nlen = strlen(e[i].name), at = b->len;
    layout->central[i] = at;
    put_zeros(b, 46);
    mg_put32(b, at, 0x02014b50u);
    mg_put16(b, at + 4, 20);
    mg_put16(b, at + 6, 20);
    mg_put16(b, at + 10, e[i].method);
    mg_put32(b, at + 16, hart_crc32(e[i].data, e[i].len));
    mg_put32(b, at + 20, zip64 ? 0xffffffffu : (uint32_t)e[i].len);
    mg_put32(b, at + 24, zip64 ? 0xffffffffu : (uint32_t)e[i].len);
    mg_put16(b, at + 28, (uint16_t)nlen);
    mg_put32(b, at + 42, zip64 ? 0xffffffffu : (uint32_t)layout->local[i]);
    g_byte_array_append(b, (const guint8 *)e[i].name, (guint)nlen);
    if (zip64) {
      /* ZIP64 extended information: uncompressed size, compressed size, local offset. */
      size_t x = b->len;
      mg_put16(b, at + 30, 28);
      put_zeros(b, 28);
      mg_put16(b, x, 1);
      mg_put16(b, x + 2, 24);
      put64(b, x + 4, e[i].len);
      put64(b, x + 12, e[i].len);
      put64(b, x + 20, layout->local[i]);
    }
  }
  if (zip64) {
    /* ZIP64 end of central directory record and its locator, before the classic record. */
    size_t r = b->len;
    put_zeros(b, 56 + 20);
    mg_put32(b, r, 0x06064b50u);
    put64(b, r + 4, 44);
    mg_put16(b, r + 12, 45);
    mg_put16(b, r + 14, 45);
    put64(b, r + 24, n);
    put64(b, r + 32, n);
    put64(b, r + 40, r - cd_start);
    put64(b, r + 48, cd_start);
    mg_put32(b, r + 56, 0x07064b50u);
    put64(b, r + 64, r);
    mg_put32(b, r + 72, 1);
  }
  layout->eocd = b->len;
  put_zeros(b, 22);
  mg_put32(b, layout->eocd, 0x06054b50u);
  mg_put16(b, layout->eocd + 8, zip64 ? 0xffff : (uint16_t)n);
  mg_put16(b, layout->eocd + 10, zip64 ? 0xffff : (uint16_t)n);
  mg_put32(b, layout->eocd + 12, zip64 ? 0xffffffffu : (uint32_t)(layout->eocd - cd_start));
  mg_put32(b, layout->eocd + 16, zip64 ? 0xffffffffu : (uint32_t)cd_start);
  return b;
}

GByteArray *mg_zip(const mg_zip_entry *e, size_t n, mg_zip_layout *layout)
{
  return build_zip(e, n, layout, FALSE);
}

GByteArray *mg_zip64(const mg_zip_entry *e, size_t n, mg_zip_layout *layout)
{
  return build_zip(e, n, layout, TRUE);
}

static GByteArray *torch_zip(gboolean zip64)
{
  static const float w[4] = { 1, 2, 3, 4 };
  mg_tensor t = { "w", "FloatStorage", "0", 4, 0, 2, { 2, 2 }, { 2, 1 } };
  GByteArray *pkl = mg_pickle(&t, 1), *z;
  mg_zip_entry e[3] = { { "ck/data.pkl", pkl->data, pkl->len, 0 },
                        { "ck/data/0", w, sizeof w, 0 },
                        { "ck/version", "3\n", 2, 0 } };
  mg_zip_layout lay;
  z = build_zip(e, 3, &lay, zip64);
  g_byte_array_unref(pkl);
  return z;
}

GByteArray *mg_torch_zip_valid(void)
{
  return torch_zip(FALSE);
}

GByteArray *mg_torch_zip64_valid(void)
{
  return torch_zip(TRUE);
}
