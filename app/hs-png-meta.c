/* hs-png-meta.c: writing PNGs with settings, and reading the settings back from any PNG.
 *
 * Writing goes through libpng. Reading walks the chunks before the image data itself, because
 * the only thing wanted is two text chunks and every size must be bounded before any allocation:
 * a chunk's declared length is checked against HS_PNG_META_MAX_CHUNK before it is read, each
 * chunk's CRC is verified, compressed text is inflated into a bounded buffer, and the number of
 * chunks looked at is capped. The image data is never decoded. */
#include "hs-png-meta.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* Chunks visited before giving up: a file of a million empty chunks must not keep us busy. */
#define MAX_CHUNKS 4096

typedef struct {
  GByteArray *out;
} WriteCtx;

static void write_bytes(png_structp png, png_bytep data, png_size_t len)
{
  WriteCtx *ctx = png_get_io_ptr(png);
  g_byte_array_append(ctx->out, data, (guint)len);
}

static void flush_nothing(png_structp png)
{
}

static void on_png_error(png_structp png, png_const_charp msg)
{
  char *buf = png_get_error_ptr(png);
  g_strlcpy(buf, msg, 256);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
}

static gboolean is_ascii(const char *s)
{
  for (; *s; s++)
    if ((guchar)*s >= 0x80)
      return FALSE;
  return TRUE;
}

/* The libpng part: kept apart so that nothing it touches lives across setjmp in the caller. */
static gboolean encode_png(png_structp png, png_infop info, const guint8 *rgb, int width,
                           int height, png_textp text, int n_text)
{
  if (setjmp(png_jmpbuf(png)))
    return FALSE;
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0)
    png_set_text(png, info, text, n_text);
  png_write_info(png, info);
  for (int y = 0; y < height; y++)
    png_write_row(png, (png_const_bytep)(rgb + (gsize)y * 3 * (gsize)width));
  png_write_end(png, info);
  return TRUE;
}

GBytes *hs_png_meta_encode(const guint8 *rgb, int width, int height, const HsGenParams *params,
                           GError **error)
{
  char msg[256] = "";
  WriteCtx ctx = { g_byte_array_new() };
  g_autofree char *a1111 = NULL;
  g_autofree char *json = NULL;
  png_text text[2];
  int n_text = 0;
  png_structp png;
  png_infop info;
  gboolean ok;

  g_return_val_if_fail(rgb != NULL, NULL);
  if (width <= 0 || height <= 0 || width > HS_PNG_META_MAX_SIDE || height > HS_PNG_META_MAX_SIDE) {
    g_byte_array_unref(ctx.out);
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_TOO_LARGE,
                "Cannot encode a %d×%d image", width, height);
    return NULL;
  }
  memset(text, 0, sizeof(text));
  if (params != NULL) {
    a1111 = hs_gen_params_to_a1111(params);
    json = hs_gen_params_to_json(params);
    /* tEXt is Latin-1: a prompt outside ASCII goes into an (uncompressed) iTXt instead. */
    text[0].compression = is_ascii(a1111) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    text[0].key = (char *)HS_PNG_META_A1111_KEY;
    text[0].text = a1111;
    text[0].text_length = strlen(a1111);
    text[1].compression = PNG_ITXT_COMPRESSION_NONE;
    text[1].key = (char *)HS_PNG_META_JSON_KEY;
    text[1].text = json;
    text[1].text_length = strlen(json);
    n_text = 2;
  }
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, on_png_error, on_png_warning);
  info = png ? png_create_info_struct(png) : NULL;
  if (info == NULL) {
    png_destroy_write_struct(&png, NULL);
    g_byte_array_unref(ctx.out);
    g_set_error_literal(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_IO, "Out of memory (libpng)");
    return NULL;
  }
  png_set_write_fn(png, &ctx, write_bytes, flush_nothing);
  ok = encode_png(png, info, rgb, width, height, text, n_text);
  png_destroy_write_struct(&png, &info);
  if (!ok) {
    g_byte_array_unref(ctx.out);
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_IO, "PNG encoding failed: %s", msg);
    return NULL;
  }
  return g_byte_array_free_to_bytes(ctx.out);
}

/* --- Reading --- */

typedef struct {
  FILE *file;        /* either a file ... */
  const guint8 *mem; /* ... or bytes in memory */
  gsize len, pos;
  const char *name; /* for messages */
} Source;

static gboolean src_read(Source *s, void *buf, gsize n)
{
  if (s->file != NULL)
    return fread(buf, 1, n, s->file) == n;
  if (n > s->len - s->pos)
    return FALSE;
  memcpy(buf, s->mem + s->pos, n);
  s->pos += n;
  return TRUE;
}

