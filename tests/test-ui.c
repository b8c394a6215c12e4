/* test-ui.c: the real Hart Studio window on a private X server (run-under-xvfb.sh): launch, type
 * a prompt, generate with the tiny model, watch previews, cancel a run, save a PNG and read its
 * metadata back, copy to the clipboard; the History page (pictures recorded as they finish,
 * search, favorites, delete with undo, reuse settings, restore from a PNG); screenshots go to
 * $HS_TEST_ARTIFACTS, and the longest main-loop stall during a generation is measured.
 *
 * With HS_TEST_FIRST_RUN set, the same binary checks a first start instead: no model folder
 * configured, nothing installed, and a hub that cannot be reached. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "hs-test-render.h"
#include "hs-application.h"
#include "hs-gallery-view-private.h"
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
#ifndef HS_TEST_FAKE_ENGINE
/* The tiny Qwen2 folder main() makes. */
static char *text_dir;
#endif

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

static gboolean stack_settled(gpointer data)
{
  return !gtk_stack_get_transition_running(window->stack);
}

static gboolean is_flag_set(gpointer data)
{
  return *(gboolean *)data;
}

/* Renders the widget as it is now into <artifacts>/<name>. FALSE when it has nothing to render
 * yet (a relayout is pending). */
static gboolean try_screenshot_of(GtkWidget *widget, const char *name)
{
  g_autoptr(GdkTexture) texture = hs_test_try_render(widget);

  if (texture == NULL)
    return FALSE;
  hs_test_save_png(texture, artifacts, name);
  return TRUE;
}

static gboolean try_screenshot(const char *name)
{
  return try_screenshot_of(GTK_WIDGET(window), name);
}

static void screenshot_of(GtkWidget *widget, const char *name)
{
  g_autoptr(GdkTexture) texture = hs_test_render(widget);

  hs_test_save_png(texture, artifacts, name);
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
  /* The page change cross-fades (it started before the test turned animations off). */
  spin_until(stack_settled, NULL, 10);
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

/* --- history: pictures reach the gallery, search, favorite, delete with undo, reuse ----------- */

static HsGalleryView *gallery(void)
{
  return _hs_window_get_gallery(window);
}

static GListModel *gallery_model(void)
{
  return G_LIST_MODEL(hs_gallery_view_get_model(gallery()));
}

static gboolean gallery_has_n(gpointer data)
{
  return !hs_history_model_get_loading(hs_gallery_view_get_model(gallery())) &&
         g_list_model_get_n_items(gallery_model()) == GPOINTER_TO_UINT(data);
}

static void wait_gallery(guint n)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  HsHistoryModel *model = hs_gallery_view_get_model(gallery());

  while (!gallery_has_n(GUINT_TO_POINTER(n))) {
    if (g_get_monotonic_time() > deadline)
      g_error("the gallery shows %u pictures, not %u (query “%s”, favorites only: %d)",
              g_list_model_get_n_items(gallery_model()), n,
              hs_history_model_get_query(model) ? hs_history_model_get_query(model) : "",
              hs_history_model_get_favorites_only(model));
    g_main_context_iteration(NULL, FALSE);
    g_usleep(200);
  }
}

static gboolean gallery_loaded(gpointer data)
{
  return !hs_history_model_get_loading(hs_gallery_view_get_model(gallery()));
}

static gboolean thumbnails_loaded(gpointer data)
{
  guint n = g_list_model_get_n_items(gallery_model());

  for (guint i = 0; i < n; i++) {
    g_autoptr(HsHistoryItem) item = g_list_model_get_item(gallery_model(), i);
    if (hs_gallery_view_lookup_thumbnail(gallery(), hs_history_item_get_id(item)) == NULL)
      return FALSE;
  }
  return TRUE;
}

