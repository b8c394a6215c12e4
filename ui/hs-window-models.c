/* hs-window-models.c: where the window's models come from when no folder is configured: a ready
 * model of the application's model store, or else the first-run page that downloads HART or
 * imports an existing folder into the store. */
#define G_LOG_DOMAIN "HsWindow"

#include "hs-config.h"

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
  if (self->state != HS_WINDOW_NO_MODEL)
    return;
  g_settings_set_string(self->settings, "model-dir", hart_dir);
  g_settings_set_string(self->settings, "text-model-dir", text_dir);
  g_free(self->model_dir);
  self->model_dir = g_strdup(hart_dir);
  g_free(self->text_model_dir);
  self->text_model_dir = g_strdup(text_dir);
  self->skip_text_model = FALSE;
  _hs_window_reload_model(self);
}

void _hs_window_init_models(HsWindow *self, HsModelStore *store)
{
  GtkWidget *first_run = hs_models_first_run_new(store, hs_model_release_default(), NULL);

  self->model_store = g_object_ref(store);
  self->first_run = HS_MODELS_FIRST_RUN(first_run);
  adw_bin_set_child(self->first_run_bin, first_run);
  g_signal_connect_object(first_run, "ready", G_CALLBACK(on_first_run_ready), self, 0);
}
