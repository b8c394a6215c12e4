/* hs-image.c: reference-counted RGB8 pictures. */
#include "hs-image.h"

#include <string.h>

G_DEFINE_BOXED_TYPE(HsImage, hs_image, hs_image_ref, hs_image_unref)

static void hs_image_clear(HsImage *self)
{
  g_clear_pointer(&self->rgb, g_bytes_unref);
  g_clear_pointer(&self->display, g_bytes_unref);
}

HsImage *hs_image_new(int width, int height, GBytes *rgb)
{
  HsImage *self;

  g_return_val_if_fail(width > 0 && height > 0, NULL);
  g_return_val_if_fail(rgb != NULL, NULL);
  g_return_val_if_fail(g_bytes_get_size(rgb) == (gsize)width * height * 3, NULL);

  self = g_atomic_rc_box_new0(HsImage);
  self->width = width;
  self->height = height;
  self->rgb = g_bytes_ref(rgb);
  return self;
}

HsImage *hs_image_ref(HsImage *self)
{
  return g_atomic_rc_box_acquire(self);
}

void hs_image_unref(HsImage *self)
{
  if (self != NULL)
    g_atomic_rc_box_release_full(self, (GDestroyNotify)hs_image_clear);
}

HsImage *hs_image_enlarge_nearest(HsImage *self, int max_side)
{
  int k, w, h;
  const guint8 *src;
  guint8 *dst;
  HsImage *out;
  GBytes *bytes;

  g_return_val_if_fail(self != NULL, NULL);

  k = max_side / MAX(self->width, self->height);
  if (k <= 1)
    return hs_image_ref(self);

  w = self->width * k;
  h = self->height * k;
  src = g_bytes_get_data(self->rgb, NULL);
  dst = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++) {
    const guint8 *srow = src + (gsize)(y / k) * self->width * 3;
    guint8 *drow = dst + (gsize)y * w * 3;
    for (int x = 0; x < self->width; x++)
      for (int r = 0; r < k; r++)
        memcpy(drow + ((gsize)x * k + r) * 3, srow + (gsize)x * 3, 3);
  }
  bytes = g_bytes_new_take(dst, (gsize)w * h * 3);
  out = hs_image_new(w, h, bytes);
  g_bytes_unref(bytes);
  return out;
}

void hs_image_prepare_display(HsImage *self, int min_side)
{
  int k, w, h;
  const guint8 *src;
  guint8 *dst;

  g_return_if_fail(self != NULL);
  if (self->display != NULL)
    return;

  k = MAX(1, min_side / MAX(self->width, self->height));
  w = self->width * k;
  h = self->height * k;
  src = g_bytes_get_data(self->rgb, NULL);
  dst = g_malloc((gsize)w * h * 4);
  for (int y = 0; y < h; y++) {
    const guint8 *srow = src + (gsize)(y / k) * self->width * 3;
    guint8 *drow = dst + (gsize)y * w * 4;
    for (int x = 0; x < w; x++) {
      const guint8 *p = srow + (gsize)(x / k) * 3;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
      drow[x * 4 + 0] = p[2];
      drow[x * 4 + 1] = p[1];
      drow[x * 4 + 2] = p[0];
      drow[x * 4 + 3] = 255;
#else
      drow[x * 4 + 0] = 255;
      drow[x * 4 + 1] = p[0];
      drow[x * 4 + 2] = p[1];
      drow[x * 4 + 3] = p[2];
#endif
    }
  }
  self->display = g_bytes_new_take(dst, (gsize)w * h * 4);
  self->display_width = w;
  self->display_height = h;
}
