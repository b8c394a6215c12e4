/* hs-test-render.c: see hs-test-render.h. */
#include "hs-test-render.h"

GdkTexture *hs_test_try_render(GtkWidget *widget)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  int w = gtk_widget_get_width(widget);
  int h = gtk_widget_get_height(widget);
  g_autoptr(GskRenderNode) node = NULL;

  gdk_paintable_snapshot(paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node(snapshot);
  if (node == NULL)
    return NULL;
  return gsk_renderer_render_texture(gtk_native_get_renderer(gtk_widget_get_native(widget)), node,
                                     &GRAPHENE_RECT_INIT(0, 0, w, h));
}

GdkTexture *hs_test_render(GtkWidget *widget)
{
  /* A window just presented may need a few frames before it has content. */
  for (int i = 0; i < 100; i++) {
    GdkTexture *texture;
    gtk_test_widget_wait_for_draw(GTK_WIDGET(gtk_widget_get_root(widget)));
    if ((texture = hs_test_try_render(widget)) != NULL)
      return texture;
    g_usleep(10000);
  }
  g_error("the widget never drew anything");
}

void hs_test_save_png(GdkTexture *texture, const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);

  g_assert_true(gdk_texture_save_to_png(texture, path));
  g_test_message("screenshot %s (%dx%d)", path, gdk_texture_get_width(texture),
                 gdk_texture_get_height(texture));
}