/* Position of the item with this prompt; fails the test when there is none. */
static guint find_prompt(const char *prompt)
{
  for (guint i = 0; i < g_list_model_get_n_items(gallery_model()); i++) {
    g_autoptr(HsHistoryItem) item = g_list_model_get_item(gallery_model(), i);
    if (g_str_equal(hs_history_item_get_prompt(item), prompt))
      return i;
  }
  g_error("no picture with the prompt “%s” in the gallery", prompt);
  return 0;
}

static HsHistoryItem *item_with_prompt(const char *prompt)
{
  return g_list_model_get_item(gallery_model(), find_prompt(prompt));
}

static gboolean is_favorite(gpointer item)
{
  return hs_history_item_get_favorite(item);
}

static gboolean gallery_toast_shown(gpointer data)
{
  return gallery()->last_toast != NULL;
}

static gboolean file_gone(gpointer path)
{
  return !g_file_test(path, G_FILE_TEST_EXISTS);
}

static gboolean is_done(gpointer data)
{
  return _hs_window_get_state(window) == HS_WINDOW_READY &&
         g_str_equal(_hs_window_get_stage_text(window), "Done");
}

static char *dup_prompt_text(void)
{
  GtkTextBuffer *buffer = _hs_window_get_prompt_buffer(window);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds(buffer, &start, &end);
  return gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
}

/* Sets the prompt panel as a user would and makes one picture. */
static HsImage *generate_with(const char *prompt, guint64 seed, double cfg, gboolean smooth,
                              gboolean system_prompt)
{
  type_prompt(prompt);
  gtk_toggle_button_set_active(window->seed_lock_button, TRUE);
  gtk_spin_button_set_value(window->seed_spin, (double)seed);
  gtk_spin_button_set_value(window->cfg_spin, cfg);
  gtk_switch_set_active(window->smooth_switch, smooth);
  gtk_switch_set_active(window->system_prompt_switch, system_prompt);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.generate", NULL));
  spin_until(is_ready, NULL, 300);
  g_assert_cmpstr(_hs_window_get_stage_text(window), ==, "Done");
  return hs_image_ref(_hs_window_get_result(window));
}

/* The recorded item holds what made the picture, and its PNG holds the picture itself. */
static void assert_recorded(HsHistoryItem *item, HsImage *image, guint64 seed, double cfg,
                            gboolean smooth, gboolean system_prompt)
{
  const HsGenParams *p = hs_history_item_get_params(item);
  g_autoptr(HsImage) back = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint(p->seed, ==, seed);
  g_assert_cmpfloat_with_epsilon(p->cfg, cfg, 1e-6);
  g_assert_cmpint(p->smooth, ==, smooth);
  g_assert_cmpint(p->use_system_prompt, ==, system_prompt);
  g_assert_cmpint(p->width, ==, image->width);
  g_assert_nonnull(p->backend);
  texts = hs_png_load(hs_history_item_get_image_path(item), &back, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(back->rgb, image->rgb));
}

static void assert_settings(const char *prompt, guint64 seed, double cfg, gboolean smooth,
                            gboolean system_prompt)
{
  g_autofree char *text = dup_prompt_text();

  g_assert_cmpstr(adw_view_stack_get_visible_child_name(window->view_stack), ==, "create");
  g_assert_cmpstr(text, ==, prompt);
  g_assert_cmpuint((guint64)gtk_spin_button_get_value(window->seed_spin), ==, seed);
  g_assert_true(gtk_toggle_button_get_active(window->seed_lock_button));
  g_assert_cmpfloat_with_epsilon(gtk_spin_button_get_value(window->cfg_spin), cfg, 1e-6);
  g_assert_cmpint(gtk_switch_get_active(window->smooth_switch), ==, smooth);
  g_assert_cmpint(gtk_switch_get_active(window->system_prompt_switch), ==, system_prompt);
}

static void show_history_page(void)
{
  adw_view_stack_set_visible_child_name(window->view_stack, "history");
  spin_until(thumbnails_loaded, NULL, 30);
}

static const char fox_prompt[] = "a red fox in the snow";
static const char whale_prompt[] = "a blue whale";

