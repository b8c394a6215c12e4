/* test-ui-i18n.c: the real Hart Studio window under LANGUAGE=de on a private X server
 * (run-under-xvfb.sh), with the tiny golden model configured: the catalogue built in the build
 * tree is used, the window shows its German labels, and a screenshot goes to
 * $HS_TEST_ARTIFACTS/de-main-window.png (for the AppStream metainfo and for a person to look at).
 */
#include "hs-config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <locale.h>
#include <string.h>

#include "hs-application.h"
#include "hs-test-context.h"
#include "hs-test-render.h"

/* What the German catalogue must make of the Generate button and of the empty-model page. */
#define GENERATE_EN "_Generate"
#define GENERATE_DE "_Erzeugen"
#define NO_MODEL_DE "Noch kein Modell"

static HsApplication *app;
static GtkWindow *window;
static char *skip_reason;
static char *artifacts;
static int test_status;

/* TRUE when a drawable label under widget shows exactly text (mnemonic underscores removed). */
static gboolean shows_label(GtkWidget *widget, const char *text)
{
  if (!gtk_widget_is_drawable(widget))
    return FALSE;
  if (GTK_IS_LABEL(widget) && g_strcmp0(gtk_label_get_text(GTK_LABEL(widget)), text) == 0)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child(widget); child != NULL;
       child = gtk_widget_get_next_sibling(child))
    if (shows_label(child, text))
      return TRUE;
  return FALSE;
}

/* "_Erzeugen" -> "Erzeugen": the text a mnemonic label displays. */
static char *without_mnemonic(const char *label)
{
  GString *s = g_string_new(NULL);

  for (const char *p = label; *p != '\0'; p++) {
    if (*p == '_' && p[1] != '\0')
      p++;
    g_string_append_c(s, *p);
  }
  return g_string_free(s, FALSE);
}

/* Waits (the main loop running) until the window shows one of the given labels. */
static const char *wait_for_label(const char *const *texts, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);

  while (g_get_monotonic_time() < deadline) {
    for (int i = 0; texts[i] != NULL; i++)
      if (shows_label(GTK_WIDGET(window), texts[i]))
        return texts[i];
    g_main_context_iteration(NULL, FALSE);
    g_usleep(1000);
  }
  return NULL;
}

/* Renders the window as it is now into <artifacts>/<name> (GSK_RENDERER=cairo under Xvfb). */
static void screenshot(const char *name)
{
  g_autoptr(GdkTexture) texture = hs_test_render(GTK_WIDGET(window));

  hs_test_save_png(texture, artifacts, name);
}

static void test_catalogue(void)
{
  /* The build tree's catalogue is bound and the locale honours LANGUAGE. */
  g_assert_cmpstr(g_dgettext(GETTEXT_PACKAGE, GENERATE_EN), ==, GENERATE_DE);
  g_assert_cmpstr(_("Hart Studio"), ==, "Hart Studio");
}

static void test_german_window(void)
{
  g_autofree char *generate = without_mnemonic(GENERATE_DE);
  g_autofree char *generate_en = without_mnemonic(GENERATE_EN);
  const char *expected[] = { generate, NO_MODEL_DE, NULL };
  const char *shown;

  g_assert_nonnull(window);
  /* Loading the tiny model takes a moment; the welcome page shows when it cannot be loaded. */
  shown = wait_for_label(expected, 120);
  screenshot("de-main-window.png");
  g_assert_nonnull(shown);
  if (skip_reason != NULL)
    g_test_message("engine cannot run the tiny model (%s): the German welcome page shows",
                   skip_reason);
  else
    g_assert_cmpstr(shown, ==, generate);
  g_assert_false(shows_label(GTK_WIDGET(window), generate_en));
}

static gboolean run_tests(gpointer data)
{
  window = gtk_application_get_active_window(GTK_APPLICATION(app));
  /* The screenshot shows settled widgets, not cross-fades. */
  g_object_set(gtk_settings_get_default(), "gtk-enable-animations", FALSE, NULL);
  test_status = g_test_run();
  gtk_window_destroy(window);
  return G_SOURCE_REMOVE;
}

static void on_activate(GApplication *application)
{
  g_idle_add(run_tests, NULL);
}

int main(int argc, char *argv[])
{
  g_autofree char *model = NULL;
  g_autofree char *text = NULL;
  const char *localedir = g_getenv("HS_TEST_LOCALEDIR");
  char *app_argv[] = { argv[0], NULL };
  gboolean text_usable = FALSE;
  int status;

  /* LANGUAGE is ignored in the "C" locale: C.UTF-8 is always present and is not "C". */
  g_setenv("LANGUAGE", "de", TRUE);
  g_setenv("LC_ALL", "C.UTF-8", TRUE);
  setlocale(LC_ALL, "");
  g_assert_nonnull(localedir);
  bindtextdomain(GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  textdomain(GETTEXT_PACKAGE);

  g_test_init(&argc, &argv, NULL);
  artifacts =
      g_strdup(g_getenv("HS_TEST_ARTIFACTS") ? g_getenv("HS_TEST_ARTIFACTS") : "ui-artifacts");
  g_mkdir_with_parents(artifacts, 0755);

  /* The tiny golden model and the tiny Qwen2, as run.sh configures them. */
  text = hs_test_make_text_dir();
  skip_reason = hs_test_engine_skip_reason_with_text(text, &text_usable);
  model = hs_test_shared_path("golden/tiny");
  g_setenv("HART_STUDIO_MODEL_DIR", model, TRUE);
  if (text_usable)
    g_setenv("HART_STUDIO_TEXT_MODEL_DIR", text, TRUE);

  g_test_add_func("/ui-i18n/catalogue", test_catalogue);
  g_test_add_func("/ui-i18n/german-window", test_german_window);

  app = hs_application_new(G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after(app, "activate", G_CALLBACK(on_activate), NULL);
  status = g_application_run(G_APPLICATION(app), 1, app_argv);
  g_assert_finalize_object(app);
  hs_test_remove_text_dir(g_steal_pointer(&text));
  g_free(skip_reason);
  g_free(artifacts);
  return status != 0 ? status : test_status;
}
