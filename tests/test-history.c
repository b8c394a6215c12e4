/* test-history.c: the history store against real SQLite files and real PNGs in a temp folder:
 * insert/list/search/favorite/delete/undo/purge, migration from v1, reconcile after simulated
 * crashes, damaged and newer databases, a read-only folder and a full disk. */
#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include "hs-history-model.h"
#include "hs-history-schema.h"
#include "test-history-util.h"

/* --- helpers --- */

static sqlite3 *open_raw(const char *dir)
{
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);
  sqlite3 *db = NULL;

  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  return db;
}

static gint64 query_int(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *st = NULL;
  gint64 v;

  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static HsHistoryItem *item_at(GPtrArray *items, guint i)
{
  g_assert_cmpuint(i, <, items->len);
  return g_ptr_array_index(items, i);
}

/* Drops the last reference and checks nothing else holds it (worker joined, no leaks). */
static void finalize_history(HsHistory *h)
{
  /* Callbacks scheduled by completed tasks may still hold references: let them run. */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(h);
}

/* --- insert, list, fields --- */

static void test_add_list(void)
{
  g_autofree char *dir = th_tmpdir();
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryItem) a = NULL, b = NULL, c = NULL;
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(HsGenParams) meta = NULL;
  g_autoptr(GBytes) thumb = NULL;
  g_autofree guint8 *want = th_pattern(300, 200, G_MAXUINT64);
  g_autofree guint8 *got = NULL;
  g_autofree char *thumb_path = NULL;
  g_autofree guint8 *thumb_px = NULL;
  const HsGenParams *p;
  int w = 0, hgt = 0;

  g_assert_true(th_open(h, &error));
  g_assert_no_error(error);
  g_assert_false(hs_history_get_read_only(h));
  g_assert_null(hs_history_get_notice(h));
  a = th_add(h, "a lighthouse at dusk", 1, 64, 64, &error);
  g_assert_no_error(error);
  b = th_add(h, "a red fox in the snow", 2, 64, 32, &error);
  g_assert_no_error(error);
  /* The largest seed survives the int64 column and the JSON chunk. */
  c = th_add(h, "ünïcödé prompt ✓", G_MAXUINT64, 300, 200, &error);
  g_assert_no_error(error);
  g_assert_cmpint(hs_history_item_get_id(a), <, hs_history_item_get_id(c));

  items = th_list(h, NULL, FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(items->len, ==, 3);
  /* Newest first. */
  g_assert_cmpint(hs_history_item_get_id(item_at(items, 0)), ==, hs_history_item_get_id(c));
  g_assert_cmpint(hs_history_item_get_id(item_at(items, 2)), ==, hs_history_item_get_id(a));
  p = hs_history_item_get_params(item_at(items, 0));
  g_assert_cmpstr(p->prompt, ==, "ünïcödé prompt ✓");
  g_assert_cmpuint(p->seed, ==, G_MAXUINT64);
  g_assert_cmpfloat(p->cfg, ==, 3.25);
  g_assert_false(p->smooth);
  g_assert_true(p->use_system_prompt);
  g_assert_cmpstr(p->model_name, ==, "hart-0.7b-1024px");
  g_assert_cmpstr(p->model_revision, ==, "b9e0976");
  g_assert_cmpstr(p->model_hash, ==, "0123456789abcdef");
  g_assert_cmpstr(p->engine_version, ==, "0.1.0");
  g_assert_cmpstr(p->backend, ==, "cpu");
  g_assert_cmpstr(p->device, ==, "CPU (2 threads)");
  g_assert_cmpfloat(p->t_transformer, ==, 10.25);
  g_assert_cmpfloat(p->t_total, ==, 14.25);
  g_assert_cmpint(p->width, ==, 300);
  g_assert_cmpint(p->height, ==, 200);
  g_assert_cmpint(p->created_us, >, 0);
  g_assert_false(hs_history_item_get_favorite(item_at(items, 0)));
  g_assert_false(hs_history_item_get_missing(item_at(items, 0)));

  /* The PNG holds exactly the pixels and the settings. */
  got = th_png_pixels(hs_history_item_get_image_path(c), &w, &hgt);
  g_assert_nonnull(got);
  g_assert_cmpint(w, ==, 300);
  g_assert_cmpint(hgt, ==, 200);
  g_assert_cmpmem(got, 300 * 200 * 3, want, 300 * 200 * 3);
  g_assert_true(hs_png_meta_read(hs_history_item_get_image_path(c), &meta, &error));
  g_assert_no_error(error);
  g_assert_cmpint(meta->source, ==, HS_PNG_META_SOURCE_HART);
  g_assert_cmpstr(meta->prompt, ==, "ünïcödé prompt ✓");
  g_assert_cmpuint(meta->seed, ==, G_MAXUINT64);
  g_assert_cmpint(meta->created_us, ==, p->created_us);

  /* The thumbnail fits in 256 pixels, keeps the aspect ratio, and is the box-filtered image. */
  thumb = th_thumbnail(h, hs_history_item_get_id(c), &error);
  g_assert_no_error(error);
  thumb_path = g_build_filename(dir, "thumb.png", NULL);
  g_assert_true(g_file_set_contents(thumb_path, g_bytes_get_data(thumb, NULL),
                                    (gssize)g_bytes_get_size(thumb), NULL));
  thumb_px = th_png_pixels(thumb_path, &w, &hgt);
  g_assert_nonnull(thumb_px);
  g_assert_cmpint(w, ==, 150);
  g_assert_cmpint(hgt, ==, 100);
  {
    /* Pixel (0,0) of the thumbnail = mean of the 2x2 block, rounded. */
    guint sum = want[0] + want[3] + want[300 * 3] + want[300 * 3 + 3];
    g_assert_cmpuint(thumb_px[0], ==, (sum + 2) / 4);
  }
  g_clear_object(&a);
  g_clear_object(&b);
  g_clear_object(&c);
  g_clear_pointer(&items, g_ptr_array_unref);
  finalize_history(h);
  th_rm_rf(dir);
}

/* Invalid input to add: clear errors, nothing written. */
static void on_add_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GError **error = data;
  HsHistoryItem *item = hs_history_add_finish(HS_HISTORY(source), res, error);
  g_assert_null(item);
}

