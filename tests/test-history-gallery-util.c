/* test-history-gallery-util.c: see test-history-gallery-util.h. */
#include <glib/gstdio.h>
#include <string.h>

#include "test-history-gallery-util.h"

void wait_until(Cond cond, gpointer data, const char *what)
{
  gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;

  while (!cond(data)) {
    if (g_get_monotonic_time() > deadline)
      g_error("timed out waiting for %s", what);
    g_main_context_iteration(NULL, FALSE);
    g_usleep(1000);
  }
}

void settle(GtkWidget *window)
{
  gint64 until = g_get_monotonic_time() + 300 * 1000;

  while (g_get_monotonic_time() < until) {
    while (g_main_context_iteration(NULL, FALSE))
      ;
    g_usleep(5000);
  }
  gtk_test_widget_wait_for_draw(window);
}

void screenshot(GtkWidget *window, const char *name)
{
  const char *dir = g_getenv("HS_SCREENSHOT_DIR");
  g_autofree char *path = NULL;
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderNode *node;
  int w, h;

  settle(window);
  if (dir == NULL)
    return;
  g_mkdir_with_parents(dir, 0755);
  w = gtk_widget_get_width(window);
  h = gtk_widget_get_height(window);
  paintable = gtk_widget_paintable_new(window);
  snapshot = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node(snapshot);
  g_assert_nonnull(node);
  texture = gsk_renderer_render_texture(gtk_native_get_renderer(GTK_NATIVE(window)), node,
                                        &GRAPHENE_RECT_INIT(0, 0, w, h));
  gsk_render_node_unref(node);
  path = g_build_filename(dir, name, NULL);
  g_assert_true(gdk_texture_save_to_png(texture, path));
  g_test_message("screenshot: %s", path);
}

typedef struct {
  HsGalleryView *gallery;
  guint n;
} CountWait;

static gboolean has_n_items(gpointer data)
{
  CountWait *c = data;
  HsHistoryModel *m = hs_gallery_view_get_model(c->gallery);
  return !hs_history_model_get_loading(m) && g_list_model_get_n_items(G_LIST_MODEL(m)) == c->n;
}

void wait_items(HsGalleryView *gallery, guint n)
{
  CountWait c = { gallery, n };
  g_autofree char *what = g_strdup_printf("%u items in the gallery", n);
  wait_until(has_n_items, &c, what);
}

gboolean thumbnails_cached(gpointer data)
{
  HsGalleryView *g = data;
  guint n = g_list_model_get_n_items(G_LIST_MODEL(hs_gallery_view_get_model(g)));

  for (guint i = 0; i < n; i++) {
    g_autoptr(HsHistoryItem) item =
        g_list_model_get_item(G_LIST_MODEL(hs_gallery_view_get_model(g)), i);
    if (hs_gallery_view_lookup_thumbnail(g, hs_history_item_get_id(item)) == NULL)
      return FALSE;
  }
  return n > 0;
}

guint find_prompt(HsGalleryView *g, const char *prompt)
{
  GListModel *m = G_LIST_MODEL(hs_gallery_view_get_model(g));

  for (guint i = 0; i < g_list_model_get_n_items(m); i++) {
    g_autoptr(HsHistoryItem) item = g_list_model_get_item(m, i);
    if (g_str_equal(hs_history_item_get_prompt(item), prompt))
      return i;
  }
  g_error("no item with prompt \"%s\" in the gallery", prompt);
  return 0;
}
