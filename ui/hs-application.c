/* hs-application.c: application lifetime, app-wide actions, About; the objects the windows
 * share: the engine worker, the history and the model store. */
#define G_LOG_DOMAIN "HsApplication"

#include "hs-config.h"

#include "hs-application.h"

#include <glib/gi18n.h>

#include "hs-models-page.h"
#include "hs-preferences-window.h"
#include "hs-window.h"

struct _HsApplication {
  AdwApplication parent_instance;
  HsEngineWorker *worker;
  HsHistory *history;
  HsModelStore *model_store;
};

G_DEFINE_FINAL_TYPE(HsApplication, hs_application, ADW_TYPE_APPLICATION)

static GtkWindow *main_window(HsApplication *self)
{
  return gtk_application_get_active_window(GTK_APPLICATION(self));
}

static void hs_application_activate(GApplication *app)
{
  HsApplication *self = HS_APPLICATION(app);
  GtkWindow *window = main_window(self);

  if (window == NULL)
    window = GTK_WINDOW(
        hs_window_new(ADW_APPLICATION(self), self->worker, self->history, self->model_store));
  gtk_window_present(window);
}

static void hs_application_startup(GApplication *app)
{
  HsApplication *self = HS_APPLICATION(app);

  G_APPLICATION_CLASS(hs_application_parent_class)->startup(app);
  /* One engine thread for the whole application: the weights load once. */
  self->worker = hs_engine_worker_new();
  /* One history (one SQLite connection) and one model store (which owns the download, so
   * closing a window does not stop it). */
  self->history = hs_history_new(NULL);
  self->model_store = hs_model_store_new(NULL);
}

static void hs_application_shutdown(GApplication *app)
{
  HsApplication *self = HS_APPLICATION(app);

  /* Pause a download (its .part files resume next time), cancel a running picture and join the
   * engine thread before GTK goes away. */
  if (self->model_store != NULL)
    hs_model_store_cancel_download(self->model_store);
  if (self->worker != NULL)
    hs_engine_worker_shutdown(self->worker);
  g_clear_object(&self->worker);
  g_clear_object(&self->model_store);
  g_clear_object(&self->history);
  G_APPLICATION_CLASS(hs_application_parent_class)->shutdown(app);
}

static void action_quit(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GList *windows = gtk_application_get_windows(GTK_APPLICATION(user_data));

  /* Destroying the windows ends the application once none are left. */
  while (windows != NULL) {
    GList *next = windows->next;
    gtk_window_destroy(windows->data);
    windows = next;
  }
}

static void action_show_window(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  g_application_activate(G_APPLICATION(user_data));
}

static void show_preferences(HsApplication *self, const char *page)
{
  GtkWindow *prefs = GTK_WINDOW(hs_preferences_window_new());

  adw_preferences_window_add(ADW_PREFERENCES_WINDOW(prefs),
                             ADW_PREFERENCES_PAGE(hs_models_page_new(
                                 self->model_store, hs_model_release_default(), NULL)));
  if (page != NULL)
    adw_preferences_window_set_visible_page_name(ADW_PREFERENCES_WINDOW(prefs), page);
  gtk_window_set_transient_for(prefs, main_window(self));
  gtk_window_present(prefs);
}

static void action_preferences(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  show_preferences(user_data, NULL);
}

/* The demo model's "Download HART…": Preferences open on the Models page. */
static void action_show_models(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  show_preferences(user_data, "models");
}

static void action_about(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  HsApplication *self = user_data;
  const char *developers[] = { "The Hart Studio developers", NULL };
  GtkWidget *about;

  about = g_object_new(
      ADW_TYPE_ABOUT_WINDOW, "transient-for", main_window(self), "application-name",
      _("Hart Studio"), "application-icon", APP_ID, "version", PACKAGE_VERSION, "developer-name",
      _("The Hart Studio developers"), "developers", developers, "license-type",
      GTK_LICENSE_MIT_X11, "website", "https://github.com/hartstudio/hart-studio", "issue-url",
      "https://github.com/hartstudio/hart-studio/issues", "comments",
      _("Makes pictures from text on your own computer with HART, a hybrid autoregressive "
        "transformer from MIT Han Lab. Seeds are reproducible within Hart Studio but do not "
        "match pictures made with the original Python demo."),
      "translator-credits", _("translator-credits"), NULL);
  gtk_window_present(GTK_WINDOW(about));
}

static const GActionEntry app_actions[] = {
  { "quit", action_quit, NULL, NULL, NULL, { 0 } },
  { "preferences", action_preferences, NULL, NULL, NULL, { 0 } },
  { "show-models", action_show_models, NULL, NULL, NULL, { 0 } },
  { "about", action_about, NULL, NULL, NULL, { 0 } },
  { "show-window", action_show_window, NULL, NULL, NULL, { 0 } },
};

static void set_accels(GtkApplication *app)
{
  static const struct {
    const char *action;
    const char *accels[3];
  } table[] = {
    { "win.generate", { "<Control>Return", "<Control>KP_Enter", NULL } },
    { "win.cancel", { "Escape", NULL, NULL } },
    { "win.save-as", { "<Control>s", NULL, NULL } },
    { "win.copy-image", { "<Control>c", NULL, NULL } },
    { "win.search", { "<Control>f", NULL, NULL } },
    { "app.preferences", { "<Control>comma", NULL, NULL } },
    { "app.quit", { "<Control>q", NULL, NULL } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
    gtk_application_set_accels_for_action(app, table[i].action, table[i].accels);
}

static void hs_application_constructed(GObject *object)
{
  G_OBJECT_CLASS(hs_application_parent_class)->constructed(object);
  g_action_map_add_action_entries(G_ACTION_MAP(object), app_actions, G_N_ELEMENTS(app_actions),
                                  object);
  set_accels(GTK_APPLICATION(object));
}

static void hs_application_class_init(HsApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS(klass);

  object_class->constructed = hs_application_constructed;
  app_class->activate = hs_application_activate;
  app_class->startup = hs_application_startup;
  app_class->shutdown = hs_application_shutdown;
}

static void hs_application_init(HsApplication *self)
{
}

HsApplication *hs_application_new(GApplicationFlags flags)
{
  return g_object_new(HS_TYPE_APPLICATION, "application-id", APP_ID, "flags", flags,
                      "resource-base-path", RESOURCE_PREFIX, NULL);
}

HsEngineWorker *hs_application_get_worker(HsApplication *self)
{
  g_return_val_if_fail(HS_IS_APPLICATION(self), NULL);
  return self->worker;
}

HsHistory *hs_application_get_history(HsApplication *self)
{
  g_return_val_if_fail(HS_IS_APPLICATION(self), NULL);
  return self->history;
}

HsModelStore *hs_application_get_model_store(HsApplication *self)
{
  g_return_val_if_fail(HS_IS_APPLICATION(self), NULL);
  return self->model_store;
}
