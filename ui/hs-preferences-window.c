/* hs-preferences-window.c: combo rows bound to enum keys, a spin button to an int key. */
#define G_LOG_DOMAIN "HsPreferences"

#include "hs-config.h"

#include "hs-preferences-window.h"

#include "hs-settings.h"

struct _HsPreferencesWindow {
  AdwPreferencesWindow parent_instance;
  AdwComboRow *backend_row;
  AdwComboRow *preview_row;
  GtkSpinButton *threads_spin;
  GSettings *settings;
};

G_DEFINE_FINAL_TYPE(HsPreferencesWindow, hs_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

/* Combo positions follow the enum values of the schema (0, 1, 2 in order). */
static const char *const backend_nicks[] = { "auto", "cpu", "cuda", NULL };
static const char *const preview_nicks[] = { "off", "fast", "full", NULL };

static gboolean nick_to_position(GValue *value, GVariant *variant, gpointer user_data)
{
  const char *const *nicks = user_data;
  const char *nick = g_variant_get_string(variant, NULL);

  for (guint i = 0; nicks[i] != NULL; i++)
    if (g_str_equal(nicks[i], nick)) {
      g_value_set_uint(value, i);
      return TRUE;
    }
  return FALSE;
}

static GVariant *position_to_nick(const GValue *value, const GVariantType *type, gpointer user_data)
{
  const char *const *nicks = user_data;
  guint pos = g_value_get_uint(value);

  if (pos >= g_strv_length((char **)nicks))
    return NULL;
  return g_variant_new_string(nicks[pos]);
}

static void bind_enum_row(GSettings *settings, const char *key, AdwComboRow *row,
                          const char *const *nicks)
{
  g_settings_bind_with_mapping(settings, key, row, "selected", G_SETTINGS_BIND_DEFAULT,
                               nick_to_position, position_to_nick, (gpointer)nicks, NULL);
}

static void hs_preferences_window_dispose(GObject *object)
{
  HsPreferencesWindow *self = HS_PREFERENCES_WINDOW(object);

  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HS_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS(hs_preferences_window_parent_class)->dispose(object);
}

static void hs_preferences_window_class_init(HsPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  object_class->dispose = hs_preferences_window_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              RESOURCE_PREFIX "/ui/hs-preferences-window.ui");
  gtk_widget_class_bind_template_child(widget_class, HsPreferencesWindow, backend_row);
  gtk_widget_class_bind_template_child(widget_class, HsPreferencesWindow, preview_row);
  gtk_widget_class_bind_template_child(widget_class, HsPreferencesWindow, threads_spin);
}

static void hs_preferences_window_init(HsPreferencesWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->settings = hs_settings_new();
  bind_enum_row(self->settings, "backend", self->backend_row, backend_nicks);
  bind_enum_row(self->settings, "preview-mode", self->preview_row, preview_nicks);
  g_settings_bind(self->settings, "threads", gtk_spin_button_get_adjustment(self->threads_spin),
                  "value", G_SETTINGS_BIND_DEFAULT);
}

HsPreferencesWindow *hs_preferences_window_new(void)
{
  return g_object_new(HS_TYPE_PREFERENCES_WINDOW, NULL);
}