static void test_history(void)
{
  HsGalleryView *g = gallery();
  g_autoptr(HsImage) fox = NULL;
  g_autoptr(HsImage) whale = NULL;
  g_autoptr(HsImage) again = NULL;
  g_autoptr(HsHistoryItem) fox_item = NULL;
  g_autoptr(HsHistoryItem) whale_item = NULL;
  g_autofree char *whale_path = NULL;
  guint n0;

  if (!engine_usable())
    return;
  g_assert_nonnull(g);
  spin_until(gallery_loaded, NULL, 30);
  /* The pictures of the earlier tests are there already, newest first. */
  n0 = g_list_model_get_n_items(gallery_model());
  g_assert_cmpuint(n0, >=, 1);

  /* Two pictures appear in the gallery as each one finishes. */
  fox = generate_with(fox_prompt, 1234, 3.0, FALSE, FALSE);
  wait_gallery(n0 + 1);
  whale = generate_with(whale_prompt, 5678, 4.5, TRUE, TRUE);
  wait_gallery(n0 + 2);
  g_assert_cmpuint(find_prompt(whale_prompt), ==, 0);
  g_assert_cmpuint(find_prompt(fox_prompt), ==, 1);
  fox_item = item_with_prompt(fox_prompt);
  whale_item = item_with_prompt(whale_prompt);
  assert_recorded(fox_item, fox, 1234, 3.0, FALSE, FALSE);
  assert_recorded(whale_item, whale, 5678, 4.5, TRUE, TRUE);
  whale_path = g_strdup(hs_history_item_get_image_path(whale_item));
  show_history_page();
  screenshot("10-history.png");

  /* Ctrl+F from anywhere: the History page with its search bar; one picture matches. */
  adw_view_stack_set_visible_child_name(window->view_stack, "create");
  assert_accel("win.search", "<Control>f");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.search", NULL));
  g_assert_cmpstr(adw_view_stack_get_visible_child_name(window->view_stack), ==, "history");
  g_assert_true(gtk_search_bar_get_search_mode(g->search_bar));
  gtk_editable_set_text(GTK_EDITABLE(g->search_entry), "whale");
  wait_gallery(1);
  g_assert_cmpuint(find_prompt(whale_prompt), ==, 0);
  spin_until(thumbnails_loaded, NULL, 30);
  screenshot("11-search.png");
  g_signal_emit_by_name(g->search_entry, "stop-search");
  wait_gallery(n0 + 2);

  /* Favorite the fox; the favorites filter then shows it alone. */
  hs_gallery_view_select(g, find_prompt(fox_prompt));
  /* The search reloaded the items: the selected object is the one that changes. */
  g_set_object(&fox_item, hs_gallery_view_get_selected(g));
  g_assert_false(hs_history_item_get_favorite(fox_item));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.toggle-favorite", NULL));
  spin_until(is_favorite, fox_item, 30);
  gtk_toggle_button_set_active(g->favorites_button, TRUE);
  wait_gallery(1);
  g_assert_cmpuint(find_prompt(fox_prompt), ==, 0);
  spin_until(thumbnails_loaded, NULL, 30);
  screenshot("12-favorites.png");
  gtk_toggle_button_set_active(g->favorites_button, FALSE);
  wait_gallery(n0 + 2);

  /* Delete the whale, then undo: it comes back with its file. */
  hs_gallery_view_select(g, find_prompt(whale_prompt));
  g_clear_weak_pointer(&g->last_toast);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.delete", NULL));
  wait_gallery(n0 + 1);
  spin_until(gallery_toast_shown, NULL, 30);
  g_assert_cmpstr(adw_toast_get_title(g->last_toast), ==, "Image deleted");
  screenshot("13-deleted.png");
  g_signal_emit_by_name(g->last_toast, "button-clicked");
  adw_toast_dismiss(g->last_toast);
  wait_gallery(n0 + 2);
  g_assert_true(g_file_test(whale_path, G_FILE_TEST_EXISTS));

  /* Delete it for good: once the toast goes without undo, the file goes too. */
  hs_gallery_view_select(g, find_prompt(whale_prompt));
  g_clear_weak_pointer(&g->last_toast);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.delete", NULL));
  wait_gallery(n0 + 1);
  spin_until(gallery_toast_shown, NULL, 30);
  adw_toast_dismiss(g->last_toast);
  spin_until(file_gone, whale_path, 30);

  /* Reuse all settings of the fox from its detail page: the prompt panel gets exactly what
   * made it, and generating again makes the same picture. */
  hs_image_unref(generate_with("something else entirely", 99, 7.0, TRUE, TRUE));
  wait_gallery(n0 + 2);
  gtk_toggle_button_set_active(window->seed_lock_button, FALSE);
  show_history_page();
  hs_gallery_view_select(g, find_prompt(fox_prompt));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.open", NULL));
  screenshot("14-detail.png");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.reuse-all", NULL));
  assert_settings(fox_prompt, 1234, 3.0, FALSE, FALSE);
  screenshot("15-reused.png");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.generate", NULL));
  spin_until(is_done, NULL, 300);
  again = hs_image_ref(_hs_window_get_result(window));
  g_assert_true(g_bytes_equal(again->rgb, fox->rgb));
  wait_gallery(n0 + 3);

  /* Reuse the seed alone, then the prompt alone. */
  type_prompt("keep this prompt");
  gtk_spin_button_set_value(window->seed_spin, 7);
  adw_view_stack_set_visible_child_name(window->view_stack, "history");
  hs_gallery_view_select(g, find_prompt(fox_prompt));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.reuse-seed", NULL));
  assert_settings("keep this prompt", 1234, 3.0, FALSE, FALSE);
  gtk_spin_button_set_value(window->seed_spin, 7);
  adw_view_stack_set_visible_child_name(window->view_stack, "history");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(g), "gallery.reuse-prompt", NULL));
  assert_settings(fox_prompt, 7, 3.0, FALSE, FALSE);
}

