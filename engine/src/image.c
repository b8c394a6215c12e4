/* image.c: decoder output to bytes, PNG writing. */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hart_image_to_rgb8(const float *img, int H, int W, uint8_t *rgb)
{
  size_t plane = (size_t)H * (size_t)W;
  for (size_t i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++) {
      float v = img[c * plane + i];
      /* fp32 as the golden PNGs: ((clamp(y) + 1) * 0.5) * 255, truncated toward zero. NaN maps
       * to 0 (the comparisons below are false for it). */
      v = v > -1.0f ? (v < 1.0f ? v : 1.0f) : -1.0f;
      v = ((v + 1.0f) * 0.5f) * 255.0f;
      rgb[i * 3 + c] = v >= 0.0f ? (uint8_t)v : 0;
    }
}

static int is_ascii(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 0;
  return 1;
}

/* libpng reports errors through longjmp; the message is kept for the hart_error. */
typedef struct {
  char msg[256];
} png_err_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
  png_err_ctx *ctx = png_get_error_ptr(png);
  snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
}

/* Encodes into an open FILE. chunks: n_text prepared text chunks. Returns 0 or -1 with
 * ctx->msg set. Nothing that changes after setjmp is used on the error path. */
static int png_encode(FILE *fp, const uint8_t *rgb, int width, int height, png_textp chunks,
                      int n_text, png_err_ctx *ctx)
{
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;

  if (info == NULL) {
    snprintf(ctx->msg, sizeof ctx->msg, "out of memory");
    png_destroy_write_struct(&png, NULL);
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0)
    png_set_text(png, info, chunks, n_text);
  png_write_info(png, info);
  for (int y = 0; y < height; y++)
    png_write_row(png, rgb + (size_t)y * (size_t)width * 3);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

/* text key/value pairs as libpng chunks: plain ASCII values go into tEXt, anything else
 * (prompts in any language) into an uncompressed iTXt, which is UTF-8 by definition. */
static png_textp make_chunks(const char *const *text, int *n_text)
{
  png_textp chunks;
  int n = 0;
  while (text && text[2 * n] && text[2 * n + 1])
    n++;
  chunks = calloc((size_t)(n ? n : 1), sizeof *chunks);
  if (chunks == NULL)
    return NULL;
  for (int i = 0; i < n; i++) {
    chunks[i].key = (png_charp)text[2 * i];
    chunks[i].text = (png_charp)text[2 * i + 1];
    chunks[i].compression =
        is_ascii(text[2 * i + 1]) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
  }
  *n_text = n;
  return chunks;
}

hart_status hart_png_write(const char *path, const uint8_t *rgb, int width, int height,
                           const char *const *text, hart_error *err)
{
  size_t n = strlen(path);
  char *tmp;
  int fd;
  FILE *fp;
  png_err_ctx ctx = { { 0 } };
  png_textp chunks;
  int ok, n_text = 0;

  if (width <= 0 || height <= 0)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: image size %dx%d", path, width, height);
  if (text)
    for (int i = 0; text[i] && text[i + 1]; i += 2) {
      size_t kl = strlen(text[i]);
      if (kl < 1 || kl > 79 || !is_ascii(text[i]))
        return hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                         "%s: PNG text key \"%s\" must be 1-79 ASCII characters", path, text[i]);
    }
  tmp = malloc(n + 16);
  chunks = make_chunks(text, &n_text);
  if (tmp == NULL || chunks == NULL) {
    free(tmp);
    free(chunks);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  /* The temporary file sits beside the target so that rename() is atomic (same file system). */
  snprintf(tmp, n + 16, "%s.XXXXXX", path);
  fd = mkstemp(tmp);
  if (fd < 0) {
    hart_status st = hart_fail(err, HART_ERR_IO, "%s: cannot create a temporary file: %s", path,
                               strerror(errno));
    free(tmp);
    free(chunks);
    return st;
  }
  (void)fchmod(fd, 0644); /* mkstemp creates 0600; images are ordinary user files */
  fp = fdopen(fd, "wb");
  if (fp == NULL) {
    hart_status st = hart_fail(err, HART_ERR_IO, "%s: %s", path, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
    free(chunks);
    return st;
  }
  ok = png_encode(fp, rgb, width, height, chunks, n_text, &ctx) == 0;
  free(chunks);
  ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
  if (!ok && ctx.msg[0] == 0)
    snprintf(ctx.msg, sizeof ctx.msg, "%s", strerror(errno));
  if (fclose(fp) != 0 && ok) {
    ok = 0;
    snprintf(ctx.msg, sizeof ctx.msg, "%s", strerror(errno));
  }
  if (ok && rename(tmp, path) != 0) {
    ok = 0;
    snprintf(ctx.msg, sizeof ctx.msg, "%s", strerror(errno));
  }
  if (!ok) {
    hart_status st = hart_fail(err, HART_ERR_IO, "%s: cannot write the PNG: %s", path, ctx.msg);
    unlink(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  return HART_OK;
}
