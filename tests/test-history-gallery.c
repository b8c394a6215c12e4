/* test-history-gallery.c: the gallery in a real window (Xvfb): two images in the history show up
 * with thumbnails, a third appears as it "finishes", search, favorite and the favorites filter,
 * the detail page, reuse settings, delete with undo (and the purge that follows a dismissed
 * toast), and restoring settings from a PNG. Screenshots go to $HS_SCREENSHOT_DIR. */
#include <glib/gstdio.h>
#include <string.h>

#include "test-history-gallery-util.h"

typedef struct {
  HsGenParams *params;
  guint what;
  guint count;
} Reuse;

static void on_reuse(HsGalleryView *g, const HsGenParams *params, guint what, Reuse *r)
{
  hs_gen_params_free(r->params);
  r->params = hs_gen_params_copy(params);
  r->what = what;
  r->count++;
}

static gboolean reuse_arrived(gpointer data)
{
  return ((Reuse *)data)->count > 0;
}

static gboolean item_is_favorite(gpointer data)
{
  return hs_history_item_get_favorite(data);
}

static gboolean file_gone(gpointer data)
{
  return !g_file_test(data, G_FILE_TEST_EXISTS);
}

static gboolean toast_shown(gpointer data)
{
  return ((HsGalleryView *)data)->last_toast != NULL;
}

static void test_gallery(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autoptr(GError) error = NULL;
  HsHistory *history = hs_history_new(dir);
  HsHistoryItem *fox = th_add(history, "a red fox in the snow", 11, 64, 64, &error);
  HsHistoryItem *whale = th_add(history, "a blue whale", 22, 64, 64, &error), *third;
  g_autofree char *whale_path = g_strdup(hs_history_item_get_image_path(whale));
  GtkWidget *window;
  HsGalleryView *gallery;
  Reuse reuse = { 0 };
  g_autoptr(HsHistoryItem) selected = NULL;
  GPtrArray *rows;
  AdwToast *toast;

  g_assert_no_error(error);
  window = gtk_window_new();
  gtk_window_set_default_size(GTK_WINDOW(window), 900, 640);
  gallery = hs_gallery_view_new(history);
  g_signal_connect(gallery, "reuse", G_CALLBACK(on_reuse), &reuse);
  gtk_window_set_child(GTK_WINDOW(window), GTK_WIDGET(gallery));
  gtk_window_present(GTK_WINDOW(window));

  /* Both images, newest first, with their thumbnails loaded lazily. */
  wait_items(gallery, 2);
  wait_until(thumbnails_cached, gallery, "thumbnails");
  g_assert_cmpuint(find_prompt(gallery, "a blue whale"), ==, 0);
  screenshot(window, "gallery-01-two-images.png");

  /* A newly finished image appears at the top without a reload. */
  third = th_add(history, "a lighthouse at dusk", 33, 64, 64, &error);
  g_assert_no_error(error);
  wait_items(gallery, 3);
  g_assert_cmpuint(find_prompt(gallery, "a lighthouse at dusk"), ==, 0);
  wait_until(thumbnails_cached, gallery, "thumbnails");

  /* Search (FTS): Ctrl+F opens the bar; typing filters. */
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.search", NULL);
  g_assert_true(gtk_search_bar_get_search_mode(gallery->search_bar));
  gtk_editable_set_text(GTK_EDITABLE(gallery->search_entry), "fox");
  wait_items(gallery, 1);
  g_assert_cmpuint(find_prompt(gallery, "a red fox in the snow"), ==, 0);
  screenshot(window, "gallery-02-search.png");
  gtk_editable_set_text(GTK_EDITABLE(gallery->search_entry), "nothing-matches-this");
  wait_items(gallery, 0);
  g_assert_cmpstr(gtk_stack_get_visible_child_name(gallery->browse_stack), ==, "no-results");
  g_signal_emit_by_name(gallery->search_entry, "stop-search");
  wait_items(gallery, 3);
  g_assert_false(gtk_search_bar_get_search_mode(gallery->search_bar));

  /* Favorite the fox; the favorites filter shows it alone. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a red fox in the snow"));
  selected = g_object_ref(hs_gallery_view_get_selected(gallery));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.toggle-favorite", NULL);
  wait_until(item_is_favorite, selected, "the favorite flag");
  rows = th_list(history, NULL, TRUE, &error);
  g_assert_cmpuint(rows->len, ==, 1);
  g_assert_cmpstr(hs_history_item_get_prompt(g_ptr_array_index(rows, 0)), ==,
                  "a red fox in the snow");
  g_ptr_array_unref(rows);
  gtk_toggle_button_set_active(gallery->favorites_button, TRUE);
  wait_items(gallery, 1);
  screenshot(window, "gallery-03-favorites.png");
  gtk_toggle_button_set_active(gallery->favorites_button, FALSE);
  wait_items(gallery, 3);

  /* The detail page, then reuse: all settings, the seed alone. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a red fox in the snow"));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.open", NULL);
  g_assert_cmpstr(gtk_stack_get_visible_child_name(gallery->pages), ==, "detail");
  g_assert_cmpstr(gtk_label_get_text(gallery->detail_prompt), ==, "a red fox in the snow");
  screenshot(window, "gallery-04-detail.png");
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.reuse-all", NULL);
  g_assert_cmpuint(reuse.count, ==, 1);
  g_assert_cmpuint(reuse.what, ==, HS_GALLERY_REUSE_ALL);
  g_assert_cmpstr(reuse.params->prompt, ==, "a red fox in the snow");
  g_assert_cmpuint(reuse.params->seed, ==, 11);
  g_assert_cmpfloat(reuse.params->cfg, ==, 3.25);
  g_assert_false(reuse.params->smooth);
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.reuse-seed", NULL);
  g_assert_cmpuint(reuse.what, ==, HS_GALLERY_REUSE_SEED);
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.back", NULL);
  g_assert_cmpstr(gtk_stack_get_visible_child_name(gallery->pages), ==, "browse");

  /* Delete the whale: gone from the grid at once, back with Undo. */
  hs_gallery_view_select(gallery, find_prompt(gallery, "a blue whale"));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.delete", NULL);
  wait_items(gallery, 2);
  wait_until(toast_shown, gallery, "the undo toast");
  screenshot(window, "gallery-05-deleted-undo-toast.png");
  toast = gallery->last_toast;
  g_assert_true(g_file_test(whale_path, G_FILE_TEST_IS_REGULAR));
  /* What the toast's Undo button does: emit button-clicked, then dismiss. The screenshot above
   * waited for the toast to be on screen (libadwaita 1.2 can crash when a toast is dismissed
   * before its show animation ran; a person cannot click it sooner anyway). */
  g_signal_emit_by_name(toast, "button-clicked");
  adw_toast_dismiss(toast);
  wait_items(gallery, 3);
  settle(window);
  g_assert_true(g_file_test(whale_path, G_FILE_TEST_IS_REGULAR));

  /* Delete again and let the toast go: the file and the row are removed. */
  g_clear_weak_pointer(&gallery->last_toast);
  hs_gallery_view_select(gallery, find_prompt(gallery, "a blue whale"));
  gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.delete", NULL);
  wait_items(gallery, 2);
  wait_until(toast_shown, gallery, "the undo toast");
  settle(window);
  adw_toast_dismiss(gallery->last_toast);
  wait_until(file_gone, whale_path, "the purge of the deleted image");
  rows = th_list(history, "whale", FALSE, &error);
  g_assert_cmpuint(rows->len, ==, 0);
  g_ptr_array_unref(rows);
  screenshot(window, "gallery-06-after-delete.png");

  /* Drop a PNG: its settings come back through ::reuse. */
  {
    g_autoptr(GFile) file = g_file_new_for_path(hs_history_item_get_image_path(fox));
    reuse.count = 0;
    hs_gallery_view_restore_from_file(gallery, file);
    wait_until(reuse_arrived, &reuse, "settings from the PNG");
    g_assert_cmpuint(reuse.what, ==, HS_GALLERY_REUSE_ALL);
    g_assert_cmpstr(reuse.params->prompt, ==, "a red fox in the snow");
    g_assert_cmpuint(reuse.params->seed, ==, 11);
  }

  settle(window);
  gtk_window_destroy(GTK_WINDOW(window));
  while (g_main_context_iteration(NULL, FALSE))
    ;
  hs_gen_params_free(reuse.params);
  g_object_unref(fox);
  g_object_unref(whale);
  g_object_unref(third);
  g_clear_object(&selected);
  g_assert_finalize_object(history);
  th_rm_rf(dir);
}