static gboolean prompt_is(gpointer data)
{
  g_autofree char *text = dup_prompt_text();

  return g_str_equal(text, data);
}

/* A PNG dropped on the window restores its settings (the window's drop target hands the file to
 * the gallery, which reads it off the main thread): the picture saved by /ui/save. */
static void test_restore_from_png(void)
{
  g_autofree char *path = NULL;
  g_autoptr(GFile) file = NULL;

  if (!engine_usable())
    return;
  path = g_build_filename(artifacts, "saved.png", NULL);
  file = g_file_new_for_path(path);
  type_prompt("to be replaced");
  gtk_spin_button_set_value(window->cfg_spin, 9.0);
  hs_gallery_view_restore_from_file(gallery(), file);
  spin_until(prompt_is, (gpointer) "a lighthouse on a cliff at sunset, oil painting", 30);
  assert_settings("a lighthouse on a cliff at sunset, oil painting", first_seed, 4.5, TRUE, TRUE);
  screenshot("16-restored.png");
}

/* --- first run: nothing configured, nothing installed, no network ------------------------- */

static GtkWidget *find_descendant(GtkWidget *root, GType type)
{
  for (GtkWidget *child = gtk_widget_get_first_child(root); child != NULL;
       child = gtk_widget_get_next_sibling(child)) {
    GtkWidget *found;
    if (G_TYPE_CHECK_INSTANCE_TYPE(child, type))
      return child;
    if ((found = find_descendant(child, type)) != NULL)
      return found;
  }
  return NULL;
}

typedef struct {
  gboolean finished;
  GError *error;
} DownloadEnd;

static void on_download_finished(HsModelStore *store, const GError *error, DownloadEnd *end)
{
  end->finished = TRUE;
  end->error = error ? g_error_copy(error) : NULL;
}

