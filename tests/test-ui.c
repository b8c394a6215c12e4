/* test-ui.c: the real Hart Studio window on a private X server (run-under-xvfb.sh): launch, type
 * a prompt, generate with the tiny model, watch previews, cancel a run, save a PNG and read its
 * metadata back, copy to the clipboard; screenshots before / during / after go to
 * $HS_TEST_ARTIFACTS, and the longest main-loop stall during a generation is measured. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "hs-application.h"
#include "hs-metadata.h"
#include "hs-png.h"
#include "hs-window-private.h"

#ifdef HS_TEST_FAKE_ENGINE
/* test-ui-logic: the same window driven by the scripted engine (fake-engine.c), so the whole UI
 * flow is checked independently of the engine's numerics. */
#include "fake-engine.h"
#else
#include "hs-test-context.h"
#endif

static HsApplication *app;
static HsWindow *window;
static char *skip_reason;
static gboolean text_usable;
static char *artifacts;
static HsImage *first_result;
static gboolean notification_attempted;

static int unexpected_warnings;

/* Xvfb has no notification server, so GLib warns when the app sends its "picture ready"
 * notification (the window is never active without a window manager). That warning is the
 * evidence the notification went out. Warnings are therefore not fatal in this test, but any
 * other warning fails it at the end. */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer data)
{
  if (level & G_LOG_LEVEL_WARNING) {
    const char *message = "";
    for (gsize i = 0; i < n_fields; i++)
      if (g_str_equal(fields[i].key, "MESSAGE") && fields[i].length < 0)
        message = fields[i].value;
    if (strstr(message, "unable to send notifications") != NULL)
      notification_attempted = TRUE;
    else
      unexpected_warnings++;
  }
  return g_log_writer_default(level, fields, n_fields, data);
}
static guint64 first_seed;

static void spin_until(gboolean (*done)(gpointer), gpointer data, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);

  while (!done(data)) {
    if (g_get_monotonic_time() > deadline)
      g_error("timed out after %.0f s (window state %d, stage “%s”, error “%s”)", timeout_s,
              _hs_window_get_state(window), _hs_window_get_stage_text(window),
              _hs_window_get_last_error(window) ? _hs_window_get_last_error(window) : "");
    g_main_context_iteration(NULL, FALSE);
    g_usleep(200);
  }
}

static gboolean is_not_loading(gpointer data)
{
  return _hs_window_get_state(window) != HS_WINDOW_LOADING;
}

static gboolean is_ready(gpointer data)
{
  return _hs_window_get_state(window) == HS_WINDOW_READY;
}

static gboolean is_flag_set(gpointer data)
{
  return *(gboolean *)data;
}

/* Renders the window as it is now into <artifacts>/<name> (GSK_RENDERER=cairo under Xvfb).
 * FALSE when the window has nothing to render yet (a relayout is pending). */
static gboolean try_screenshot_of(GtkWidget *widget, const char *name)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  int w = gtk_widget_get_width(widget);
  int h = gtk_widget_get_height(widget);
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = g_build_filename(artifacts, name, NULL);

  gdk_paintable_snapshot(paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node(snapshot);
  if (node == NULL)
    return FALSE;
  texture = gsk_renderer_render_texture(gtk_native_get_renderer(GTK_NATIVE(widget)), node,
                                        &GRAPHENE_RECT_INIT(0, 0, w, h));
  g_assert_true(gdk_texture_save_to_png(texture, path));
  g_test_message("screenshot %s (%dx%d)", path, w, h);
  return TRUE;
}

static gboolean try_screenshot(const char *name)
{
  return try_screenshot_of(GTK_WIDGET(window), name);
}

static void screenshot_of(GtkWidget *widget, const char *name)
{
  /* A window just presented may need a few frames before it has content. */
  for (int i = 0; i < 100; i++) {
    gtk_test_widget_wait_for_draw(widget);
    if (try_screenshot_of(widget, name))
      return;
    g_usleep(10000);
  }
  g_error("%s: the window never drew anything", name);
}

static void screenshot(const char *name)
{
  screenshot_of(GTK_WIDGET(window), name);
}

