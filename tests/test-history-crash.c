/* test-history-crash.c: kills a writer process (history-crash-writer) with SIGKILL at random
 * moments, 200 times, on the same history. After every kill:
 *   - PRAGMA integrity_check is "ok";
 *   - every visible row has its complete PNG: libpng decodes it fully and every pixel equals the
 *     pattern of the row's seed (so no row ever points at a half-written file);
 *   - every row has its thumbnail (row and thumbnail commit together).
 * At the end, reconcile removes the temp files of interrupted writes, and every orphan PNG
 * (killed between rename and commit) is complete and can be re-indexed. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-history-util.h"

#define RUNS 200

typedef struct {
  gint64 last_checked; /* rows up to this id were verified already (rows never change) */
  guint rows_checked;
  guint hidden_seen;
} Progress;

static void check_png(const char *path, guint64 seed, int want_w, int want_h)
{
  int w = 0, h = 0;
  g_autofree guint8 *px = th_png_pixels(path, &w, &h);
  g_autofree guint8 *want = NULL;

  if (px == NULL)
    g_error("%s: libpng cannot read it completely", path);
  g_assert_cmpint(w, ==, want_w);
  g_assert_cmpint(h, ==, want_h);
  want = th_pattern(w, h, seed);
  g_assert_cmpmem(px, (gsize)w * h * 3, want, (gsize)w * h * 3);
}

static void verify(const char *dir, Progress *pr)
{
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  g_autofree char *sql = NULL;

  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return; /* killed before the database was created */
  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *)sqlite3_column_text(st, 0), ==, "ok");
  sqlite3_finalize(st);

  /* Killed while creating the schema: each step is one transaction, so no table or all. */
  g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  if (sqlite3_column_int(st, 0) == 0) {
    sqlite3_finalize(st);
    g_assert_cmpint(sqlite3_exec(db, "SELECT * FROM items", NULL, NULL, NULL), ==, SQLITE_ERROR);
    sqlite3_close(db);
    return;
  }
  sqlite3_finalize(st);

  /* Rows and thumbnails commit in one transaction. */
  g_assert_cmpint(sqlite3_prepare_v2(db,
                                     "SELECT count(*) FROM items WHERE id NOT IN "
                                     "(SELECT item_id FROM thumbnails)",
                                     -1, &st, NULL),
                  ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(st, 0), ==, 0);
  sqlite3_finalize(st);

  sql = g_strdup_printf("SELECT id, image_path, seed, hidden, width, height FROM items "
                        "WHERE id > %" G_GINT64_FORMAT " ORDER BY id",
                        pr->last_checked);
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64(st, 0);
    g_autofree char *file = g_build_filename(dir, sqlite3_column_text(st, 1), NULL);
    guint64 seed = (guint64)sqlite3_column_int64(st, 2);
    gboolean hidden = sqlite3_column_int(st, 3) != 0;

    /* A hidden row may lose its file (the purge unlinks first); a visible row never may. */
    if (hidden) {
      pr->hidden_seen++;
      if (!g_file_test(file, G_FILE_TEST_EXISTS))
        continue;
    }
    check_png(file, seed, sqlite3_column_int(st, 4), sqlite3_column_int(st, 5));
    if (!hidden) {
      pr->last_checked = id;
      pr->rows_checked++;
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Reads one line from the writer; FALSE at EOF. */
static gboolean read_line(int fd)
{
  char c;

  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    if (c == '\n')
      return TRUE;
  }
}

/* Starts a writer, lets it commit `adds` images, waits delay_us more, and kills it. Waiting for
 * progress first keeps the test meaningful on a loaded machine; the delay makes the kill land
 * anywhere in the next add (encode, temp write, fsync, rename, commit, purge). */
static void run_and_kill(const char *writer, const char *dir, int run, guint adds, guint delay_us)
{
  g_autofree char *run_s = g_strdup_printf("%d", run);
  char *argv[] = { (char *)writer, (char *)dir, run_s, NULL };
  g_autoptr(GError) error = NULL;
  GPid pid;
  int out = -1, status = 0;

  g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &pid, NULL, &out, NULL, &error));
  g_assert_no_error(error);
  for (guint i = 0; i < adds; i++)
    if (!read_line(out))
      g_error("run %d: the writer stopped before committing %u images", run, adds);
  g_usleep(delay_us);
  g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid(pid);
  close(out);
  /* It must have died of the kill, not of an error of its own. */
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
    g_error("run %d: the writer exited by itself (status %d)", run, status);
}

static void test_sigkill(void)
{
  const char *writer = g_getenv("HS_HISTORY_CRASH_WRITER");
  g_autofree char *dir = th_tmpdir();
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTimer) timer = g_timer_new();
  Progress pr = { 0 };
  HsHistory *h;
  HsHistoryReconcileReport *r;
  guint temp_left, orphans;

  if (writer == NULL) {
    g_test_skip("HS_HISTORY_CRASH_WRITER is not set (run through meson test)");
    return;
  }
  for (int run = 0; run < RUNS; run++) {
    /* 0-3 committed images, then 0-25 ms: from before the database exists (0 images, short
     * delay) to any point of a later add. */
    run_and_kill(writer, dir, run, (guint)g_test_rand_int_range(0, 4),
                 (guint)g_test_rand_int_range(0, 25000));
    verify(dir, &pr);
  }
  temp_left = th_count_files(images, ".tmp-");
  g_test_message("%d runs in %.1f s: %u rows verified pixel by pixel, %u hidden rows seen, "
                 "%u temp files left by kills",
                 RUNS, g_timer_elapsed(timer, NULL), pr.rows_checked, pr.hidden_seen, temp_left);
  /* The writer must really have written: the test is void otherwise. */
  g_assert_cmpuint(pr.rows_checked, >=, RUNS / 2);

  /* What the app does at start: reconcile, then re-index orphans. */
  h = hs_history_new(dir);
  r = th_reconcile(h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(th_count_files(images, ".tmp-"), ==, 0);
  g_assert_cmpuint(r->rows_missing, ==, 0);
  orphans = g_strv_length(r->orphan_pngs);
  g_test_message("reconcile: %u temp files removed, %u pending deletes purged, %u orphan PNGs",
                 r->temp_files_removed, r->hidden_purged, orphans);
  for (guint i = 0; i < orphans; i++) {
    HsHistoryItem *item = th_reindex(h, r->orphan_pngs[i], &error);
    g_assert_no_error(error);
    check_png(hs_history_item_get_image_path(item), hs_history_item_get_seed(item), 16, 16);
    g_object_unref(item);
  }
  hs_history_reconcile_report_free(r);
  r = th_reconcile(h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_strv_length(r->orphan_pngs), ==, 0);
  g_assert_cmpuint(r->hidden_purged + r->rows_missing + r->temp_files_removed, ==, 0);
  hs_history_reconcile_report_free(r);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(h);
  pr.last_checked = 0;
  verify(dir, &pr);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history/crash/sigkill-200", test_sigkill);
  return g_test_run();
}
