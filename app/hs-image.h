/* hs-image.h: an RGB8 picture (tightly packed rows) with the timings of the run that made it. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HS_TYPE_IMAGE (hs_image_get_type())

typedef struct {
  int width;
  int height;
  GBytes *rgb; /* width * height * 3 bytes */
  /* Wall times in seconds (0 for previews). */
  double t_text, t_transformer, t_diffusion, t_decode, t_total;
  /* Optional display copy (hs_image_prepare_display): BGRA, 4 bytes a pixel, opaque. */
  GBytes *display;
  int display_width;
  int display_height;
} HsImage;

GType hs_image_get_type(void) G_GNUC_CONST;
/* Takes a reference on rgb, which must hold width * height * 3 bytes. */
HsImage *hs_image_new(int width, int height, GBytes *rgb);
HsImage *hs_image_ref(HsImage *self);
void hs_image_unref(HsImage *self);

/* Nearest-neighbour enlargement by the largest integer factor that keeps the longer side at or
 * under max_side; returns a new reference to self when no enlargement applies. GTK 4.8 cannot
 * draw a texture with nearest filtering, so tiny previews are enlarged before display. */
HsImage *hs_image_enlarge_nearest(HsImage *self, int max_side);

/* Fills the display copy, once: enlarged with square pixels by the largest integer factor that
 * keeps the longer side at or under min_side (at least 1), in the byte order of GDK's default
 * memory format (B8G8R8A8 premultiplied on little-endian machines, and alpha is 255), so the
 * renderer draws it without converting. Called on the thread that owns the image before it is
 * shared: the engine worker prepares previews off the main thread. */
void hs_image_prepare_display(HsImage *self, int min_side);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsImage, hs_image_unref)

G_END_DECLS
