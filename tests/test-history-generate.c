/* test-history-generate.c: generated images reach the gallery. Two images are generated with the
 * tiny model through HsEngineWorker (as the window does), recorded with hs_history_record_async(),
 * and appear in the gallery as they finish; then search, favorite, delete with undo and reuse
 * settings, with screenshots.
 *
 * Built twice: against libhart on shared/golden/tiny (skips while the engine cannot run it) and,
 * with HS_TEST_FAKE_ENGINE, against the scripted engine double so the flow runs everywhere. */
#include <glib/gstdio.h>

#include "hs-engine-worker.h"
#include "hs-history-record.h"
#include "test-history-gallery-util.h"

#ifdef HS_TEST_FAKE_ENGINE
#include "fake-engine.h"
#define SHOT_PREFIX "generate-fake-"
#else
#include "hs-test-context.h"
#define SHOT_PREFIX "generate-tiny-"
#endif

typedef struct {
  GAsyncResult *res;
} Wait;

static void on_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ((Wait *)data)->res = g_object_ref(res);
}

static gboolean arrived(gpointer data)
{
  return ((Wait *)data)->res != NULL;
}

typedef struct {
  HsGenParams *params;
  guint what;
} Reuse;

static void on_reuse(HsGalleryView *g, const HsGenParams *params, guint what, Reuse *r)
{
  hs_gen_params_free(r->params);
  r->params = hs_gen_params_copy(params);
  r->what = what;
}

static gboolean favorite_set(gpointer data)
{
  return hs_history_item_get_favorite(data);
}

static gboolean toast_shown(gpointer data)
{
  return ((HsGalleryView *)data)->last_toast != NULL;
}

static HsEngineWorker *open_worker(const char *model, const char *text, hart_engine_info *info)
{
  HsEngineWorker *worker = hs_engine_worker_new();
  g_autoptr(HsEngineOptions) options = hs_engine_options_new(model, text);
  g_autoptr(GError) error = NULL;
  Wait w = { NULL };

  options->backend = HART_BACKEND_CPU;
  hs_engine_worker_open_async(worker, options, NULL, on_ready, &w);
  wait_until(arrived, &w, "the model to load");
  g_assert_true(hs_engine_worker_open_finish(worker, w.res, &error));
  g_assert_no_error(error);
  g_object_unref(w.res);
  g_assert_true(hs_engine_worker_get_info(worker, info));
  g_test_message("engine: %s on %s; conditioning: %s", info->backend_name, info->device_name,
                 info->has_text_model ? "the prompt through the text model"
                                      : "the golden context tensor");
  return worker;
}

static HsRequest *make_request(const hart_engine_info *info, const char *prompt, guint64 seed)
{
  HsRequest *r = hs_request_new();

  r->prompt = g_strdup(prompt);
  r->seed = seed;
  r->cfg = 3.5;
  r->smooth = FALSE;
  r->preview_mode = HS_PREVIEW_OFF;
#ifndef HS_TEST_FAKE_ENGINE
  if (!info->has_text_model) {
    g_autoptr(GError) error = NULL;
    g_assert_true(hs_test_load_context("golden/tiny", &r->context, &r->context_mask,
                                       &r->context_position_ids, &error));
    g_assert_no_error(error);
  }
#endif
  return r;
}

/* Generates one image and records it, as the window does when a generation finishes. */
static void generate_and_record(HsEngineWorker *worker, HsHistory *history,
                                const hart_engine_info *info, const char *model,
                                const HsRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HsImage) image = NULL;
  g_autoptr(HsHistoryItem) item = NULL;
  Wait w = { NULL };

  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_ready, &w);
  wait_until(arrived, &w, "the generation");
  image = hs_engine_worker_generate_finish(worker, w.res, &error);
  g_assert_no_error(error);
  g_object_unref(w.res);
  w.res = NULL;
  hs_history_record_async(history, request, image, info, model, NULL, on_ready, &w);
  wait_until(arrived, &w, "the history row");
  item = hs_history_add_finish(history, w.res, &error);
  g_assert_no_error(error);
  g_object_unref(w.res);
  g_assert_cmpint(hs_history_item_get_params(item)->width, ==, image->width);
}

