/* test-ui-demo.c: a first start with nothing configured and nothing downloaded, on a private X
 * server (run-under-xvfb.sh): the window opens the demo model that ships with Hart Studio
 * ($HART_STUDIO_DEMO_MODEL_DIR, set by meson to the source tree's data/demo-model), says so
 * plainly, and makes a picture from a prompt; Preferences list it on the Models page; and a model
 * that becomes ready in the store replaces it. Screenshots go to $HS_TEST_ARTIFACTS
 * (demo-01-open.png, demo-02-generated.png, demo-03-models.png). Skips without the demo model. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "hs-test-render.h"
#include "test-util.h"
#include "hs-application.h"
#include "hs-demo-model.h"
#include "hs-test-context.h"
#include "hs-window-private.h"

static HsApplication *app;
static HsWindow *window;
static char *artifacts;
static char *demo_root;
static int test_status;

static gboolean demo_available(void)
{
  if (demo_root == NULL) {
    g_test_skip("no demo model (data/demo-model is not in the tree)");
    return FALSE;
  }
  return TRUE;
}

static void spin_until(gboolean (*done)(gpointer), gpointer data, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);

  while (!done(data)) {
    if (g_get_monotonic_time() > deadline)
      g_error("timed out after %.0f s (window state %d, page %s, stage “%s”, error “%s”)",
              timeout_s, _hs_window_get_state(window), _hs_window_get_page(window),
              _hs_window_get_stage_text(window),
              _hs_window_get_last_error(window) ? _hs_window_get_last_error(window) : "");
    g_main_context_iteration(NULL, FALSE);
    g_usleep(200);
  }
}

static gboolean is_not_loading(gpointer data)
{
  return _hs_window_get_state(window) != HS_WINDOW_LOADING;
}

static gboolean is_done(gpointer data)
{
  return _hs_window_get_state(window) == HS_WINDOW_READY &&
         g_str_equal(_hs_window_get_stage_text(window), "Done");
}

static gboolean stack_settled(gpointer data)
{
  return !gtk_stack_get_transition_running(window->stack);
}

static void screenshot_of(GtkWidget *widget, const char *name)
{
  g_autoptr(GdkTexture) texture = hs_test_render(widget);

  hs_test_save_png(texture, artifacts, name);
}

/* Standard deviation of the pixels' luminance-free RGB values, over the whole texture. */
static double pixel_spread(GdkTexture *texture)
{
  int w = gdk_texture_get_width(texture), h = gdk_texture_get_height(texture);
  gsize stride = (gsize)w * 4;
  g_autofree guchar *data = g_malloc(stride * h);
  double sum[3] = { 0 }, sum2[3] = { 0 }, var = 0;
  double n = (double)w * h;

  /* GDK_MEMORY_DEFAULT: B, G, R, A bytes (premultiplied); the canvas area is opaque. */
  gdk_texture_download(texture, data, stride);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int k = 0; k < 3; k++) {
        double v = data[y * stride + x * 4 + k];
        sum[k] += v;
        sum2[k] += v * v;
      }
  for (int k = 0; k < 3; k++)
    var += sum2[k] / n - (sum[k] / n) * (sum[k] / n);
  return sqrt(var / 3);
}

/* Mean colour of the picture's outer ring (3 pixels wide at 64 x 64): the background. */
static void border_mean(const HsImage *image, double mean[3])
{
  const guchar *rgb = g_bytes_get_data(image->rgb, NULL);
  int w = image->width, h = image->height, ring = MAX(1, w * 3 / 64);
  double n = 0;

  mean[0] = mean[1] = mean[2] = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      if (x >= ring && x < w - ring && y >= ring && y < h - ring)
        continue;
      for (int k = 0; k < 3; k++)
        mean[k] += rgb[(y * w + x) * 3 + k];
      n++;
    }
  for (int k = 0; k < 3; k++)
    mean[k] /= n;
}

static GtkWidget *find_row(GtkWidget *widget, const char *title)
{
  if (ADW_IS_PREFERENCES_ROW(widget) &&
      g_strcmp0(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(widget)), title) == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c != NULL;
       c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_row(c, title);
    if (found != NULL)
      return found;
  }
  return NULL;
}

