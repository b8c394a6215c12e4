/* hs-test-render.h: what a GTK test window draws, as a texture or a PNG (GSK_RENDERER=cairo
 * under Xvfb). Shared by the UI tests for their screenshots and pixel checks. */
#pragma once

#include <gtk/gtk.h>

/* The widget as drawn now, or NULL while it has nothing to draw yet (a relayout is pending). */
GdkTexture *hs_test_try_render(GtkWidget *widget);
/* The same, waiting for frames (about a second at most) until the widget has drawn. */
GdkTexture *hs_test_render(GtkWidget *widget);
/* Saves texture as dir/name (PNG) and logs the path and size. */
void hs_test_save_png(GdkTexture *texture, const char *dir, const char *name);