static void test_add_invalid(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsGenParams) p = th_params("x", 1);
  g_autoptr(GBytes) short_rgb = g_bytes_new_static("abc", 3);
  HsHistoryItem *item;

  item = th_add(h, "bad \xff utf-8", 1, 8, 8, &error);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID);
  g_assert_null(item);
  g_clear_error(&error);
  item = th_add(h, "no pixels", 1, 0, 8, &error);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID);
  g_assert_null(item);
  g_clear_error(&error);
  /* The pixel buffer must match the size. */
  hs_history_add_async(h, p, short_rgb, 8, 8, NULL, on_add_done, &error);
  while (error == NULL)
    g_main_context_iteration(NULL, TRUE);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID);
  g_test_message("error: %s", error->message);
  g_assert_cmpuint(th_count_files(images, ""), ==, 0);
  finalize_history(h);
  th_rm_rf(dir);
}

/* --- search, favorites --- */

static void test_search_favorites(void)
{
  g_autofree char *dir = th_tmpdir();
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = NULL;
  const char *prompts[] = { "a red fox in the snow", "a blue whale", "Red panda in a café",
                            "RED-team poster \"quoted\"" };
  HsHistoryItem *added[4];
  GPtrArray *r;

  for (guint i = 0; i < G_N_ELEMENTS(prompts); i++) {
    added[i] = th_add(h, prompts[i], i, 16, 16, &error);
    g_assert_no_error(error);
  }
  r = th_list(h, "red", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 3);
  g_ptr_array_unref(r);
  /* All words must match; prefix match; diacritics folded (cafe finds café). */
  r = th_list(h, "red pan", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 1);
  g_assert_cmpstr(hs_history_item_get_prompt(item_at(r, 0)), ==, "Red panda in a café");
  g_ptr_array_unref(r);
  r = th_list(h, "cafe", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 1);
  g_ptr_array_unref(r);
  r = th_list(h, "whale", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 1);
  g_ptr_array_unref(r);
  /* FTS5 syntax in user input is taken literally, never an error. */
  r = th_list(h, "\"quoted\" AND ( NEAR * -", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 0);
  g_ptr_array_unref(r);
  r = th_list(h, "\"quoted\"", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 1);
  g_ptr_array_unref(r);
  r = th_list(h, "   ", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 4);
  g_ptr_array_unref(r);

  /* Favorites: the flag is stored, notified on the item, and filters the list. */
  g_assert_true(th_favorite(h, added[1], TRUE, &error));
  g_assert_no_error(error);
  g_assert_true(hs_history_item_get_favorite(added[1]));
  g_assert_true(th_favorite(h, added[2], TRUE, &error));
  items = th_list(h, NULL, TRUE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(items->len, ==, 2);
  g_assert_true(hs_history_item_get_favorite(item_at(items, 0)));
  g_clear_pointer(&items, g_ptr_array_unref);
  items = th_list(h, "red", TRUE, &error);
  g_assert_cmpuint(items->len, ==, 1);
  g_clear_pointer(&items, g_ptr_array_unref);
  g_assert_true(th_favorite(h, added[2], FALSE, &error));
  items = th_list(h, NULL, TRUE, &error);
  g_assert_cmpuint(items->len, ==, 1);
  g_clear_pointer(&items, g_ptr_array_unref);

  for (guint i = 0; i < G_N_ELEMENTS(added); i++)
    g_object_unref(added[i]);
  finalize_history(h);
  th_rm_rf(dir);
}

/* --- delete, undo, purge --- */

static void test_delete_undo(void)
{
  g_autofree char *dir = th_tmpdir();
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryItem) a = th_add(h, "first", 1, 16, 16, &error);
  g_autoptr(HsHistoryItem) b = th_add(h, "second", 2, 16, 16, &error);
  g_autofree char *path_b = g_strdup(hs_history_item_get_image_path(b));
  GPtrArray *r;
  GBytes *thumb;

  g_assert_no_error(error);
  g_assert_true(th_delete(h, b, &error));
  g_assert_no_error(error);
  r = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(r->len, ==, 1);
  g_ptr_array_unref(r);
  r = th_list(h, "second", FALSE, &error);
  g_assert_cmpuint(r->len, ==, 0);
  g_ptr_array_unref(r);
  /* Hidden only: the file is still there, so undo loses nothing. */
  g_assert_true(g_file_test(path_b, G_FILE_TEST_IS_REGULAR));
  g_assert_true(th_undo(h, b, &error));
  g_assert_no_error(error);
  r = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(r->len, ==, 2);
  g_ptr_array_unref(r);

  /* Delete then purge: file, row and thumbnail gone. */
  g_assert_true(th_delete(h, b, &error));
  g_assert_true(th_purge(h, b, &error));
  g_assert_no_error(error);
  g_assert_false(g_file_test(path_b, G_FILE_TEST_EXISTS));
  thumb = th_thumbnail(h, hs_history_item_get_id(b), &error);
  g_assert_null(thumb);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(th_undo(h, b, &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(th_favorite(h, b, TRUE, &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  r = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(r->len, ==, 1);
  g_assert_cmpint(hs_history_item_get_id(item_at(r, 0)), ==, hs_history_item_get_id(a));
  g_ptr_array_unref(r);
  g_clear_object(&a);
  g_clear_object(&b);
  finalize_history(h);
  th_rm_rf(dir);
}

/* --- migrations --- */

/* Builds a version-1 database with the v1 schema code, with rows and their PNG files, the way
 * the first release wrote them. */
static void make_v1_history(const char *dir, int n)
{
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  sqlite3 *db;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint(g_mkdir_with_parents(images, 0755), ==, 0);
  db = open_raw(dir);
  g_assert_true(hs_history_schema_create_v1(db, &error));
  g_assert_no_error(error);
  g_assert_true(hs_history_sql_exec(db, "PRAGMA user_version = 1", &error));
  for (int i = 0; i < n; i++) {
    g_autoptr(HsGenParams) p = th_params(i % 2 ? "an old castle" : "an old ship", (guint64)i);
    g_autofree guint8 *rgb = th_pattern(8, 8, i);
    g_autoptr(GBytes) png = hs_png_meta_encode(rgb, 8, 8, p, &error);
    g_autofree char *name = g_strdup_printf("old-%d.png", i);
    g_autofree char *path = g_build_filename(images, name, NULL);
    g_autofree char *sql = g_strdup_printf(
        "INSERT INTO items (created_us, prompt, seed, cfg, smooth, system_prompt, width, height,"
        " image_path) VALUES (%d, '%s', %d, 4.5, 1, 1, 8, 8, 'images/%s');"
        "INSERT INTO thumbnails (item_id, png) VALUES (last_insert_rowid(), x'00');",
        1000 + i, p->prompt, i, name);
    g_assert_true(g_file_set_contents(path, g_bytes_get_data(png, NULL),
                                      (gssize)g_bytes_get_size(png), NULL));
    g_assert_true(hs_history_sql_exec(db, sql, &error));
    g_assert_no_error(error);
  }
  sqlite3_close(db);
}

static void test_migrate_v1(void)
{
  g_autofree char *dir = th_tmpdir();
  HsHistory *h;
  g_autoptr(GError) error = NULL;
  GPtrArray *r;
  sqlite3 *db;

  make_v1_history(dir, 5);
  h = hs_history_new(dir);
  g_assert_true(th_open(h, &error));
  g_assert_no_error(error);
  g_assert_null(hs_history_get_notice(h));
  r = th_list(h, NULL, FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 5);
  g_assert_cmpint(hs_history_item_get_created_us(item_at(r, 0)), ==, 1004);
  /* The v2 features work on the v1 rows: the FTS index was filled from them... */
  g_ptr_array_unref(r);
  r = th_list(h, "castle", FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->len, ==, 2);
  /* ... and the favorite column exists with its default. */
  g_assert_false(hs_history_item_get_favorite(item_at(r, 0)));
  g_assert_true(th_favorite(h, item_at(r, 0), TRUE, &error));
  g_assert_no_error(error);
  g_ptr_array_unref(r);
  r = th_list(h, NULL, TRUE, &error);
  g_assert_cmpuint(r->len, ==, 1);
  g_ptr_array_unref(r);
  {
    /* New rows join the index through the v2 triggers. */
    HsHistoryItem *item = th_add(h, "a new castle", 9, 8, 8, &error);
    g_assert_no_error(error);
    g_object_unref(item);
  }
  r = th_list(h, "castle", FALSE, &error);
  g_assert_cmpuint(r->len, ==, 3);
  g_ptr_array_unref(r);
  finalize_history(h);

  db = open_raw(dir);
  g_assert_cmpint(query_int(db, "PRAGMA user_version"), ==, HS_HISTORY_SCHEMA_VERSION);
  g_assert_cmpint(query_int(db, "SELECT count(*) FROM items"), ==, 6);
  sqlite3_close(db);
  th_rm_rf(dir);
}

/* Every step from every earlier version: 0 (new file) and 1 both reach the same schema. */
static void test_migrate_schema_equal(void)
{
  g_autofree char *dir_a = th_tmpdir();
  g_autofree char *dir_b = th_tmpdir();
  g_autoptr(GError) error = NULL;
  sqlite3 *a, *b;
  sqlite3_stmt *sa = NULL, *sb = NULL;
  const char *sql = "SELECT type, name, tbl_name FROM sqlite_schema ORDER BY name";

  make_v1_history(dir_a, 0);
  a = open_raw(dir_a);
  g_assert_true(hs_history_schema_migrate(a, HS_HISTORY_SCHEMA_VERSION, &error));
  g_assert_no_error(error);
  b = open_raw(dir_b);
  g_assert_true(hs_history_schema_migrate(b, HS_HISTORY_SCHEMA_VERSION, &error));
  g_assert_cmpint(query_int(a, "PRAGMA user_version"), ==, HS_HISTORY_SCHEMA_VERSION);
  g_assert_cmpint(query_int(b, "PRAGMA user_version"), ==, HS_HISTORY_SCHEMA_VERSION);
  g_assert_cmpint(sqlite3_prepare_v2(a, sql, -1, &sa, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_prepare_v2(b, sql, -1, &sb, NULL), ==, SQLITE_OK);
  for (;;) {
    int ra = sqlite3_step(sa), rb = sqlite3_step(sb);
    g_assert_cmpint(ra, ==, rb);
    if (ra != SQLITE_ROW)
      break;
    for (int c = 0; c < 3; c++)
      g_assert_cmpstr((const char *)sqlite3_column_text(sa, c), ==,
                      (const char *)sqlite3_column_text(sb, c));
  }
  sqlite3_finalize(sa);
  sqlite3_finalize(sb);
  sqlite3_close(a);
  sqlite3_close(b);
  th_rm_rf(dir_a);
  th_rm_rf(dir_b);
}

/* --- reconcile after simulated crashes --- */

static void test_reconcile(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  g_autofree char *tmp_file = g_build_filename(images, ".tmp-AbC123", NULL);
  g_autofree char *orphan = g_build_filename(images, "orphan.png", NULL);
  g_autofree char *moved = g_build_filename(dir, "moved.png", NULL);
  g_autofree char *missing_path = NULL;
  g_autofree char *hidden_path = NULL;
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  HsHistoryItem *keep = th_add(h, "keep me", 1, 8, 8, &error);
  HsHistoryItem *lose = th_add(h, "file lost", 2, 8, 8, &error);
  HsHistoryItem *hide = th_add(h, "pending delete", 3, 8, 8, &error);
  HsHistoryReconcileReport *r;
  HsHistoryItem *again;
  GPtrArray *items;

  g_assert_no_error(error);
  missing_path = g_strdup(hs_history_item_get_image_path(lose));
  hidden_path = g_strdup(hs_history_item_get_image_path(hide));
  g_assert_true(th_delete(h, hide, &error)); /* the app stopped before the purge */
  g_object_unref(keep);
  g_object_unref(lose);
  g_object_unref(hide);
  finalize_history(h);

  /* A crash mid-write (temp file), a file removed behind our back (row without file), a crash
   * between rename and commit (complete PNG without row). */
  g_assert_true(g_file_set_contents(tmp_file, "\x89PNG half", 9, NULL));
  g_assert_cmpint(g_rename(missing_path, moved), ==, 0);
  {
    g_autoptr(HsGenParams) p = th_params("orphan from a crash", 77);
    g_autofree guint8 *rgb = th_pattern(8, 8, 77);
    g_autoptr(GBytes) png = hs_png_meta_encode(rgb, 8, 8, p, &error);
    g_assert_true(g_file_set_contents(orphan, g_bytes_get_data(png, NULL),
                                      (gssize)g_bytes_get_size(png), NULL));
  }

  h = hs_history_new(dir);
  r = th_reconcile(h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->temp_files_removed, ==, 1);
  g_assert_cmpuint(r->rows_missing, ==, 1);
  g_assert_cmpuint(r->rows_found_again, ==, 0);
  g_assert_cmpuint(r->hidden_purged, ==, 1);
  g_assert_cmpuint(g_strv_length(r->orphan_pngs), ==, 1);
  g_assert_cmpstr(r->orphan_pngs[0], ==, orphan);
  hs_history_reconcile_report_free(r);
  g_assert_false(g_file_test(tmp_file, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(hidden_path, G_FILE_TEST_EXISTS));

  items = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(items->len, ==, 2);
  g_assert_cmpstr(hs_history_item_get_prompt(item_at(items, 0)), ==, "file lost");
  g_assert_true(hs_history_item_get_missing(item_at(items, 0)));
  g_assert_false(hs_history_item_get_missing(item_at(items, 1)));
  g_ptr_array_unref(items);

  /* Re-index the orphan from its embedded settings. */
  again = th_reindex(h, orphan, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(hs_history_item_get_prompt(again), ==, "orphan from a crash");
  g_assert_cmpuint(hs_history_item_get_seed(again), ==, 77);
  g_object_unref(again);
  /* Twice is refused (the path is unique); a file outside images/ too. */
  g_assert_null(th_reindex(h, orphan, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(th_reindex(h, moved, &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID);
  g_clear_error(&error);

  /* The lost file comes back: the flag clears; nothing else to do. */
  g_assert_cmpint(g_rename(moved, missing_path), ==, 0);
  r = th_reconcile(h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(r->rows_found_again, ==, 1);
  g_assert_cmpuint(r->rows_missing + r->temp_files_removed + r->hidden_purged, ==, 0);
  g_assert_cmpuint(g_strv_length(r->orphan_pngs), ==, 0);
  hs_history_reconcile_report_free(r);
  items = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(items->len, ==, 3);
  for (guint i = 0; i < items->len; i++)
    g_assert_false(hs_history_item_get_missing(item_at(items, i)));
  g_ptr_array_unref(items);
  finalize_history(h);
  th_rm_rf(dir);
}

/* --- damaged and newer databases --- */

/* Opens a history whose database is `bytes`; expects it moved aside, byte-for-byte intact, and a
 * fresh working history in its place. */
static void check_moved_aside(const char *dir, GBytes *bytes)
{
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GDir) d = NULL;
  const char *name;
  char *aside = NULL;
  HsHistoryItem *item;
  GPtrArray *items;

  g_assert_true(th_open(h, &error));
  g_assert_no_error(error);
  g_assert_false(hs_history_get_read_only(h));
  g_assert_nonnull(hs_history_get_notice(h));
  g_test_message("notice: %s", hs_history_get_notice(h));
  g_assert_nonnull(strstr(hs_history_get_notice(h), "damaged"));
  g_assert_nonnull(strstr(hs_history_get_notice(h), "history.db.damaged-"));
  d = g_dir_open(dir, 0, NULL);
  while ((name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, "history.db.damaged-") && !g_str_has_suffix(name, "-wal") &&
        !g_str_has_suffix(name, "-shm"))
      aside = g_build_filename(dir, name, NULL);
  g_assert_nonnull(aside);
  {
    g_autoptr(GBytes) kept = th_file_bytes(aside);
    g_assert_true(g_bytes_equal(kept, bytes));
  }
  g_free(aside);
  item = th_add(h, "after recovery", 5, 8, 8, &error);
  g_assert_no_error(error);
  g_object_unref(item);
  items = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(items->len, ==, 1);
  g_ptr_array_unref(items);
  finalize_history(h);
}

static void test_corrupt_random(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);
  guint8 junk[8192];
  g_autoptr(GBytes) bytes = NULL;

  for (guint i = 0; i < sizeof(junk); i++)
    junk[i] = (guint8)g_test_rand_int();
  g_assert_true(g_file_set_contents(path, (const char *)junk, sizeof(junk), NULL));
  bytes = th_file_bytes(path);
  check_moved_aside(dir, bytes);
  th_rm_rf(dir);
}

/* A real history cut short (a disk failure, a bad copy): quick_check notices. */
static void test_corrupt_truncated(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  g_autoptr(GBytes) full = NULL;
  g_autoptr(GBytes) cut = NULL;

  for (int i = 0; i < 12; i++) {
    HsHistoryItem *item =
        th_add(h, "a long prompt to fill pages of the database file", i, 96, 96, &error);
    g_assert_no_error(error);
    g_object_unref(item);
  }
  finalize_history(h);
  full = th_file_bytes(path);
  g_assert_cmpuint(g_bytes_get_size(full), >, 16384);
  cut = g_bytes_new_from_bytes(full, 0, g_bytes_get_size(full) / 2);
  g_assert_true(
      g_file_set_contents(path, g_bytes_get_data(cut, NULL), (gssize)g_bytes_get_size(cut), NULL));
  check_moved_aside(dir, cut);
  th_rm_rf(dir);
}

/* data: non-NULL for a database in WAL mode (what a newer Hart Studio would leave). */
static void test_newer_version(gconstpointer data)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  HsHistory *h;
  HsHistoryItem *item;
  GPtrArray *items;
  sqlite3 *db;

  /* A future version: today's schema with a row, plus something we do not know about. */
  make_v1_history(dir, 2);
  db = open_raw(dir);
  g_assert_true(hs_history_schema_migrate(db, HS_HISTORY_SCHEMA_VERSION, &error));
  g_assert_true(hs_history_sql_exec(db,
                                    "CREATE TABLE future_stuff (x);"
                                    "PRAGMA user_version = 99;",
                                    &error));
  if (data != NULL)
    g_assert_true(hs_history_sql_exec(db, "PRAGMA journal_mode = WAL", &error));
  g_assert_no_error(error);
  sqlite3_close(db);
  before = th_file_bytes(path);

  h = hs_history_new(dir);
  g_assert_true(th_open(h, &error));
  g_assert_no_error(error);
  g_assert_true(hs_history_get_read_only(h));
  g_test_message("notice: %s", hs_history_get_notice(h));
  g_assert_nonnull(strstr(hs_history_get_notice(h), "newer version"));
  /* Readable ... */
  items = th_list(h, NULL, FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(items->len, ==, 2);
  /* ... but nothing changes. */
  g_assert_false(th_favorite(h, item_at(items, 0), TRUE, &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY);
  g_clear_error(&error);
  g_assert_false(th_delete(h, item_at(items, 0), &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY);
  g_clear_error(&error);
  g_ptr_array_unref(items);
  item = th_add(h, "not saved", 1, 8, 8, &error);
  g_assert_null(item);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY);
  g_clear_error(&error);
  {
    HsHistoryReconcileReport *r = th_reconcile(h, &error);
    g_assert_no_error(error);
    hs_history_reconcile_report_free(r);
  }
  finalize_history(h);
  after = th_file_bytes(path);
  g_assert_true(g_bytes_equal(before, after));
  db = open_raw(dir);
  g_assert_cmpint(query_int(db, "PRAGMA user_version"), ==, 99);
  sqlite3_close(db);
  th_rm_rf(dir);
}

/* --- read-only folder, full disk --- */

/* As root, permissions do not stop writes: the child drops to an unprivileged user. */
static void drop_root(const char *dir)
{
  if (geteuid() != 0)
    return;
  if (chown(dir, 65534, 65534) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
    g_error("cannot drop root for the read-only test: %s", g_strerror(errno));
}

static void readonly_child(const char *dir)
{
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  g_autoptr(GError) error = NULL;
  HsHistory *h;
  HsHistoryItem *a, *b;
  GPtrArray *items;

  drop_root(dir);
  h = hs_history_new(dir);
  a = th_add(h, "saved before", 1, 16, 16, &error);
  g_assert_no_error(error);
  g_assert_cmpint(g_chmod(images, 0555), ==, 0);
  b = th_add(h, "cannot be saved", 2, 16, 16, &error);
  g_assert_null(b);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO);
  g_test_message("error: %s", error->message);
  g_assert_nonnull(strstr(error->message, "Permission denied"));
  g_clear_error(&error);
  /* Nothing lost: the earlier image and its row are intact. */
  items = th_list(h, NULL, FALSE, &error);
  g_assert_cmpuint(items->len, ==, 1);
  g_ptr_array_unref(items);
  g_assert_true(g_file_test(hs_history_item_get_image_path(a), G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint(th_count_files(images, ""), ==, 1);
  /* Deleting the file fails cleanly too, and keeps the row. */
  g_assert_true(th_delete(h, a, &error));
  g_assert_false(th_purge(h, a, &error));
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO);
  g_clear_error(&error);
  g_assert_true(th_undo(h, a, &error));
  g_assert_no_error(error);
  g_object_unref(a);
  finalize_history(h);

  /* A whole history on a read-only folder: shown read-only, with a notice; nothing changes. */
  {
    g_autofree char *sub = g_build_filename(dir, "ro", NULL);
    g_autofree char *db_path = g_build_filename(sub, "history.db", NULL);
    g_autoptr(GBytes) before = NULL;
    g_autoptr(GBytes) after = NULL;
    GPtrArray *rows;

    h = hs_history_new(sub);
    b = th_add(h, "kept on a read-only disk", 3, 8, 8, &error);
    g_assert_no_error(error);
    g_object_unref(b);
    finalize_history(h);
    before = th_file_bytes(db_path);
    g_assert_cmpint(g_chmod(sub, 0555), ==, 0);
    h = hs_history_new(sub);
    g_assert_true(th_open(h, &error));
    g_assert_no_error(error);
    g_assert_true(hs_history_get_read_only(h));
    g_test_message("notice: %s", hs_history_get_notice(h));
    g_assert_nonnull(strstr(hs_history_get_notice(h), "cannot be written"));
    rows = th_list(h, NULL, FALSE, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(rows->len, ==, 1);
    g_ptr_array_unref(rows);
    b = th_add(h, "not kept", 4, 8, 8, &error);
    g_assert_null(b);
    g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY);
    g_clear_error(&error);
    finalize_history(h);
    after = th_file_bytes(db_path);
    g_assert_true(g_bytes_equal(before, after));
    g_chmod(sub, 0755);
  }

  /* A history in a folder that cannot be created: a clear error, no crash. */
  {
    g_autofree char *sub = g_build_filename(images, "nested", NULL);
    h = hs_history_new(sub);
    g_assert_false(th_open(h, &error));
    g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO);
    g_test_message("error: %s", error->message);
    g_assert_nonnull(strstr(error->message, "Permission denied"));
    g_clear_error(&error);
    finalize_history(h);
  }
  g_chmod(images, 0755);
}

static void test_readonly_dir(void)
{
  /* The child makes its own folder: no environment to pass once threads exist. */
  if (g_test_subprocess()) {
    g_autofree char *dir = th_tmpdir();
    readonly_child(dir);
    th_rm_rf(dir);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed();
}

/* A full disk, made real with RLIMIT_FSIZE: writes past the limit fail with EFBIG. */
static void full_disk_child(const char *dir)
{
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  HsHistoryItem *a = th_add(h, "small", 1, 16, 16, &error), *b;
  struct rlimit lim = { 64 * 1024, 64 * 1024 };
  GPtrArray *items;

  g_assert_no_error(error);
  signal(SIGXFSZ, SIG_IGN);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &lim), ==, 0);
  /* 256x256 of noise is ~196 KiB of PNG: cannot fit. */
  b = th_add(h, "too big for the disk", 2, 256, 256, &error);
  g_assert_null(b);
  g_assert_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO);
  g_test_message("error: %s", error->message);
  g_clear_error(&error);
  /* No temp file left, the old image intact, the database still fine. */
  g_assert_cmpuint(th_count_files(images, ".tmp-"), ==, 0);
  g_assert_cmpuint(th_count_files(images, ""), ==, 1);
  items = th_list(h, NULL, FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(items->len, ==, 1);
  g_ptr_array_unref(items);
  g_object_unref(a);
  finalize_history(h);
}

static void test_full_disk(void)
{
  /* The child makes its own folder: no environment to pass once threads exist. */
  if (g_test_subprocess()) {
    g_autofree char *dir = th_tmpdir();
    full_disk_child(dir);
    th_rm_rf(dir);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed();
}

/* --- the list model --- */

static void wait_loaded(HsHistoryModel *m)
{
  while (hs_history_model_get_loading(m))
    g_main_context_iteration(NULL, TRUE);
}

static void test_model(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  HsHistoryItem *a = th_add(h, "a cat", 1, 8, 8, &error);
  HsHistoryModel *m = hs_history_model_new(h);
  HsHistoryItem *b, *first;

  wait_loaded(m);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 1);
  /* A finished image appears at the top as soon as it is saved. */
  b = th_add(h, "a dog", 2, 8, 8, &error);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 2);
  first = g_list_model_get_item(G_LIST_MODEL(m), 0);
  g_assert_cmpint(hs_history_item_get_id(first), ==, hs_history_item_get_id(b));
  /* Delete removes it at once, undo brings it back. */
  g_assert_true(th_delete(h, first, &error));
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 1);
  g_assert_true(th_undo(h, first, &error));
  wait_loaded(m);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 2);
  /* Search and favorites filter. */
  hs_history_model_set_query(m, "dog");
  wait_loaded(m);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 1);
  hs_history_model_set_query(m, NULL);
  hs_history_model_set_favorites_only(m, TRUE);
  wait_loaded(m);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 0);
  g_assert_true(th_favorite(h, first, TRUE, &error));
  wait_loaded(m);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 1);
  g_object_unref(first);
  first = g_list_model_get_item(G_LIST_MODEL(m), 0);
  g_assert_true(th_favorite(h, first, FALSE, &error));
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(m)), ==, 0);
  g_assert_no_error(error);
  g_object_unref(first);
  g_object_unref(a);
  g_object_unref(b);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(m);
  finalize_history(h);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history/add-list", test_add_list);
  g_test_add_func("/history/add-invalid", test_add_invalid);
  g_test_add_func("/history/search-favorites", test_search_favorites);
  g_test_add_func("/history/delete-undo-purge", test_delete_undo);
  g_test_add_func("/history/migrate/v1", test_migrate_v1);
  g_test_add_func("/history/migrate/schema-equal", test_migrate_schema_equal);
  g_test_add_func("/history/reconcile", test_reconcile);
  g_test_add_func("/history/corrupt/random-bytes", test_corrupt_random);
  g_test_add_func("/history/corrupt/truncated", test_corrupt_truncated);
  g_test_add_data_func("/history/newer-version/rollback", NULL, test_newer_version);
  g_test_add_data_func("/history/newer-version/wal", "wal", test_newer_version);
  g_test_add_func("/history/read-only-dir", test_readonly_dir);
  g_test_add_func("/history/full-disk", test_full_disk);
  g_test_add_func("/history/model", test_model);
  return g_test_run();
}
