/* hs-canvas.h: draws one texture scaled to fit, keeping its aspect ratio. Nothing else. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define HS_TYPE_CANVAS (hs_canvas_get_type())
G_DECLARE_FINAL_TYPE(HsCanvas, hs_canvas, HS, CANVAS, GtkWidget)

GtkWidget *hs_canvas_new(void);
GdkTexture *hs_canvas_get_texture(HsCanvas *self);
void hs_canvas_set_texture(HsCanvas *self, GdkTexture *texture);

G_END_DECLS