static void test_first_run(void)
{
  HsModelsFirstRun *first_run = _hs_window_get_first_run(window);
  HsModelStore *store = hs_application_get_model_store(app);
  GtkWidget *button;
  GtkWindow *prefs;
  GtkWidget *models_page;
  DownloadEnd end = { FALSE, NULL };
  gint64 start_us;
  gulong handler;

  spin_until(is_not_loading, NULL, 30);
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_NO_MODEL);
  g_assert_cmpstr(_hs_window_get_page(window), ==, "first-run");
  g_assert_nonnull(first_run);
  g_assert_true(gtk_widget_get_mapped(GTK_WIDGET(first_run)));
  g_assert_false(gtk_widget_is_sensitive(GTK_WIDGET(window->generate_button)) &&
                 gtk_widget_get_mapped(GTK_WIDGET(window->generate_button)));
  screenshot("20-first-run.png");

  /* The history can be browsed before any model is there. */
  adw_view_stack_set_visible_child_name(window->view_stack, "history");
  spin_until(gallery_has_n, GUINT_TO_POINTER(0), 30);
  screenshot("21-history-empty.png");
  adw_view_stack_set_visible_child_name(window->view_stack, "create");

  /* Download from a hub that cannot be reached: it fails with a message, promptly. */
  button = find_descendant(hs_models_first_run_get_download_view(first_run), GTK_TYPE_BUTTON);
  g_assert_nonnull(button);
  handler = g_signal_connect(store, "download-finished", G_CALLBACK(on_download_finished), &end);
  start_us = g_get_monotonic_time();
  g_signal_emit_by_name(button, "clicked");
  g_assert_true(hs_model_store_get_downloading(store));
  spin_until(is_flag_set, &end.finished, 120);
  g_signal_handler_disconnect(store, handler);
  g_test_message("the download failed after %.1f s: %s", (g_get_monotonic_time() - start_us) / 1e6,
                 end.error ? end.error->message : "(no error)");
  g_assert_nonnull(end.error);
  g_assert_false(g_error_matches(end.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_assert_false(hs_model_store_get_downloading(store));
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_NO_MODEL);
  g_assert_cmpstr(_hs_window_get_page(window), ==, "first-run");
  screenshot("22-first-run-offline.png");
  g_clear_error(&end.error);

  /* Preferences has the Models page over the same store. */
  g_action_group_activate_action(G_ACTION_GROUP(app), "preferences", NULL);
  prefs = find_toplevel(ADW_TYPE_PREFERENCES_WINDOW);
  g_assert_nonnull(prefs);
  models_page = find_descendant(GTK_WIDGET(prefs), HS_TYPE_MODELS_PAGE);
  g_assert_nonnull(models_page);
  g_assert_cmpuint(hs_models_page_get_n_entries(HS_MODELS_PAGE(models_page)), ==, 0);
  adw_preferences_window_set_visible_page(ADW_PREFERENCES_WINDOW(prefs),
                                          ADW_PREFERENCES_PAGE(models_page));
  screenshot_of(GTK_WIDGET(prefs), "23-preferences-models.png");
  gtk_window_destroy(prefs);
}

#ifndef HS_TEST_FAKE_ENGINE
static gboolean window_not_loading(gpointer data)
{
  return _hs_window_get_state(data) != HS_WINDOW_LOADING;
}

static char *import_into_store(HsModelStore *store, const char *folder)
{
  g_autoptr(GError) error = NULL;
  char *entry = hs_model_store_import_sync(store, folder, NULL, NULL, NULL, &error);

  g_assert_no_error(error);
  g_test_message("imported %s into %s", folder, entry);
  return entry;
}

/* After the first-run page got both parts into the store (as its "Import Existing Folder…"
 * does), the window opens them and remembers them; a later window with nothing configured finds
 * them in the store by itself. */