static gboolean engine_usable(void)
{
  if (skip_reason != NULL) {
    g_test_skip(skip_reason);
    return FALSE;
  }
  return TRUE;
}

/* --- main-loop stall meter: a 1 ms timeout that records the largest gap between its runs --- */

typedef struct {
  gint64 last_us;
  gint64 max_gap_us;
  guint source;
} StallMeter;

static gboolean on_stall_tick(gpointer data)
{
  StallMeter *m = data;
  gint64 now = g_get_monotonic_time();

  if (m->last_us != 0 && now - m->last_us > m->max_gap_us)
    m->max_gap_us = now - m->last_us;
  m->last_us = now;
  return G_SOURCE_CONTINUE;
}

static void stall_meter_start(StallMeter *m)
{
  memset(m, 0, sizeof *m);
  m->source = g_timeout_add(1, on_stall_tick, m);
}

/* The test's own screenshots block the loop on purpose; they do not count. */
static void stall_meter_skip(StallMeter *m)
{
  m->last_us = g_get_monotonic_time();
}

static void stall_meter_stop(StallMeter *m)
{
  g_clear_handle_id(&m->source, g_source_remove);
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_launch(void)
{
  g_assert_true(HS_IS_WINDOW(window));
  g_assert_true(gtk_widget_get_visible(GTK_WIDGET(window)));
  spin_until(is_not_loading, NULL, 120);
  screenshot("01-launch.png");

  if (skip_reason != NULL) {
    /* The engine cannot run the model yet: the window must say so, not crash. */
    g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_NO_MODEL);
    g_assert_nonnull(_hs_window_get_last_error(window));
    g_test_message("model not loadable (expected while %s): %s", skip_reason,
                   _hs_window_get_last_error(window));
    return;
  }
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_READY);
  g_assert_true(gtk_widget_is_sensitive(GTK_WIDGET(window)));
}

static void assert_accel(const char *action, const char *accel)
{
  g_auto(GStrv) accels = gtk_application_get_accels_for_action(GTK_APPLICATION(app), action);

  g_assert_true(g_strv_contains((const char *const *)accels, accel));
}

/* Keyboard: Ctrl+Return generates, Escape cancels, Ctrl+? shows the shortcuts window. */
static void test_shortcuts(void)
{
  GtkShortcutsWindow *overlay;

  assert_accel("win.generate", "<Control>Return");
  assert_accel("win.cancel", "Escape");
  assert_accel("win.save-as", "<Control>s");
  assert_accel("win.copy-image", "<Control>c");
  assert_accel("app.preferences", "<Control>comma");
  assert_accel("win.show-help-overlay", "<Control>question");
  overlay = gtk_application_window_get_help_overlay(GTK_APPLICATION_WINDOW(window));
  g_assert_nonnull(overlay);
  gtk_window_present(GTK_WINDOW(overlay));
  screenshot_of(GTK_WIDGET(overlay), "06-shortcuts.png");
  gtk_widget_set_visible(GTK_WIDGET(overlay), FALSE);
}

static GtkWindow *find_toplevel(GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels(); /* borrowed */

  for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
    g_autoptr(GObject) item = g_list_model_get_item(toplevels, i);
    if (G_TYPE_CHECK_INSTANCE_TYPE(item, type) && gtk_widget_get_visible(GTK_WIDGET(item)))
      return GTK_WINDOW(item);
  }
  return NULL;
}

/* Preferences and About open as their own windows and close again. */
static void test_preferences_and_about(void)
{
  GtkWindow *prefs, *about;

  g_action_group_activate_action(G_ACTION_GROUP(app), "preferences", NULL);
  prefs = find_toplevel(ADW_TYPE_PREFERENCES_WINDOW);
  g_assert_nonnull(prefs);
  screenshot_of(GTK_WIDGET(prefs), "07-preferences.png");
  gtk_window_destroy(prefs);

  g_action_group_activate_action(G_ACTION_GROUP(app), "about", NULL);
  about = find_toplevel(ADW_TYPE_ABOUT_WINDOW);
  g_assert_nonnull(about);
  screenshot_of(GTK_WIDGET(about), "08-about.png");
  gtk_window_destroy(about);
}