static void test_generate_browse(gconstpointer data)
{
  const char *model = ((const char *const *)data)[0];
  const char *text = ((const char *const *)data)[1];
  g_autofree char *dir = th_tmpdir();
  g_autoptr(GError) error = NULL;
  HsHistory *history = hs_history_new(dir);
  hart_engine_info info;
  HsEngineWorker *worker = open_worker(model, text, &info);
  g_autoptr(HsRequest) fox = make_request(&info, "a red fox in the snow", 101);
  g_autoptr(HsRequest) whale = make_request(&info, "a blue whale", 202);
  g_autoptr(HsHistoryItem) selected = NULL;
  GtkWidget *window = gtk_window_new();
  HsGalleryView *gallery = hs_gallery_view_new(history);
  Reuse reuse = { NULL, 0 };

  gtk_window_set_default_size(GTK_WINDOW(window), 900, 640);
  gtk_window_set_child(GTK_WINDOW(window), GTK_WIDGET(gallery));
  g_signal_connect(gallery, "reuse", G_CALLBACK(on_reuse), &reuse);
  gtk_window_present(GTK_WINDOW(window));
  wait_items(gallery, 0);

  /* Each image shows up as soon as it is finished and recorded. */
  generate_and_record(worker, history, &info, model, fox);
  wait_items(gallery, 1);
  generate_and_record(worker, history, &info, model, whale);
  wait_items(gallery, 2);
  g_assert_cmpuint(find_prompt(gallery, "a blue whale"), ==, 0);
  wait_until(thumbnails_cached, gallery, "thumbnails");
  screenshot(window, SHOT_PREFIX "01-two-images.png");

  /* Search one. */
  hs_gallery_view_start_search(gallery);
  gtk_editable_set_text(GTK_EDITABLE(gallery->search_entry), "whale");
  wait_items(gallery, 1);
  screenshot(window, SHOT_PREFIX "02-search.png");
  g_signal_emit_by_name(gallery->search_entry, "stop-search");
  wait_items(gallery, 2);

  /* Favorite the fox. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a red fox in the snow"));
  selected = g_object_ref(hs_gallery_view_get_selected(gallery));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.toggle-favorite", NULL);
  wait_until(favorite_set, selected, "the favorite");

  /* Delete the whale with undo. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a blue whale"));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.delete", NULL);
  wait_items(gallery, 1);
  wait_until(toast_shown, gallery, "the undo toast");
  screenshot(window, SHOT_PREFIX "03-deleted.png");
  g_signal_emit_by_name(gallery->last_toast, "button-clicked");
  adw_toast_dismiss(gallery->last_toast);
  wait_items(gallery, 2);
  settle(window);

  /* Reuse all settings of the fox: exactly what generated it. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a red fox in the snow"));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.open", NULL);
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.reuse-all", NULL);
  g_assert_nonnull(reuse.params);
  g_assert_cmpuint(reuse.what, ==, HS_GALLERY_REUSE_ALL);
  g_assert_cmpstr(reuse.params->prompt, ==, fox->prompt);
  g_assert_cmpuint(reuse.params->seed, ==, fox->seed);
  g_assert_cmpfloat(reuse.params->cfg, ==, fox->cfg);
  g_assert_cmpint(reuse.params->smooth, ==, fox->smooth);
  g_assert_cmpint(reuse.params->use_system_prompt, ==, fox->use_system_prompt);
  g_assert_cmpstr(reuse.params->backend, ==, info.backend_name);
  screenshot(window, SHOT_PREFIX "04-detail.png");

  settle(window);
  gtk_window_destroy(GTK_WINDOW(window));
  hs_engine_worker_shutdown(worker);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(worker);
  hs_gen_params_free(reuse.params);
  g_clear_object(&selected);
  g_assert_finalize_object(history);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  static const char *paths[2];
  g_autofree char *model = NULL;
  g_autofree char *text = NULL;
  int rc;

  g_test_init(&argc, &argv, NULL);
  if (!gtk_init_check()) {
    g_print("1..0 # SKIP no display (run under xvfb-run)\n");
    return 0; /* a TAP plan of 0 tests with SKIP: meson reports the test as skipped */
  }
  adw_init();
#ifdef HS_TEST_FAKE_ENGINE
  fake_engine_reset(4, 1000);
  model = g_dir_make_tmp("hs-fake-model-XXXXXX", NULL);
#else
  {
    gboolean text_usable = FALSE;
    g_autofree char *skip = hs_test_engine_skip_reason(&text_usable);
    model = hs_test_shared_path("golden/tiny");
    text = hs_test_shared_path("text/qwen2-tiny");
    if (!text_usable)
      g_clear_pointer(&text, g_free);
    if (skip != NULL) {
      g_print("1..0 # SKIP %s\n", skip);
      return 0; /* a TAP plan of 0 tests with SKIP: meson reports the test as skipped */
    }
  }
#endif
  paths[0] = model;
  paths[1] = text;
  g_test_add_data_func("/history/generate-and-browse", paths, test_generate_browse);
  rc = g_test_run();
#ifdef HS_TEST_FAKE_ENGINE
  g_rmdir(model);
#endif
  return rc;
}