static AdwPreferencesWindow *find_preferences(void)
{
  GListModel *toplevels = gtk_window_get_toplevels(); /* borrowed */

  for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
    g_autoptr(GObject) item = g_list_model_get_item(toplevels, i);
    if (ADW_IS_PREFERENCES_WINDOW(item) && gtk_widget_get_visible(GTK_WIDGET(item)))
      return ADW_PREFERENCES_WINDOW(item);
  }
  return NULL;
}

static gboolean has_preferences(gpointer data)
{
  return find_preferences() != NULL;
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_opens_demo(void)
{
  GtkWidget *banner = _hs_window_get_demo_banner(window);
  g_autofree char *want_hart = NULL;
  const char *text;

  if (!demo_available())
    return;
  spin_until(is_not_loading, NULL, 120);
  spin_until(stack_settled, NULL, 10);
  screenshot_of(GTK_WIDGET(window), "demo-01-open.png");
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_READY);
  g_assert_cmpstr(_hs_window_get_page(window), ==, "main");
  g_assert_true(_hs_window_get_demo_model(window));
  want_hart = g_build_filename(demo_root, HS_DEMO_HART_SUBDIR, NULL);
  g_assert_cmpstr(window->model_dir, ==, want_hart);
  /* The demo is never remembered as the user's choice. */
  {
    g_autofree char *setting = g_settings_get_string(window->settings, "model-dir");
    g_assert_cmpstr(setting, ==, "");
  }
  /* Labelled plainly where the prompt is typed, and in the title. */
  g_assert_true(gtk_widget_get_mapped(banner));
  text = gtk_label_get_text(window->demo_label);
  g_test_message("demo label: %s", text);
  g_assert_nonnull(strstr(text, "64 × 64 pictures of simple shapes"));
  g_assert_nonnull(strstr(text, "Download HART"));
  g_assert_cmpstr(adw_view_switcher_title_get_subtitle(window->switcher_title), ==, "Demo model");
}

static void test_generate(void)
{
  GtkTextBuffer *buffer;
  HsImage *result;
  g_autoptr(GdkTexture) canvas = NULL;
  double spread;

  if (!demo_available())
    return;
  buffer = _hs_window_get_prompt_buffer(window);
  gtk_text_buffer_set_text(buffer, "a big red circle in the center on a blue background", -1);
  /* A fixed seed, so that the check of the background below is about this picture. */
  gtk_spin_button_set_value(window->seed_spin, 7);
  gtk_toggle_button_set_active(window->seed_lock_button, TRUE);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.generate", NULL));
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_RUNNING);
  spin_until(is_done, NULL, 300);

  result = _hs_window_get_result(window);
  g_assert_nonnull(result);
  g_assert_cmpint(result->width, ==, 64);
  g_assert_cmpint(result->height, ==, 64);
  g_assert_nonnull(_hs_window_get_canvas_texture(window));
  g_assert_true(gtk_widget_get_mapped(GTK_WIDGET(window->canvas)));
  /* What the canvas draws is a picture, not an empty or flat area. */
  canvas = hs_test_render(GTK_WIDGET(window->canvas));
  spread = pixel_spread(canvas);
  g_test_message("canvas %dx%d, pixel spread %.1f", gdk_texture_get_width(canvas),
                 gdk_texture_get_height(canvas), spread);
  g_assert_cmpfloat(spread, >, 8.0);
  /* The prompt is drawn, not only some picture: the background is the blue it asks for (the
   * renderer's blue is 30, 60, 215; random weights give a muddy mix). */
  {
    double bg[3];
    border_mean(result, bg);
    g_test_message("background mean RGB %.0f %.0f %.0f", bg[0], bg[1], bg[2]);
    g_assert_cmpfloat(bg[2], >, 150);
    g_assert_cmpfloat(bg[2], >, bg[0] + 80);
    g_assert_cmpfloat(bg[2], >, bg[1] + 60);
  }
  /* The label stays while the demo model is in use. */
  g_assert_true(gtk_widget_get_mapped(_hs_window_get_demo_banner(window)));
  screenshot_of(GTK_WIDGET(window), "demo-02-generated.png");
}