static void type_prompt(const char *text)
{
  GtkTextBuffer *buffer = _hs_window_get_prompt_buffer(window);

  gtk_text_buffer_set_text(buffer, "", -1);
  /* One character at a time, each followed by a main-loop turn, like typing. */
  for (const char *p = text; *p; p = g_utf8_next_char(p)) {
    char ch[8] = { 0 };
    memcpy(ch, p, g_utf8_next_char(p) - p);
    gtk_text_buffer_insert_at_cursor(buffer, ch, -1);
    g_main_context_iteration(NULL, FALSE);
  }
}

typedef struct {
  StallMeter *meter;
  gboolean want_shot;
  gboolean shot;
  gboolean cancel_on_preview;
  gboolean cancel_sent;
} PreviewWatch;

static void on_preview_delivered(HsGeneration *generation, GParamSpec *pspec, PreviewWatch *watch)
{
  if (watch->cancel_on_preview && !watch->cancel_sent) {
    watch->cancel_sent = TRUE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.cancel", NULL));
  }
  watch->want_shot = TRUE;
}

static void start_generation(PreviewWatch *watch)
{
  HsGeneration *generation;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.generate", NULL));
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_RUNNING);
  generation = _hs_window_get_generation(window);
  g_assert_nonnull(generation);
  g_signal_connect(generation, "notify::preview", G_CALLBACK(on_preview_delivered), watch);
}

static void use_context_without_text_model(void)
#ifdef HS_TEST_FAKE_ENGINE
    {}
#else
{
  hart_engine_info info;
  g_autoptr(GBytes) ctx = NULL;
  g_autoptr(GBytes) mask = NULL;
  g_autoptr(GBytes) pos = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true(hs_engine_worker_get_info(hs_application_get_worker(app), &info));
  if (info.has_text_model)
    return;
  g_test_message("engine has no text model: conditioning on golden/tiny/inputs.safetensors");
  g_assert_true(hs_test_load_context("golden/tiny", &ctx, &mask, &pos, &error));
  g_assert_no_error(error);
  _hs_window_set_context(window, ctx, mask, pos);
}
#endif