static void test_first_run_import(void)
{
  HsModelStore *store = hs_application_get_model_store(app);
  g_autofree char *tiny = hs_test_shared_path("golden/tiny");
  g_autofree char *hart_entry = NULL;
  g_autofree char *text_entry = NULL;
  g_autofree char *hart_ready = NULL;
  g_autofree char *text_ready = NULL;
  g_autofree char *setting = NULL;
  HsWindow *second;

  if (!engine_usable())
    return;
  if (!text_usable) {
    g_test_skip("the tiny text encoder is not usable");
    return;
  }
  hart_entry = import_into_store(store, tiny);
  text_entry = import_into_store(store, text_dir);
  g_assert_true(
      hs_model_store_find_ready(store, hs_model_release_default(), &hart_ready, &text_ready));
  g_assert_cmpstr(hart_ready, ==, hart_entry);
  g_assert_cmpstr(text_ready, ==, text_entry);

  /* What HsModelsFirstRun emits once both parts are installed. */
  g_signal_emit_by_name(_hs_window_get_first_run(window), "ready", hart_ready, text_ready);
  spin_until(is_not_loading, NULL, 120);
  g_assert_cmpint(_hs_window_get_state(window), ==, HS_WINDOW_READY);
  g_assert_cmpstr(_hs_window_get_page(window), ==, "main");
  g_assert_cmpstr(window->model_dir, ==, hart_entry);
  setting = g_settings_get_string(window->settings, "model-dir");
  g_assert_cmpstr(setting, ==, hart_entry);
  spin_until(stack_settled, NULL, 10);
  screenshot("24-first-run-ready.png");

  /* Nothing configured, but the store has a ready model: a new window opens it. */
  g_settings_reset(window->settings, "model-dir");
  g_settings_reset(window->settings, "text-model-dir");
  second = hs_window_new(ADW_APPLICATION(app), hs_application_get_worker(app),
                         hs_application_get_history(app), store);
  gtk_window_present(GTK_WINDOW(second));
  spin_until(window_not_loading, second, 120);
  g_assert_cmpint(_hs_window_get_state(second), ==, HS_WINDOW_READY);
  g_assert_cmpstr(second->model_dir, ==, hart_entry);
  g_assert_cmpstr(second->text_model_dir, ==, text_entry);
  gtk_window_destroy(GTK_WINDOW(second));
}
#endif

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
  gboolean first_run = g_getenv("HS_TEST_FIRST_RUN") != NULL;
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
  text_dir = text;
  skip_reason = hs_test_engine_skip_reason_with_text(text, &text_usable);
  model = hs_test_shared_path("golden/tiny");
#endif
  if (first_run) {
    /* Nothing configured (the memory settings backend starts empty) and a hub that refuses
     * connections: the first-run page must show and fail cleanly. */
    g_unsetenv("HART_STUDIO_MODEL_DIR");
    g_unsetenv("HART_STUDIO_TEXT_MODEL_DIR");
    /* No demo model either: it would open instead of the first-run page (test-ui-demo.c
     * checks that start). */
    g_setenv("HART_STUDIO_DEMO_MODEL_DIR", "", TRUE);
    g_setenv("HART_STUDIO_HUB_URL", "http://127.0.0.1:9", TRUE);
  } else {
    g_setenv("HART_STUDIO_MODEL_DIR", model, TRUE);
    if (text_usable)
      g_setenv("HART_STUDIO_TEXT_MODEL_DIR", text, TRUE);
  }

  if (first_run) {
    g_test_add_func("/ui/first-run", test_first_run);
#ifndef HS_TEST_FAKE_ENGINE
    g_test_add_func("/ui/first-run-import", test_first_run_import);
#endif
  } else {
    g_test_add_func("/ui/launch", test_launch);
    g_test_add_func("/ui/shortcuts", test_shortcuts);
    g_test_add_func("/ui/preferences-and-about", test_preferences_and_about);
    g_test_add_func("/ui/generate", test_generate);
    g_test_add_func("/ui/cancel", test_cancel);
    g_test_add_func("/ui/save", test_save);
    g_test_add_func("/ui/drag-file", test_drag_file);
    g_test_add_func("/ui/copy", test_copy);
    g_test_add_func("/ui/history", test_history);
    g_test_add_func("/ui/restore-from-png", test_restore_from_png);
#ifdef HS_TEST_FAKE_ENGINE
    g_test_add_func("/ui/device-memory-error", test_device_memory_error);
#endif
  }

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