static gboolean src_skip(Source *s, guint32 n)
{
  if (s->file != NULL)
    return fseeko(s->file, (off_t)n, SEEK_CUR) == 0;
  if (n > s->len - s->pos)
    return FALSE;
  s->pos += n;
  return TRUE;
}

static guint32 be32(const guint8 *p)
{
  return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

/* Inflates a zlib stream into at most HS_PNG_META_MAX_CHUNK bytes (NUL-terminated). */
static char *inflate_bounded(const guint8 *in, gsize in_len, gsize *out_len, const char *name,
                             GError **error)
{
  z_stream z;
  guint8 *out = g_malloc(HS_PNG_META_MAX_CHUNK + 1);
  int rc;

  memset(&z, 0, sizeof(z));
  if (inflateInit(&z) != Z_OK) {
    g_free(out);
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_IO, "%s: zlib init failed", name);
    return NULL;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)in_len;
  z.next_out = out;
  z.avail_out = HS_PNG_META_MAX_CHUNK;
  rc = inflate(&z, Z_FINISH);
  *out_len = HS_PNG_META_MAX_CHUNK - z.avail_out;
  inflateEnd(&z);
  if (rc == Z_STREAM_END) {
    out[*out_len] = '\0';
    return (char *)out;
  }
  g_free(out);
  if (z.avail_out == 0)
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_TOO_LARGE,
                "%s: compressed text expands past %d bytes", name, HS_PNG_META_MAX_CHUNK);
  else
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_INVALID, "%s: damaged compressed text",
                name);
  return NULL;
}

/* Extracts the text of a tEXt/zTXt/iTXt chunk body whose keyword is key; *text stays NULL for
 * other keywords. UTF-8 is returned for all three (tEXt/zTXt are Latin-1 by the PNG spec). */
static gboolean chunk_text(const char *type, const guint8 *d, gsize n, const char *key,
                           const char *name, char **text, gsize *text_len, GError **error)
{
  const guint8 *nul = memchr(d, 0, MIN(n, 80));
  const guint8 *p, *end = d + n;
  gboolean compressed = FALSE;
  gboolean latin1 = strcmp(type, "iTXt") != 0;

  if (nul == NULL || nul == d)
    return TRUE; /* no valid keyword: not ours, ignore as PNG decoders do */
  if (strcmp((const char *)d, key) != 0)
    return TRUE;
  p = nul + 1;
  if (strcmp(type, "zTXt") == 0) {
    if (p >= end || *p != 0)
      goto bad;
    p++;
    compressed = TRUE;
  } else if (strcmp(type, "iTXt") == 0) {
    const guint8 *lang, *translated;
    if (end - p < 2 || p[0] > 1 || p[1] != 0)
      goto bad;
    compressed = p[0] == 1;
    p += 2;
    lang = memchr(p, 0, end - p);
    if (lang == NULL)
      goto bad;
    translated = memchr(lang + 1, 0, end - (lang + 1));
    if (translated == NULL)
      goto bad;
    p = translated + 1;
  }
  if (compressed) {
    *text = inflate_bounded(p, end - p, text_len, name, error);
    if (*text == NULL)
      return FALSE;
  } else {
    *text_len = end - p;
    *text = g_strndup((const char *)p, *text_len);
  }
  if (memchr(*text, 0, *text_len) != NULL) {
    g_clear_pointer(text, g_free);
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_INVALID,
                "%s: the \"%s\" text holds a NUL byte", name, key);
    return FALSE;
  }
  if (latin1 && !g_utf8_validate(*text, (gssize)*text_len, NULL)) {
    gsize written = 0;
    char *utf8 = g_convert(*text, (gssize)*text_len, "UTF-8", "ISO-8859-1", NULL, &written, NULL);
    g_free(*text);
    *text = utf8;
    *text_len = written;
    if (utf8 == NULL)
      goto bad;
  }
  return TRUE;
bad:
  g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_INVALID, "%s: malformed %s chunk \"%s\"",
              name, type, key);
  return FALSE;
}

typedef struct {
  char *json, *a1111;
  gsize json_len, a1111_len;
  guint32 width, height;
} Found;