static void test_generate(void)
{
  StallMeter meter;
  PreviewWatch watch = { &meter, FALSE, FALSE, FALSE, FALSE };
  gint64 baseline_us;
  HsImage *result;
  g_autofree char *stall_path = NULL;
  g_autofree char *stall_text = NULL;

  if (!engine_usable())
    return;
  use_context_without_text_model();
  type_prompt("a lighthouse on a cliff at sunset, oil painting");
  screenshot("01-before.png");

  /* Baseline: the same meter on the idle window, to tell machine load from the app's own stalls. */
  stall_meter_start(&meter);
  {
    gint64 until = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < until)
      g_main_context_iteration(NULL, TRUE);
  }
  stall_meter_stop(&meter);
  baseline_us = meter.max_gap_us;

  stall_meter_start(&meter);
  start_generation(&watch);
  while (!is_ready(NULL)) {
    g_main_context_iteration(NULL, TRUE);
    /* Once a preview is on the canvas, picture the window mid-run (when the run lasts). */
    if (watch.want_shot && !watch.shot && _hs_window_get_state(window) == HS_WINDOW_RUNNING) {
      gtk_test_widget_wait_for_draw(GTK_WIDGET(window));
      if (_hs_window_get_state(window) == HS_WINDOW_RUNNING)
        watch.shot = try_screenshot("02-during.png");
      stall_meter_skip(&meter);
    }
  }
  stall_meter_stop(&meter);

  result = _hs_window_get_result(window);
  g_assert_nonnull(result);
  g_assert_cmpint(result->width, ==, 64);
  g_assert_cmpint(result->height, ==, 64);
  g_assert_nonnull(_hs_window_get_canvas_texture(window));
  /* The canvas shows the result, enlarged with square pixels to 512 px. */
  g_assert_cmpint(gdk_texture_get_width(_hs_window_get_canvas_texture(window)), ==, 256);
  g_assert_cmpstr(_hs_window_get_stage_text(window), ==, "Done");
  g_assert_true(watch.want_shot); /* at least one preview reached the canvas */
  if (!watch.shot)
    g_test_message("the run ended before a mid-run screenshot could be drawn");
  screenshot("03-after.png");

  first_result = hs_image_ref(result);
  /* A long run that ends while the window is in the background sends a notification. */
  if (result->t_total >= 10 && !gtk_window_is_active(GTK_WINDOW(window))) {
    /* The bus answers asynchronously. */
    spin_until(is_flag_set, &notification_attempted, 10);
    g_test_message("a “picture ready” notification was sent");
  }
  first_seed = (guint64)gtk_spin_button_get_value(window->seed_spin);

  g_test_message("longest main-loop stall during the generation: %.1f ms (target < 16 ms); "
                 "idle window on this machine, 2 s: %.1f ms",
                 meter.max_gap_us / 1000.0, baseline_us / 1000.0);
  stall_path = g_build_filename(artifacts, "main-loop-stall.txt", NULL);
  stall_text = g_strdup_printf("longest main-loop stall during a generation: %.1f ms\n"
                               "longest stall of the idle window (2 s baseline): %.1f ms\n"
                               "generation wall time: %.1f s\n",
                               meter.max_gap_us / 1000.0, baseline_us / 1000.0,
                               _hs_window_get_result(window)->t_total);
  g_file_set_contents(stall_path, stall_text, -1, NULL);
  /* 16 ms is the target on a desktop (GL renderer). Under Xvfb with the software cairo renderer
   * on a shared CI machine, frame rendering alone can take longer; the hard limit here is that
   * the window never freezes (a quarter second without the main loop running). */
  g_assert_cmpint(meter.max_gap_us, <, 250000);
}

static void test_cancel(void)
{
  gboolean cancelled = FALSE;

  if (!engine_usable())
    return;
  g_assert_nonnull(first_result);
  /* The tiny model may finish before the cancel lands: try a few times. */
  for (int attempt = 0; attempt < 10 && !cancelled; attempt++) {
    PreviewWatch watch = { NULL, FALSE, FALSE, TRUE, FALSE };

    start_generation(&watch);
    spin_until(is_ready, NULL, 300);
    if (g_str_equal(_hs_window_get_stage_text(window), "Cancelled")) {
      cancelled = TRUE;
      /* The last finished picture stays on the canvas and remains the one to save. */
      g_assert_true(_hs_window_get_result(window) == first_result);
      g_test_message("cancelled on attempt %d", attempt + 1);
    } else {
      g_assert_cmpstr(_hs_window_get_stage_text(window), ==, "Done");
      g_clear_pointer(&first_result, hs_image_unref);
      first_result = hs_image_ref(_hs_window_get_result(window));
      first_seed = (guint64)gtk_spin_button_get_value(window->seed_spin);
    }
  }
  g_assert_true(cancelled);
  g_assert_true(gtk_widget_get_visible(GTK_WIDGET(window->generate_button)));
  g_assert_false(gtk_widget_get_visible(GTK_WIDGET(window->cancel_button)));
  screenshot("04-cancelled.png");
}

static void on_saved(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true(hs_window_save_finish(HS_WINDOW(source), result, &error));
  g_assert_no_error(error);
  *(gboolean *)data = TRUE;
}

