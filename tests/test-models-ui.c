/* test-models-ui.c: the first-run view and the Models page in real windows (run under Xvfb by
 * meson): a download from the loopback hub with visible progress, cancel (pause), resume after
 * the window that started it was closed, and the installed list. Screenshots of each step go to
 * $HS_TEST_ARTIFACTS. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "hs-fake-hub.h"
#include "hs-model-fs.h"
#include "hs-models-download-view.h"
#include "hs-models-page.h"
#include "hs-test-render.h"

static const HsModelRelease fake_release = {
  .name = "fake",
  .components = { { HS_MODEL_PART_HART, HS_FAKE_HART_REPO, "a1b2c3d", NULL, 0 },
                  { HS_MODEL_PART_TEXT, HS_FAKE_TEXT_REPO, "main", NULL, 0 } },
  .n_components = 2,
};

static gboolean tick(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

typedef gboolean (*Condition)(gpointer data);

/* Runs the main loop until cond holds; fails the test after timeout_s. */
static void wait_for(Condition cond, gpointer data, double timeout_s, const char *what)
{
  gint64 end = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  guint id = g_timeout_add(10, tick, NULL);
  while (!cond(data)) {
    if (g_get_monotonic_time() > end)
      g_error("timed out waiting for %s", what);
    g_main_context_iteration(NULL, TRUE);
  }
  g_source_remove(id);
}

static gboolean frames_done(gpointer data)
{
  return --*(int *)data <= 0;
}

/* Lets the window lay out and draw (a few main-loop rounds after mapping). */
static void settle(GtkWidget *window)
{
  int rounds = 30;
  gtk_test_widget_wait_for_draw(window);
  wait_for(frames_done, &rounds, 5, "frames");
}

/* Saves the window as <HS_TEST_ARTIFACTS>/name. The render is retried frame by frame: while a
 * relayout is pending (the progress label changes many times a second during a download) the
 * window has no render node. */
static void screenshot(GtkWidget *window, const char *name)
{
  const char *dir = g_getenv("HS_TEST_ARTIFACTS");
  g_autoptr(GdkTexture) texture = NULL;

  if (dir == NULL)
    return;
  g_mkdir_with_parents(dir, 0755);
  for (int attempt = 0; texture == NULL && attempt < 100; attempt++) {
    int rounds = 3;
    wait_for(frames_done, &rounds, 5, "a frame");
    texture = hs_test_try_render(window);
  }
  if (texture == NULL)
    g_error("%s: no render node for the %dx%d window", name, gtk_widget_get_width(window),
            gtk_widget_get_height(window));
  hs_test_save_png(texture, dir, name);
}

static GtkWidget *window_with(GtkWidget *child, int width, int height)
{
  GtkWidget *window = gtk_window_new();
  gtk_window_set_default_size(GTK_WINDOW(window), width, height);
  gtk_window_set_child(GTK_WINDOW(window), child);
  gtk_window_present(GTK_WINDOW(window));
  settle(window);
  return window;
}

typedef struct {
  HsModelStore *store;
  HsModelsDownloadView *view;
  const char *path;
} Watch;

static gboolean downloading_file(gpointer data)
{
  Watch *w = data;
  const HsModelProgress *p = hs_model_store_get_last_progress(w->store);
  return p->phase == HS_MODEL_PHASE_DOWNLOADING && g_strcmp0(p->path, w->path) == 0 &&
         gtk_progress_bar_get_fraction(hs_models_download_view_get_progress_bar(w->view)) > 0.05;
}

static gboolean not_downloading(gpointer data)
{
  return !hs_model_store_get_downloading(((Watch *)data)->store);
}

static void click(GtkWidget *button)
{
  g_signal_emit_by_name(button, "clicked");
}

