/* hs-window-models.c: where the window's models come from when no folder is configured: a ready
 * model of the application's model store, else the demo model that ships with the app (labelled
 * as such, with a way to download HART), or else the first-run page that downloads HART or
 * imports an existing folder into the store. */
#define G_LOG_DOMAIN "HsWindow"

#include "hs-config.h"

#include <glib/gi18n.h>

#include "hs-demo-model.h"
#include "hs-settings.h"
#include "hs-window-private.h"

gboolean _hs_window_take_store_models(HsWindow *self)
{
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;

  if (self->model_store == NULL ||
      !hs_model_store_find_ready(self->model_store, hs_model_release_default(), &hart, &text))
    return FALSE;
  g_free(self->model_dir);
  self->model_dir = g_steal_pointer(&hart);
  /* A text encoder chosen by hand still wins over the store's. */
  if (self->text_model_dir == NULL)
    self->text_model_dir = g_steal_pointer(&text);
  return TRUE;
}

gboolean _hs_window_take_demo_model(HsWindow *self)
{
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  g_autofree char *root = NULL;
  g_autoptr(GError) error = NULL;

  root = hs_demo_model_find(&hart, &text, &error);
  if (root == NULL) {
    g_debug("%s", error->message);
    return FALSE;
  }
  g_free(self->model_dir);
  self->model_dir = g_steal_pointer(&hart);
  /* The demo HART reads its own small encoder's width: a text encoder chosen for HART would not
   * fit it, so the demo always comes with its own. */
  g_free(self->text_model_dir);
  self->text_model_dir = g_steal_pointer(&text);
  self->demo_model = TRUE;
  return TRUE;
}

void _hs_window_leave_demo_model(HsWindow *self)
{
  if (!self->demo_model)
    return;
  self->demo_model = FALSE;
  g_clear_pointer(&self->model_dir, g_free);
  g_free(self->text_model_dir);
  self->text_model_dir = hs_settings_dup_text_model_dir(self->settings);
}

void _hs_window_update_demo_label(HsWindow *self)
{
  gboolean demo = self->demo_model && self->have_info;

  if (demo) {
    /* translators: %d × %d is the demo model's picture size, e.g. 64 × 64 */
    g_autofree char *text = g_strdup_printf(
        _("%d × %d pictures of simple shapes, made by the small model that comes with Hart "
          "Studio. Download HART for real images."),
        self->info.image_size, self->info.image_size);
    gtk_label_set_text(self->demo_label, text);
  }
  gtk_widget_set_visible(self->demo_banner, demo);
  adw_view_switcher_title_set_subtitle(self->switcher_title, demo ? _("Demo model") : NULL);
}

const char *_hs_window_no_model_page(HsWindow *self)
{
  /* A configured folder that failed to load is explained on the error page (with its
   * message); with nothing configured, the first-run page offers the download. */
  return self->model_dir == NULL && self->first_run != NULL ? "first-run" : "no-model";
}

static void on_first_run_ready(HsModelsFirstRun *first_run, const char *hart_dir,
                               const char *text_dir, HsWindow *self)
{
  /* Only a window without a usable model switches to the new one; a download finished from
   * Preferences leaves a working model alone. */
  if (self->state != HS_WINDOW_NO_MODEL && !self->demo_model)
    return;
  if (self->state == HS_WINDOW_RUNNING)
    return; /* the demo's picture finishes first; the next start opens the new model */
  self->demo_model = FALSE;
  g_settings_set_string(self->settings, "model-dir", hart_dir);
  g_settings_set_string(self->settings, "text-model-dir", text_dir);
  g_free(self->model_dir);
  self->model_dir = g_strdup(hart_dir);
  g_free(self->text_model_dir);
  self->text_model_dir = g_strdup(text_dir);
  self->skip_text_model = FALSE;
  _hs_window_reload_model(self);
}

static void on_download_finished(HsModelStore *store, const GError *error, HsWindow *self)
{
  /* A finished download replaces the demo model right away (the store's model is found again
   * by load_model); a picture being made finishes first. */
  if (error == NULL && self->demo_model && self->state != HS_WINDOW_RUNNING)
    _hs_window_reload_model(self);
}

void _hs_window_init_models(HsWindow *self, HsModelStore *store)
{
  GtkWidget *first_run = hs_models_first_run_new(store, hs_model_release_default(), NULL);

  self->model_store = g_object_ref(store);
  self->first_run = HS_MODELS_FIRST_RUN(first_run);
  adw_bin_set_child(self->first_run_bin, first_run);
  g_signal_connect_object(first_run, "ready", G_CALLBACK(on_first_run_ready), self, 0);
  g_signal_connect_object(store, "download-finished", G_CALLBACK(on_download_finished), self, 0);
}