static void test_models_page(void)
{
  AdwPreferencesWindow *prefs;
  GtkWidget *row;

  if (!demo_available())
    return;
  /* The label's "Download HART…" button. */
  g_assert_true(g_action_group_has_action(G_ACTION_GROUP(app), "show-models"));
  g_action_group_activate_action(G_ACTION_GROUP(app), "show-models", NULL);
  spin_until(has_preferences, NULL, 10);
  prefs = find_preferences();
  g_assert_cmpstr(adw_preferences_window_get_visible_page_name(prefs), ==, "models");
  row = find_row(GTK_WIDGET(prefs), "Demo model (built in)");
  g_assert_nonnull(row);
  g_assert_nonnull(strstr(adw_action_row_get_subtitle(ADW_ACTION_ROW(row)), demo_root));
  screenshot_of(GTK_WIDGET(prefs), "demo-03-models.png");
  gtk_window_destroy(GTK_WINDOW(prefs));
}

/* A model that becomes ready in the store (a finished download) replaces the demo at once. */
static void test_store_model_wins(void)
{
  HsModelStore *store = hs_application_get_model_store(app);
  g_autofree char *tiny = hs_test_shared_path("golden/tiny");
  g_autofree char *text = NULL;
  g_autofree char *hart_entry = NULL;
  g_autofree char *text_entry = NULL;
  g_autoptr(GError) error = NULL;

  if (!demo_available())
    return;
  text = hs_test_make_text_dir();
  if (text == NULL || !g_file_test(tiny, G_FILE_TEST_IS_DIR)) {
    g_test_skip("../shared (golden/tiny, text/) is missing");
    return;
  }
  hart_entry = hs_model_store_import_sync(store, tiny, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  text_entry = hs_model_store_import_sync(store, text, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  hs_test_remove_text_dir(g_steal_pointer(&text));

  g_signal_emit_by_name(store, "download-finished", NULL);
  spin_until(is_not_loading, NULL, 120);
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_READY);
  g_assert_false(_hs_window_get_demo_model(window));
  g_assert_cmpstr(window->model_dir, ==, hart_entry);
  g_assert_cmpstr(window->text_model_dir, ==, text_entry);
  g_assert_false(gtk_widget_get_visible(_hs_window_get_demo_banner(window)));
  g_assert_cmpstr(adw_view_switcher_title_get_subtitle(window->switcher_title), ==, "");
}

/* --- driver: the tests run inside the application's main loop ------------------------------ */

static gboolean run_tests(gpointer data)
{
  window = HS_WINDOW(gtk_application_get_active_window(GTK_APPLICATION(app)));
  g_object_set(gtk_settings_get_default(), "gtk-enable-animations", FALSE, NULL);
  test_status = g_test_run();
  gtk_window_destroy(GTK_WINDOW(window));
  return G_SOURCE_REMOVE;
}

static void on_activate(GApplication *application)
{
  g_idle_add(run_tests, NULL);
}

int main(int argc, char *argv[])
{
  g_autofree char *data_home = NULL;
  char *app_argv[] = { argv[0], NULL };
  int status;

  g_test_init(&argc, &argv, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  artifacts =
      g_strdup(g_getenv("HS_TEST_ARTIFACTS") ? g_getenv("HS_TEST_ARTIFACTS") : "ui-demo-artifacts");
  g_mkdir_with_parents(artifacts, 0755);
  /* Nothing configured (the memory settings backend starts empty), an empty model store and
   * history, and a hub that refuses connections. */
  data_home = g_dir_make_tmp("hs-ui-demo-data-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", data_home, TRUE);
  g_unsetenv("HART_STUDIO_MODEL_DIR");
  g_unsetenv("HART_STUDIO_TEXT_MODEL_DIR");
  g_setenv("HART_STUDIO_HUB_URL", "http://127.0.0.1:9", TRUE);
  demo_root = hs_demo_model_find(NULL, NULL, NULL);

  g_test_add_func("/ui-demo/opens-demo", test_opens_demo);
  g_test_add_func("/ui-demo/generate", test_generate);
  g_test_add_func("/ui-demo/models-page", test_models_page);
  g_test_add_func("/ui-demo/store-model-wins", test_store_model_wins);

  app = hs_application_new(G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after(app, "activate", G_CALLBACK(on_activate), NULL);
  status = g_application_run(G_APPLICATION(app), 1, app_argv);
  g_assert_finalize_object(app);
  ht_rm_tree(data_home);
  g_free(artifacts);
  g_free(demo_root);
  return status != 0 ? status : test_status;
}
