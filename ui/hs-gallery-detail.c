/* hs-gallery-detail.c: the detail page: the full image (decoded off the main thread) and every
 * setting of the selected item. */
#include "hs-gallery-view-private.h"

#include <glib/gi18n.h>

/* GTK 4.8 has no gtk_list_box_remove_all(). */
static void clear_list(GtkListBox *list)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child(GTK_WIDGET(list))) != NULL)
    gtk_list_box_remove(list, child);
}

static void add_row(HsGalleryView *self, const char *title, const char *value)
{
  AdwActionRow *row;
  GtkWidget *label;

  if (value == NULL || value[0] == '\0')
    return;
  row = ADW_ACTION_ROW(adw_action_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
  label = gtk_label_new(value);
  gtk_label_set_selectable(GTK_LABEL(label), TRUE);
  gtk_label_set_ellipsize(GTK_LABEL(label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars(GTK_LABEL(label), 24);
  gtk_label_set_xalign(GTK_LABEL(label), 1);
  gtk_widget_set_tooltip_text(label, value);
  adw_action_row_add_suffix(row, label);
  gtk_list_box_append(self->detail_list, GTK_WIDGET(row));
}

static void add_settings(HsGalleryView *self, HsHistoryItem *item)
{
  const HsGenParams *p = hs_history_item_get_params(item);
  g_autoptr(GDateTime) created = g_date_time_new_from_unix_local(p->created_us / G_USEC_PER_SEC);
  g_autofree char *when = created ? g_date_time_format(created, "%x %X") : NULL;
  g_autofree char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, p->seed);
  g_autofree char *size = g_strdup_printf("%d × %d", p->width, p->height);
  char cfg[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *times = NULL;

  g_ascii_formatd(cfg, sizeof(cfg), "%g", p->cfg);
  if (p->t_total > 0)
    times = g_strdup_printf(_("%.1f s (text %.1f, transformer %.1f, diffusion %.1f, decode %.1f)"),
                            p->t_total, p->t_text, p->t_transformer, p->t_diffusion, p->t_decode);
  add_row(self, _("Seed"), seed);
  add_row(self, _("Guidance (CFG)"), cfg);
  add_row(self, _("Smoother Details"), p->smooth ? _("On") : _("Off"));
  add_row(self, _("Prompt Enhancer"), p->use_system_prompt ? _("On") : _("Off"));
  add_row(self, _("Size"), size);
  add_row(self, _("Model"), p->model_name);
  add_row(self, _("Model Revision"), p->model_revision);
  add_row(self, _("Model Hash"), p->model_hash);
  add_row(self, _("Device"), p->device);
  add_row(self, _("Backend"), p->backend);
  add_row(self, _("Engine"), p->engine_version);
  add_row(self, _("Time"), times);
  add_row(self, _("Created"), when);
  if (hs_history_item_get_missing(item))
    add_row(self, _("File"), _("Missing"));
}

static void load_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GdkTexture *texture = gdk_texture_new_from_filename(data, &error);

  if (texture != NULL)
    g_task_return_pointer(task, texture, g_object_unref);
  else
    g_task_return_error(task, error);
}

static void weak_ref_free(gpointer data)
{
  g_weak_ref_clear(data);
  g_free(data);
}

/* The task has no source object and holds only a weak reference, so the thread that decodes
 * never owns (and never finalizes) a widget. */
static void on_loaded(GObject *unused, GAsyncResult *res, gpointer data)
{
  g_autoptr(HsGalleryView) self = g_weak_ref_get(data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = g_task_propagate_pointer(G_TASK(res), &error);

  weak_ref_free(data);
  if (self == NULL || texture == NULL) {
    if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_debug("detail image: %s", error->message);
    return;
  }
  gtk_picture_set_paintable(self->detail_picture, GDK_PAINTABLE(texture));
}

static void update_favorite(HsGalleryView *self, HsHistoryItem *item)
{
  gboolean fav = hs_history_item_get_favorite(item);

  gtk_button_set_icon_name(self->detail_favorite,
                           fav ? "starred-symbolic" : "non-starred-symbolic");
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->detail_favorite),
                              fav ? _("Remove from Favorites") : _("Add to Favorites"));
}

static void on_item_notify(HsHistoryItem *item, GParamSpec *pspec, HsGalleryView *self)
{
  update_favorite(self, item);
}

void hs_gallery_detail_clear(HsGalleryView *self)
{
  HsHistoryItem *shown = g_object_get_data(G_OBJECT(self->detail_picture), "hs-item");

  if (self->detail_load != NULL)
    g_cancellable_cancel(self->detail_load);
  g_clear_object(&self->detail_load);
  if (shown != NULL)
    g_signal_handlers_disconnect_by_func(shown, on_item_notify, self);
  g_object_set_data(G_OBJECT(self->detail_picture), "hs-item", NULL);
  gtk_picture_set_paintable(self->detail_picture, NULL);
  clear_list(self->detail_list);
}

void hs_gallery_detail_show(HsGalleryView *self, HsHistoryItem *item)
{
  g_autoptr(GTask) task = NULL;
  GdkTexture *thumb;

  hs_gallery_detail_clear(self);
  g_object_set_data_full(G_OBJECT(self->detail_picture), "hs-item", g_object_ref(item),
                         g_object_unref);
  g_signal_connect(item, "notify::favorite", G_CALLBACK(on_item_notify), self);
  update_favorite(self, item);
  gtk_label_set_text(self->detail_prompt, hs_history_item_get_prompt(item));
  add_settings(self, item);
  /* The thumbnail at once, the full image when decoded. */
  thumb = hs_gallery_view_lookup_thumbnail(self, hs_history_item_get_id(item));
  gtk_picture_set_paintable(self->detail_picture, GDK_PAINTABLE(thumb));
  if (hs_history_item_get_missing(item))
    return;
  self->detail_load = g_cancellable_new();
  {
    GWeakRef *weak = g_new0(GWeakRef, 1);
    g_weak_ref_init(weak, self);
    task = g_task_new(NULL, self->detail_load, on_loaded, weak);
  }
  g_task_set_task_data(task, g_strdup(hs_history_item_get_image_path(item)), g_free);
  g_task_run_in_thread(task, load_in_thread);
}
