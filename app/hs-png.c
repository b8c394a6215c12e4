/* hs-png.c: PNG encoding and decoding through libpng, in memory. */
#define G_LOG_DOMAIN "HsPng"

#include "hs-config.h"

#include "hs-png.h"

#include <gio/gio.h>
#include <png.h>
#include <string.h>

typedef struct {
  char message[256];
} PngErrorState;

static void on_png_error(png_structp png, png_const_charp msg)
{
  PngErrorState *st = png_get_error_ptr(png);

  g_strlcpy(st->message, msg, sizeof st->message);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
  /* Benign (e.g. an unknown ancillary chunk); metadata readers must not fail on them. */
}

static void write_to_array(png_structp png, png_bytep data, png_size_t len)
{
  g_byte_array_append(png_get_io_ptr(png), data, (guint)len);
}

static void flush_nothing(png_structp png)
{
}

static gboolean is_ascii(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return FALSE;
  return TRUE;
}

/* Fills chunk descriptors; texts must outlive the png_text array. */
static png_text *make_png_texts(const HsPngText *texts, gsize n)
{
  png_text *out = g_new0(png_text, MAX(n, 1));

  for (gsize i = 0; i < n; i++) {
    out[i].key = (png_charp)texts[i].key;
    out[i].text = (png_charp)texts[i].text;
    if (is_ascii(texts[i].text)) {
      out[i].compression = PNG_TEXT_COMPRESSION_NONE;
      out[i].text_length = strlen(texts[i].text);
    } else {
      out[i].compression = PNG_ITXT_COMPRESSION_NONE;
      out[i].itxt_length = strlen(texts[i].text);
      out[i].lang = (png_charp) "";
      out[i].lang_key = (png_charp) "";
    }
  }
  return out;
}

GBytes *hs_png_encode(const HsImage *image, const HsPngText *texts, gsize n_texts, GError **error)
{
  PngErrorState st = { "" };
  png_structp png;
  png_infop info = NULL;
  GByteArray *volatile out = NULL;
  png_text *volatile ptexts = NULL;
  const guint8 *rgb;

  g_return_val_if_fail(image != NULL, NULL);

  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  if (png != NULL)
    info = png_create_info_struct(png);
  if (png == NULL || info == NULL) {
    png_destroy_write_struct(&png, NULL);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not start the PNG encoder");
    return NULL;
  }
  out = g_byte_array_new();
  ptexts = make_png_texts(texts, n_texts);
  rgb = g_bytes_get_data(image->rgb, NULL);

  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    g_byte_array_unref(out);
    g_free(ptexts);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not encode the PNG: %s", st.message);
    return NULL;
  }

  png_set_write_fn(png, out, write_to_array, flush_nothing);
  png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (n_texts > 0)
    png_set_text(png, info, ptexts, (int)n_texts);
  png_write_info(png, info);
  for (int y = 0; y < image->height; y++)
    png_write_row(png, (png_const_bytep)(rgb + (gsize)y * image->width * 3));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  g_free(ptexts);
  return g_byte_array_free_to_bytes(out);
}

gboolean hs_png_save(const char *path, const HsImage *image, const HsPngText *texts, gsize n_texts,
                     GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  gsize len;
  const char *data;

  g_return_val_if_fail(path != NULL, FALSE);

  bytes = hs_png_encode(image, texts, n_texts, error);
  if (bytes == NULL)
    return FALSE;
  data = g_bytes_get_data(bytes, &len);
  return g_file_set_contents(path, data, (gssize)len, error);
}

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
} ReadState;

static void read_from_memory(png_structp png, png_bytep dst, png_size_t len)
{
  ReadState *rs = png_get_io_ptr(png);

  if (len > rs->len - rs->pos)
    png_error(png, "unexpected end of file");
  memcpy(dst, rs->data + rs->pos, len);
  rs->pos += len;
}

GHashTable *hs_png_load(const char *path, HsImage **image, GError **error)
{
  PngErrorState st = { "" };
  g_autofree char *contents = NULL;
  gsize len = 0;
  ReadState rs;
  png_structp png;
  png_infop info = NULL;
  GHashTable *volatile texts = NULL;
  guint8 *volatile pixels = NULL;
  png_textp chunks = NULL;
  int n_chunks = 0;
  png_uint_32 w, h;

  g_return_val_if_fail(path != NULL, NULL);

  if (!g_file_get_contents(path, &contents, &len, error))
    return NULL;
  if (len < 8 || png_sig_cmp((png_const_bytep)contents, 0, 8) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a PNG file", path);
    return NULL;
  }
  rs.data = (const guint8 *)contents;
  rs.len = len;
  rs.pos = 0;

  png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  if (png != NULL)
    info = png_create_info_struct(png);
  if (png == NULL || info == NULL) {
    png_destroy_read_struct(&png, NULL, NULL);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not start the PNG decoder");
    return NULL;
  }
  texts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    g_hash_table_unref(texts);
    g_free(pixels);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, st.message);
    return NULL;
  }
  png_set_read_fn(png, &rs, read_from_memory);
  png_read_info(png, info);
  /* Any PNG becomes 8-bit RGB. */
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  w = png_get_image_width(png, info);
  h = png_get_image_height(png, info);
  if (w == 0 || h == 0 || w > 16384 || h > 16384)
    png_error(png, "unsupported image size");
  pixels = g_malloc((gsize)w * h * 3);
  for (png_uint_32 y = 0; y < h; y++)
    png_read_row(png, pixels + (gsize)y * w * 3, NULL);
  png_read_end(png, info);
  /* Text chunks may sit before or after the pixels; both land in info. */
  png_get_text(png, info, &chunks, &n_chunks);
  for (int i = 0; i < n_chunks; i++)
    g_hash_table_replace(texts, g_strdup(chunks[i].key),
                         g_strndup(chunks[i].text, chunks[i].compression > 0
                                                       ? chunks[i].itxt_length
                                                       : chunks[i].text_length));
  png_destroy_read_struct(&png, &info, NULL);

  if (image != NULL) {
    g_autoptr(GBytes) bytes = g_bytes_new_take(pixels, (gsize)w * h * 3);
    *image = hs_image_new((int)w, (int)h, bytes);
  } else {
    g_free(pixels);
  }
  return texts;
}