static void test_save(void)
{
  g_autofree char *path = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HsImage) back = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autofree char *seed_text = NULL;
  const char *parameters;
  JsonObject *root;
  gboolean saved = FALSE;

  if (!engine_usable())
    return;
  path = g_build_filename(artifacts, "saved.png", NULL);
  file = g_file_new_for_path(path);
  hs_window_save_async(window, file, NULL, on_saved, &saved);
  spin_until(is_flag_set, &saved, 60);

  texts = hs_png_load(path, &back, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(back->rgb, first_result->rgb));
  parameters = g_hash_table_lookup(texts, HS_METADATA_PARAMETERS_KEY);
  g_test_message("parameters chunk:\n%s", parameters);
  g_assert_true(g_str_has_prefix(parameters, "a lighthouse on a cliff at sunset, oil painting\n"));
  seed_text = g_strdup_printf(", Seed: %" G_GUINT64_FORMAT ", Size: 64x64, ", first_seed);
  g_assert_nonnull(strstr(parameters, seed_text));
  g_assert_nonnull(strstr(parameters, "CFG scale: 4.5"));

  g_assert_true(json_parser_load_from_data(parser, g_hash_table_lookup(texts, HS_METADATA_JSON_KEY),
                                           -1, &error));
  root = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpint(json_object_get_int_member(root, "seed"), ==, (gint64)first_seed);
  g_assert_true(json_object_get_boolean_member(root, "smooth"));
  g_assert_cmpstr(json_object_get_string_member(root, "prompt"), ==,
                  "a lighthouse on a cliff at sunset, oil painting");
}

/* Dragging the picture out hands over a real PNG file (with the same metadata). */
static void test_drag_file(void)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HsImage) back = NULL;

  if (!engine_usable())
    return;
  file = _hs_window_dup_drag_file(window, &error);
  g_assert_no_error(error);
  path = g_file_get_path(file);
  g_test_message("drag file %s", path);
  texts = hs_png_load(path, &back, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(back->rgb, first_result->rgb));
  g_assert_nonnull(g_hash_table_lookup(texts, HS_METADATA_PARAMETERS_KEY));
  g_assert_nonnull(g_hash_table_lookup(texts, HS_METADATA_JSON_KEY));
}

static void on_clipboard_texture(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture =
      gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(source), result, &error);

  g_assert_no_error(error);
  g_assert_cmpint(gdk_texture_get_width(texture), ==, first_result->width);
  *(gboolean *)data = TRUE;
}

static void test_copy(void)
{
  GdkClipboard *clipboard;
  gboolean read = FALSE;

  if (!engine_usable())
    return;
  /* Focus away from the prompt so Ctrl+C means the picture. */
  gtk_widget_grab_focus(GTK_WIDGET(window->generate_button));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.copy-image", NULL));
  clipboard = gtk_widget_get_clipboard(GTK_WIDGET(window));
  g_assert_true(gdk_clipboard_is_local(clipboard));
  gdk_clipboard_read_texture_async(clipboard, NULL, on_clipboard_texture, &read);
  spin_until(is_flag_set, &read, 30);
}

#ifdef HS_TEST_FAKE_ENGINE
static AdwMessageDialog *find_message_dialog(void)
{
  GListModel *toplevels = gtk_window_get_toplevels(); /* borrowed */

  for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
    g_autoptr(GObject) item = g_list_model_get_item(toplevels, i);
    if (ADW_IS_MESSAGE_DIALOG(item) && gtk_widget_get_visible(GTK_WIDGET(item)))
      return ADW_MESSAGE_DIALOG(item);
  }
  return NULL;
}

static gboolean is_ready_and_done(gpointer data)
{
  return _hs_window_get_state(window) == HS_WINDOW_READY &&
         g_str_equal(_hs_window_get_stage_text(window), "Done");
}

static gboolean has_message_dialog(gpointer data)
{
  return find_message_dialog() != NULL;
}

/* Out of GPU memory: a dialog in plain words offers the CPU; accepting reloads the model on the
 * CPU and makes the picture there. */
static void test_device_memory_error(void)
{
  AdwMessageDialog *dialog;

  g_settings_set_string(window->settings, "backend", "cuda");
  spin_until(is_ready, NULL, 30);
  type_prompt("fail:device-memory");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.generate", NULL));
  spin_until(has_message_dialog, NULL, 30);
  dialog = find_message_dialog();
  g_assert_cmpstr(adw_message_dialog_get_heading(dialog), ==, "Not Enough Graphics Memory");
  g_assert_true(adw_message_dialog_has_response(dialog, "cpu"));
  screenshot_of(GTK_WIDGET(dialog), "05-device-memory-dialog.png");
  /* What clicking “Run on CPU” does: the response, then the dialog closes. */
  adw_message_dialog_response(dialog, "cpu");
  gtk_window_close(GTK_WINDOW(dialog));
  g_assert_cmpstr(g_settings_get_string(window->settings, "backend"), ==, "cpu");
  /* Reloaded, then retried: wait for the retried picture. */
  spin_until(is_ready_and_done, NULL, 30);
  g_assert_nonnull(_hs_window_get_result(window));
  g_assert_null(find_message_dialog());
}
#endif

