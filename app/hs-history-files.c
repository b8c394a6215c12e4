/* hs-history-files.c: crash-safe file writes, temp-file cleanup, PNG decode and thumbnails. */
#include "hs-history-files.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <png.h>
#include <string.h>
#include <unistd.h>

#include "hs-history.h"

static gboolean io_error(GError **error, int err, const char *what, const char *path)
{
  g_autofree char *display = g_filename_display_name(path);

  g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO, "%s %s: %s", what, display,
              g_strerror(err));
  return FALSE;
}

gboolean hs_history_sync_dir(const char *dir, GError **error)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved;

  if (fd < 0)
    return io_error(error, errno, "Cannot open the folder", dir);
  if (fsync(fd) != 0) {
    saved = errno;
    close(fd);
    return io_error(error, saved, "Cannot flush the folder", dir);
  }
  close(fd);
  return TRUE;
}

static gboolean write_all(int fd, const guint8 *p, gsize n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = ENOSPC;
      return FALSE;
    }
    p += w;
    n -= (gsize)w;
  }
  return TRUE;
}

gboolean hs_history_write_atomic(const char *dir, const char *name, GBytes *data, GError **error)
{
  g_autofree char *tmp = g_build_filename(dir, HS_HISTORY_TEMP_PREFIX "XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  gsize len = 0;
  const guint8 *bytes = g_bytes_get_data(data, &len);
  int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
  int saved;

  if (fd < 0)
    return io_error(error, errno, "Cannot save the image in", dir);
  if (!write_all(fd, bytes, len) || fsync(fd) != 0) {
    saved = errno;
    close(fd);
    g_unlink(tmp);
    return io_error(error, saved, "Cannot save the image", path);
  }
  if (close(fd) != 0 || g_rename(tmp, path) != 0) {
    saved = errno;
    g_unlink(tmp);
    return io_error(error, saved, "Cannot save the image", path);
  }
  /* The rename is durable only once the folder's entry is on disk. */
  if (!hs_history_sync_dir(dir, error)) {
    g_unlink(path);
    return FALSE;
  }
  return TRUE;
}

guint hs_history_remove_temp_files(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  guint n = 0;

  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = NULL;
    if (!g_str_has_prefix(name, HS_HISTORY_TEMP_PREFIX))
      continue;
    path = g_build_filename(dir, name, NULL);
    if (g_unlink(path) == 0)
      n++;
  }
  return n;
}

guint8 *hs_history_png_decode(const char *path, guint max_pixels, int *width, int *height,
                              GError **error)
{
  png_image image;
  guint8 *rgb = NULL;
  g_autofree char *display = g_filename_display_name(path);

  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path)) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID, "Cannot read %s: %s", display,
                image.message);
    return NULL;
  }
  if (image.width == 0 || image.height == 0 ||
      (guint64)image.width * image.height > (guint64)max_pixels) {
    png_image_free(&image);
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID,
                "%s: a %u×%u image is larger than allowed", display, image.width, image.height);
    return NULL;
  }
  image.format = PNG_FORMAT_RGB;
  rgb = g_malloc(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, NULL, rgb, 0, NULL)) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID, "Cannot read %s: %s", display,
                image.message);
    png_image_free(&image);
    g_free(rgb);
    return NULL;
  }
  *width = (int)image.width;
  *height = (int)image.height;
  return rgb;
}

GBytes *hs_history_make_thumbnail(const guint8 *rgb, int width, int height, int side,
                                  GError **error)
{
  int scale = MAX((MAX(width, height) + side - 1) / side, 1);
  int tw = MAX(width / scale, 1), th = MAX(height / scale, 1);
  g_autofree guint8 *small = g_malloc((gsize)tw * th * 3);

  /* Box filter over scale x scale blocks: cheap and free of aliasing for integer factors. */
  for (int y = 0; y < th; y++)
    for (int x = 0; x < tw; x++)
      for (int c = 0; c < 3; c++) {
        guint sum = 0, n = 0;
        for (int dy = 0; dy < scale && y * scale + dy < height; dy++)
          for (int dx = 0; dx < scale && x * scale + dx < width; dx++, n++)
            sum += rgb[((gsize)(y * scale + dy) * width + (x * scale + dx)) * 3 + c];
        small[((gsize)y * tw + x) * 3 + c] = (guint8)((sum + n / 2) / MAX(n, 1));
      }
  return hs_png_meta_encode(small, tw, th, NULL, error);
}
