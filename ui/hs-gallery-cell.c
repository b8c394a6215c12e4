/* hs-gallery-cell.c: the grid's cells. A cell is a picture with a favorite star and a "file
 * missing" badge on top. Thumbnails load lazily when a cell is bound to an item (only visible
 * cells are bound) and the load is cancelled when the cell is recycled. */
#include "hs-gallery-view-private.h"

#include <glib/gi18n.h>

#define CELL_SIDE 160

typedef struct {
  GtkPicture *picture;
  GtkWidget *star;
  GtkWidget *missing;
  HsHistoryItem *item; /* the bound item, or NULL */
  gulong favorite_handler;
  GCancellable *load;
} Cell;

static void cell_free(gpointer data)
{
  Cell *c = data;

  /* Normally unbound before; be safe if a cell is torn down while bound. */
  if (c->load != NULL)
    g_cancellable_cancel(c->load);
  g_clear_object(&c->load);
  g_clear_signal_handler(&c->favorite_handler, c->item);
  g_clear_object(&c->item);
  g_free(c);
}

static Cell *cell_of(GtkListItem *list_item)
{
  return g_object_get_data(G_OBJECT(gtk_list_item_get_child(list_item)), "hs-cell");
}

static void on_setup(GtkSignalListItemFactory *factory, GtkListItem *list_item, HsGalleryView *self)
{
  GtkWidget *overlay = gtk_overlay_new();
  GtkWidget *picture = gtk_picture_new();
  Cell *c = g_new0(Cell, 1);

  gtk_widget_set_size_request(picture, CELL_SIDE, CELL_SIDE);
  gtk_picture_set_can_shrink(GTK_PICTURE(picture), TRUE);
  gtk_picture_set_content_fit(GTK_PICTURE(picture), GTK_CONTENT_FIT_COVER);
  gtk_widget_add_css_class(picture, "card");
  gtk_overlay_set_child(GTK_OVERLAY(overlay), picture);

  c->star = gtk_image_new_from_icon_name("starred-symbolic");
  gtk_widget_set_halign(c->star, GTK_ALIGN_END);
  gtk_widget_set_valign(c->star, GTK_ALIGN_START);
  gtk_widget_set_margin_top(c->star, 6);
  gtk_widget_set_margin_end(c->star, 6);
  gtk_widget_add_css_class(c->star, "hs-gallery-star");
  gtk_overlay_add_overlay(GTK_OVERLAY(overlay), c->star);

  c->missing = gtk_image_new_from_icon_name("image-missing-symbolic");
  gtk_widget_set_halign(c->missing, GTK_ALIGN_CENTER);
  gtk_widget_set_valign(c->missing, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(c->missing, _("The image file is missing"));
  gtk_overlay_add_overlay(GTK_OVERLAY(overlay), c->missing);

  gtk_widget_set_margin_start(overlay, 3);
  gtk_widget_set_margin_end(overlay, 3);
  gtk_widget_set_margin_top(overlay, 3);
  gtk_widget_set_margin_bottom(overlay, 3);
  c->picture = GTK_PICTURE(picture);
  g_object_set_data_full(G_OBJECT(overlay), "hs-cell", c, cell_free);
  gtk_list_item_set_child(list_item, overlay);
}

static void update_badges(Cell *c)
{
  gtk_widget_set_visible(c->star, hs_history_item_get_favorite(c->item));
  gtk_widget_set_visible(c->missing, hs_history_item_get_missing(c->item));
}

static void on_favorite_notify(HsHistoryItem *item, GParamSpec *pspec, Cell *c)
{
  update_badges(c);
}

/* The cell may have been recycled meanwhile: the result only lands if the load was not
 * cancelled (unbind cancels it). The cache keeps it either way. */
typedef struct {
  HsGalleryView *self; /* strong */
  Cell *cell;          /* valid while `load` is not cancelled */
  gint64 id;
  GCancellable *load;
} ThumbLoad;

static void on_thumbnail(GObject *source, GAsyncResult *res, gpointer data)
{
  ThumbLoad *t = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = hs_history_thumbnail_finish(HS_HISTORY(source), res, &error);
  g_autoptr(GdkTexture) texture = NULL;

  if (png != NULL)
    texture = gdk_texture_new_from_bytes(png, &error);
  if (texture != NULL)
    hs_gallery_view_store_thumbnail(t->self, t->id, texture);
  else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug("thumbnail %" G_GINT64_FORMAT ": %s", t->id, error->message);
  if (texture != NULL && !g_cancellable_is_cancelled(t->load))
    gtk_picture_set_paintable(t->cell->picture, GDK_PAINTABLE(texture));
  g_object_unref(t->load);
  g_object_unref(t->self);
  g_free(t);
}

static void on_bind(GtkSignalListItemFactory *factory, GtkListItem *list_item, HsGalleryView *self)
{
  Cell *c = cell_of(list_item);
  HsHistoryItem *item = gtk_list_item_get_item(list_item);
  gint64 id = hs_history_item_get_id(item);
  GdkTexture *cached = hs_gallery_view_lookup_thumbnail(self, id);

  c->item = g_object_ref(item);
  c->favorite_handler = g_signal_connect(item, "notify", G_CALLBACK(on_favorite_notify), c);
  update_badges(c);
  gtk_widget_set_tooltip_text(gtk_list_item_get_child(list_item), hs_history_item_get_prompt(item));
  gtk_picture_set_paintable(c->picture, GDK_PAINTABLE(cached));
  if (cached == NULL) {
    ThumbLoad *t = g_new0(ThumbLoad, 1);
    c->load = g_cancellable_new();
    t->self = g_object_ref(self);
    t->cell = c;
    t->id = id;
    t->load = g_object_ref(c->load);
    hs_history_thumbnail_async(self->history, id, c->load, on_thumbnail, t);
  }
}

static void on_unbind(GtkSignalListItemFactory *factory, GtkListItem *list_item,
                      HsGalleryView *self)
{
  Cell *c = cell_of(list_item);

  if (c->load != NULL)
    g_cancellable_cancel(c->load);
  g_clear_object(&c->load);
  g_clear_signal_handler(&c->favorite_handler, c->item);
  g_clear_object(&c->item);
  gtk_picture_set_paintable(c->picture, NULL);
}

GtkListItemFactory *hs_gallery_cell_factory_new(HsGalleryView *self)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new();

  g_signal_connect(factory, "setup", G_CALLBACK(on_setup), self);
  g_signal_connect(factory, "bind", G_CALLBACK(on_bind), self);
  g_signal_connect(factory, "unbind", G_CALLBACK(on_unbind), self);
  return factory;
}