/* --- driver: the tests run inside the application's main loop ------------------------------ */

/* Removes a folder the test made (the history and model store of the run). */
static void remove_tree(const char *path)
{
  g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
      remove_tree(child);
    else
      g_unlink(child);
  }
  g_rmdir(path);
}

static int test_status;

static gboolean run_tests(gpointer data)
{
  window = HS_WINDOW(gtk_application_get_active_window(GTK_APPLICATION(app)));
  /* Screenshots show settled widgets, not cross-fades. */
  g_object_set(gtk_settings_get_default(), "gtk-enable-animations", FALSE, NULL);
  test_status = g_test_run();
  if (unexpected_warnings > 0) {
    g_printerr("%d unexpected warnings (see above)\n", unexpected_warnings);
    test_status = 1;
  }
  g_clear_pointer(&first_result, hs_image_unref);
  /* Closing the window ends the application; shutdown joins the engine thread. */
  gtk_window_destroy(GTK_WINDOW(window));
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
  g_autofree char *data_home = NULL;
  char *app_argv[] = { argv[0], NULL };
  int status;

  g_log_set_writer_func(log_writer, NULL, NULL);
  g_test_init(&argc, &argv, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  artifacts =
      g_strdup(g_getenv("HS_TEST_ARTIFACTS") ? g_getenv("HS_TEST_ARTIFACTS") : "ui-artifacts");
  g_mkdir_with_parents(artifacts, 0755);
  /* A fresh history and model store for every run (both live under XDG_DATA_HOME). */
  data_home = g_dir_make_tmp("hs-ui-data-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", data_home, TRUE);
#ifdef HS_TEST_FAKE_ENGINE
  /* 14 steps of 25 ms: long enough to watch previews and cancel, short for the test. */
  fake_engine_reset(14, 25000);
  model = g_dir_make_tmp("hs-fake-model-XXXXXX", NULL);
  text = g_strdup("");
#else
  /* The tiny golden model and the tiny Qwen2, as run.sh configures them. */
  text = hs_test_make_text_dir();
  skip_reason = hs_test_engine_skip_reason_with_text(text, &text_usable);
  model = hs_test_shared_path("golden/tiny");
#endif
  g_setenv("HART_STUDIO_MODEL_DIR", model, TRUE);
  if (text_usable)
    g_setenv("HART_STUDIO_TEXT_MODEL_DIR", text, TRUE);

  g_test_add_func("/ui/launch", test_launch);
  g_test_add_func("/ui/shortcuts", test_shortcuts);
  g_test_add_func("/ui/preferences-and-about", test_preferences_and_about);
  g_test_add_func("/ui/generate", test_generate);
  g_test_add_func("/ui/cancel", test_cancel);
  g_test_add_func("/ui/save", test_save);
  g_test_add_func("/ui/drag-file", test_drag_file);
  g_test_add_func("/ui/copy", test_copy);
#ifdef HS_TEST_FAKE_ENGINE
  g_test_add_func("/ui/device-memory-error", test_device_memory_error);
#endif

  app = hs_application_new(G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after(app, "activate", G_CALLBACK(on_activate), NULL);
  status = g_application_run(G_APPLICATION(app), 1, app_argv);
  g_assert_finalize_object(app);
#ifdef HS_TEST_FAKE_ENGINE
  g_rmdir(model);
#else
  hs_test_remove_text_dir(g_steal_pointer(&text));
#endif
  remove_tree(data_home);
  g_free(skip_reason);
  g_free(artifacts);
  return status != 0 ? status : test_status;
}
