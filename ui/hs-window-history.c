/* hs-window-history.c: the History page of the window: the gallery over the application's
 * history, every finished picture recorded into it, and its settings reused in the prompt panel
 * (from the gallery, or from a PNG dropped on the window). */
#define G_LOG_DOMAIN "HsWindow"

#include "hs-config.h"

#include <glib/gi18n.h>

#include "hs-history-record.h"
#include "hs-window-private.h"

/* --- recording ---------------------------------------------------------------------------- */

static void on_recorded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *weak = user_data;
  g_autoptr(HsWindow) self = g_weak_ref_get(weak);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryItem) item = hs_history_add_finish(HS_HISTORY(source), result, &error);

  g_weak_ref_clear(weak);
  g_free(weak);
  /* Success needs nothing here: the gallery shows the item through ::item-added. */
  if (item == NULL && self != NULL) {
    g_autofree char *text =
        g_strdup_printf(_("The picture was not added to the history: %s"), error->message);
    adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(text));
  }
}

void _hs_window_record(HsWindow *self, const HsRequest *request, HsImage *image)
{
  GWeakRef *weak = g_new0(GWeakRef, 1);

  /* A weak reference: a write that ends after the window closed must not keep it (and with it
   * the application) alive. */
  g_weak_ref_init(weak, self);
  hs_history_record_async(self->history, request, image, self->have_info ? &self->info : NULL,
                          self->model_dir, NULL, on_recorded, weak);
}

/* --- reusing settings --------------------------------------------------------------------- */

static void reuse_seed(HsWindow *self, const HsGenParams *params)
{
  /* The seed spin button holds 32-bit seeds (all Hart Studio writes); a larger one from another
   * application cannot make the same picture here, so it is not taken. */
  if (params->seed > G_MAXUINT32) {
    adw_toast_overlay_add_toast(self->toast_overlay,
                                adw_toast_new(_("That seed is too large for Hart Studio")));
    return;
  }
  gtk_spin_button_set_value(self->seed_spin, (double)params->seed);
  /* Otherwise the next picture would draw a new seed. */
  gtk_toggle_button_set_active(self->seed_lock_button, TRUE);
}

static void on_reuse(HsGalleryView *gallery, const HsGenParams *params, guint what, HsWindow *self)
{
  if ((what & HS_GALLERY_REUSE_PROMPT) && params->prompt != NULL)
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->prompt_view), params->prompt, -1);
  if ((what & HS_GALLERY_REUSE_SEED) && params->has_seed)
    reuse_seed(self, params);
  if ((what & ~(guint)(HS_GALLERY_REUSE_PROMPT | HS_GALLERY_REUSE_SEED)) != 0) {
    if (params->has_cfg)
      gtk_spin_button_set_value(self->cfg_spin, params->cfg);
    gtk_switch_set_active(self->smooth_switch, params->smooth);
    gtk_switch_set_active(self->system_prompt_switch, params->use_system_prompt);
  }
  /* The settings are used from the Create page: go there, ready to generate. */
  adw_view_stack_set_visible_child_name(self->view_stack, "create");
  if (self->state == HS_WINDOW_READY)
    gtk_widget_grab_focus(GTK_WIDGET(self->prompt_view));
}

/* A PNG dropped anywhere on the window restores its settings (the gallery reads the file and
 * emits ::reuse). Drags that start in this application (the canvas' own picture) are not
 * drops of outside pictures. */
static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        HsWindow *self)
{
  GdkDrop *drop = gtk_drop_target_get_current_drop(target);
  GFile *file = NULL;

  if (drop != NULL && gdk_drop_get_drag(drop) != NULL)
    return FALSE;
  if (G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST)) {
    GSList *files = g_value_get_boxed(value);
    file = files ? files->data : NULL;
  } else if (G_VALUE_HOLDS(value, G_TYPE_FILE)) {
    file = g_value_get_object(value);
  }
  if (file == NULL)
    return FALSE;
  hs_gallery_view_restore_from_file(self->gallery, file);
  return TRUE;
}

/* Save and Copy in the header bar act on the canvas: they show with the Create page only (the
 * gallery has its own buttons for the picture it shows). */
static void on_page_changed(AdwViewStack *stack, GParamSpec *pspec, HsWindow *self)
{
  gboolean create = g_strcmp0(adw_view_stack_get_visible_child_name(stack), "create") == 0;

  gtk_widget_set_visible(self->save_button, create);
  gtk_widget_set_visible(self->copy_button, create);
}

void _hs_window_init_history(HsWindow *self, HsHistory *history)
{
  GtkDropTarget *drop = gtk_drop_target_new(G_TYPE_INVALID, GDK_ACTION_COPY);
  GType types[] = { GDK_TYPE_FILE_LIST, G_TYPE_FILE };

  self->history = g_object_ref(history);
  self->gallery = hs_gallery_view_new(history);
  adw_bin_set_child(self->gallery_bin, GTK_WIDGET(self->gallery));
  g_signal_connect_object(self->gallery, "reuse", G_CALLBACK(on_reuse), self, 0);
  g_signal_connect_object(self->view_stack, "notify::visible-child-name",
                          G_CALLBACK(on_page_changed), self, 0);

  gtk_drop_target_set_gtypes(drop, types, G_N_ELEMENTS(types));
  g_signal_connect_object(drop, "drop", G_CALLBACK(on_drop), self, 0);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));
}