static void test_first_run_download(void)
{
  HsFakeHub *hub = hs_fake_hub_new_release();
  g_autofree char *tmp = NULL;
  g_autofree char *root = NULL;
  g_autoptr(HsModelStore) store = NULL;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  HsDownloadPolicy policy;
  GtkWidget *first_run, *window, *page;
  Watch w = { 0 };
  HsFakeHubCounts c;

  if (hub == NULL) {
    g_test_skip("shared data not found (HART_SHARED)");
    return;
  }
  tmp = g_dir_make_tmp("hs-models-ui-XXXXXX", NULL);
  root = g_build_filename(tmp, "models", NULL);
  store = hs_model_store_new(root);
  hs_download_policy_init(&policy);
  policy.backoff_initial_ms = 5;
  hs_model_store_set_policy(store, &policy);

  first_run = hs_models_first_run_new(store, &fake_release, hs_fake_hub_url(hub));
  window = window_with(first_run, 720, 640);
  screenshot(window, "01-first-run.png");

  /* Download with a slow file so that progress is visible mid-way. */
  hs_fake_hub_push_fault(hub, HS_FAKE_TEXT_REPO, "tokenizer.json", HS_FAULT_SLOW);
  hs_fake_hub_push_fault(hub, HS_FAKE_TEXT_REPO, "tokenizer.json", HS_FAULT_SLOW);
  w.store = store;
  w.view = HS_MODELS_DOWNLOAD_VIEW(
      hs_models_first_run_get_download_view(HS_MODELS_FIRST_RUN(first_run)));
  w.path = "tokenizer.json";
  click(hs_models_download_view_get_button(w.view));
  g_assert_true(hs_model_store_get_downloading(store));
  wait_for(downloading_file, &w, 30, "progress on tokenizer.json");
  g_assert_nonnull(strstr(hs_models_download_view_get_status(w.view), " of "));
  g_assert_nonnull(strstr(hs_models_download_view_get_status(w.view), "file"));
  g_assert_cmpstr(gtk_button_get_label(GTK_BUTTON(hs_models_download_view_get_button(w.view))), ==,
                  "_Cancel");
  screenshot(window, "02-downloading.png");

  /* Cancel = pause. */
  click(hs_models_download_view_get_button(w.view));
  wait_for(not_downloading, &w, 10, "the download to stop");
  g_assert_nonnull(strstr(hs_models_download_view_get_status(w.view), "Paused"));
  g_assert_cmpstr(gtk_button_get_label(GTK_BUTTON(hs_models_download_view_get_button(w.view))), ==,
                  "_Resume");
  settle(window);
  screenshot(window, "03-paused.png");

  /* Resume, then close the window: the download belongs to the store and finishes. */
  click(hs_models_download_view_get_button(w.view));
  g_assert_true(hs_model_store_get_downloading(store));
  gtk_window_destroy(GTK_WINDOW(window));
  g_assert_true(hs_model_store_get_downloading(store));
  wait_for(not_downloading, &w, 30, "the download to finish");
  g_assert_true(hs_model_store_find_ready(store, &fake_release, &hart, &text));
  c = hs_fake_hub_counts(hub, HS_FAKE_TEXT_REPO, "tokenizer.json");
  g_assert_cmpuint(c.range_requests, ==, 1); /* resumed, not restarted */
  g_assert_cmpuint(c.last_range_start, >, 0);

  /* The Models page lists both parts. */
  page = hs_models_page_new(store, &fake_release, hs_fake_hub_url(hub));
  g_assert_cmpuint(hs_models_page_get_n_entries(HS_MODELS_PAGE(page)), ==, 2);
  window = window_with(page, 720, 760);
  screenshot(window, "04-models-page.png");
  gtk_window_destroy(GTK_WINDOW(window));

  hs_fs_remove_tree(tmp, NULL);
  hs_fake_hub_free(hub);
}

typedef struct {
  HsModelsPage *page;
  guint want;
} EntriesWatch;

static gboolean has_entries(gpointer data)
{
  EntriesWatch *w = data;
  return hs_models_page_get_n_entries(w->page) >= w->want;
}

/* Import through the Models page (what its folder chooser does), off the main thread. */
static void test_page_import(void)
{
  const char *shared = g_getenv("HART_SHARED");
  g_autofree char *tiny =
      g_build_filename(shared ? shared : "/nonexistent", "golden", "tiny", NULL);
  g_autofree char *tmp = NULL;
  g_autofree char *root = NULL;
  g_autoptr(HsModelStore) store = NULL;
  EntriesWatch w;
  GtkWidget *page, *window;

  if (!g_file_test(tiny, G_FILE_TEST_IS_DIR)) {
    g_test_skip("shared data not found (HART_SHARED)");
    return;
  }
  tmp = g_dir_make_tmp("hs-models-ui-XXXXXX", NULL);
  root = g_build_filename(tmp, "models", NULL);
  store = hs_model_store_new(root);
  page = hs_models_page_new(store, hs_model_release_default(), "http://127.0.0.1:9");
  window = window_with(page, 720, 640);
  screenshot(window, "05-models-page-empty.png");
  w.page = HS_MODELS_PAGE(page);
  w.want = 1;
  hs_models_page_import(w.page, tiny);
  wait_for(has_entries, &w, 60, "the import");
  screenshot(window, "06-models-page-imported.png");
  gtk_window_destroy(GTK_WINDOW(window));
  hs_fs_remove_tree(tmp, NULL);
}

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv("GTK_A11Y", "none", TRUE);
  if (g_getenv("DISPLAY") == NULL && g_getenv("WAYLAND_DISPLAY") == NULL) {
    g_print("1..0 # SKIP no display\n");
    return 77;
  }
  gtk_test_init(&argc, &argv, NULL);
  adw_init();
  g_test_add_func("/models-ui/first-run-download", test_first_run_download);
  g_test_add_func("/models-ui/page-import", test_page_import);
  return g_test_run();
}