/* Handles one text chunk of n bytes: reads it (bounded), checks its CRC, keeps our keys. */
static gboolean read_text_chunk(Source *s, const guint8 hdr[8], guint32 n, Found *f, GError **error)
{
  char type[5];
  g_autofree guint8 *data = NULL;
  guint8 crc_bytes[4];
  uLong crc;

  memcpy(type, hdr + 4, 4);
  type[4] = '\0';
  if (n > HS_PNG_META_MAX_CHUNK) {
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_TOO_LARGE,
                "%s: a %s chunk of %u bytes exceeds the %d-byte limit", s->name, type, n,
                HS_PNG_META_MAX_CHUNK);
    return FALSE;
  }
  data = g_malloc(n + 1);
  if (!src_read(s, data, n) || !src_read(s, crc_bytes, 4)) {
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG, "%s: truncated in a %s chunk",
                s->name, type);
    return FALSE;
  }
  crc = crc32(crc32(0L, hdr + 4, 4), data, n);
  if (crc != be32(crc_bytes)) {
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG,
                "%s: CRC mismatch in a %s chunk (damaged file)", s->name, type);
    return FALSE;
  }
  if (f->json == NULL &&
      !chunk_text(type, data, n, HS_PNG_META_JSON_KEY, s->name, &f->json, &f->json_len, error))
    return FALSE;
  if (f->a1111 == NULL &&
      !chunk_text(type, data, n, HS_PNG_META_A1111_KEY, s->name, &f->a1111, &f->a1111_len, error))
    return FALSE;
  return TRUE;
}

static gboolean walk_chunks(Source *s, Found *f, GError **error)
{
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint8 buf[8];

  if (!src_read(s, buf, 8) || memcmp(buf, sig, 8) != 0) {
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG, "%s: not a PNG file", s->name);
    return FALSE;
  }
  for (int i = 0; i < MAX_CHUNKS; i++) {
    guint32 n;

    if (!src_read(s, buf, 8))
      break;
    n = be32(buf);
    if (n > 0x7fffffffu) {
      g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG,
                  "%s: invalid chunk length %u", s->name, n);
      return FALSE;
    }
    if (i == 0) {
      guint8 ihdr[17];
      if (memcmp(buf + 4, "IHDR", 4) != 0 || n != 13 || !src_read(s, ihdr, 17)) {
        g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG,
                    "%s: the first chunk is not a valid IHDR", s->name);
        return FALSE;
      }
      f->width = be32(ihdr);
      f->height = be32(ihdr + 4);
      continue;
    }
    if (memcmp(buf + 4, "IDAT", 4) == 0 || memcmp(buf + 4, "IEND", 4) == 0)
      return TRUE;
    if (memcmp(buf + 4, "tEXt", 4) == 0 || memcmp(buf + 4, "zTXt", 4) == 0 ||
        memcmp(buf + 4, "iTXt", 4) == 0) {
      if (!read_text_chunk(s, buf, n, f, error))
        return FALSE;
    } else if (!src_skip(s, n) || !src_skip(s, 4)) {
      break;
    }
  }
  g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG,
              "%s: no image data (truncated or damaged PNG)", s->name);
  return FALSE;
}

static gboolean read_source(Source *s, HsGenParams **params, GError **error)
{
  Found f = { 0 };
  g_autoptr(HsGenParams) p = hs_gen_params_new();
  gboolean ok = FALSE;

  if (!walk_chunks(s, &f, error))
    goto out;
  if (f.json != NULL) {
    if (!hs_gen_params_parse_json(f.json, f.json_len, p, error))
      goto out;
  } else if (f.a1111 != NULL) {
    if (!hs_gen_params_parse_a1111(f.a1111, f.a1111_len, p, error))
      goto out;
  } else {
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NO_DATA,
                "%s holds no generation settings", s->name);
    goto out;
  }
  if (p->width == 0 || p->height == 0) {
    p->width = (int)MIN(f.width, (guint32)HS_PNG_META_MAX_SIDE);
    p->height = (int)MIN(f.height, (guint32)HS_PNG_META_MAX_SIDE);
  }
  *params = g_steal_pointer(&p);
  ok = TRUE;
out:
  g_free(f.json);
  g_free(f.a1111);
  return ok;
}

gboolean hs_png_meta_read(const char *path, HsGenParams **params, GError **error)
{
  g_autofree char *display = NULL;
  Source s = { 0 };
  gboolean ok;
  int saved;

  g_return_val_if_fail(path != NULL && params != NULL, FALSE);
  *params = NULL;
  display = g_filename_display_name(path);
  s.name = display;
  s.file = fopen(path, "rb");
  if (s.file == NULL) {
    saved = errno;
    g_set_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_IO, "Cannot open %s: %s", display,
                g_strerror(saved));
    return FALSE;
  }
  ok = read_source(&s, params, error);
  fclose(s.file);
  return ok;
}

gboolean hs_png_meta_read_bytes(GBytes *png, HsGenParams **params, GError **error)
{
  Source s = { 0 };

  g_return_val_if_fail(png != NULL && params != NULL, FALSE);
  *params = NULL;
  s.mem = g_bytes_get_data(png, &s.len);
  s.name = "PNG data";
  return read_source(&s, params, error);
}