static gboolean reindex_offered(gpointer data)
{
  HsGalleryView *g = data;
  return g->last_toast != NULL && strstr(adw_toast_get_title(g->last_toast), "no history entry");
}

/* A damaged database is moved aside; the gallery says so, finds the images that lost their rows
 * and restores them from their embedded settings when asked. */
static void test_recovery(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *db_path = g_build_filename(dir, "history.db", NULL);
  g_autoptr(GError) error = NULL;
  HsHistory *history = hs_history_new(dir);
  GtkWidget *window;
  HsGalleryView *gallery;
  const char *title;

  for (int i = 0; i < 2; i++) {
    HsHistoryItem *item =
        th_add(history, i ? "a green valley" : "a stormy sea", 40 + i, 64, 64, &error);
    g_assert_no_error(error);
    g_object_unref(item);
  }
  g_assert_finalize_object(history);
  g_assert_true(g_file_set_contents(db_path, "this is not a database at all", -1, NULL));

  history = hs_history_new(dir);
  window = gtk_window_new();
  gtk_window_set_default_size(GTK_WINDOW(window), 900, 640);
  gallery = hs_gallery_view_new(history);
  gtk_window_set_child(GTK_WINDOW(window), GTK_WIDGET(gallery));
  gtk_window_present(GTK_WINDOW(window));
  wait_until(reindex_offered, gallery, "the re-index offer");
  g_assert_nonnull(hs_history_get_notice(history));
  title = adw_toast_get_title(gallery->last_toast);
  g_test_message("toast: %s", title);
  g_assert_nonnull(strstr(title, "2 images"));
  wait_items(gallery, 0);
  screenshot(window, "gallery-07-recovery-offer.png");
  g_signal_emit_by_name(gallery->last_toast, "button-clicked");
  adw_toast_dismiss(gallery->last_toast);
  wait_items(gallery, 2);
  g_assert_cmpuint(find_prompt(gallery, "a green valley"), ==, 0);
  screenshot(window, "gallery-08-recovered.png");
  gtk_window_destroy(GTK_WINDOW(window));
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(history);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (!gtk_init_check()) {
    g_print("1..0 # SKIP no display (run under xvfb-run)\n");
    return 0; /* a TAP plan of 0 tests with SKIP: meson reports the test as skipped */
  }
  adw_init();
  g_test_add_func("/history/gallery/flow", test_gallery);
  g_test_add_func("/history/gallery/recovery", test_recovery);
  return g_test_run();
}
