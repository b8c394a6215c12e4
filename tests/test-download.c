/* test-download.c: hs_download_file() and the hub API client against a loopback SoupServer
 * (tests/hs-fake-hub.c) that drops connections, answers 500 and 416, serves a wrong hash,
 * stalls, goes slowly and changes ETags. Content: the tiny golden model's files. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "hs-download.h"
#include "hs-fake-hub.h"
#include "hs-hub.h"

#define REPO "test-org/files"
#define FULL "0123456789abcdef0123456789abcdef01234567"
#define BIG "tokenizer/model.safetensors"
#define SMALL "llm/config.json"

typedef struct {
  HsFakeHub *hub;
  SoupSession *session;
  char *tmp;
  HsDownloadPolicy policy;
  char *source; /* disk path of BIG */
} Fixture;

static char *shared_path(const char *rel)
{
  const char *root = g_getenv("HART_SHARED");
  return root ? g_build_filename(root, rel, NULL) : NULL;
}

static void fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autofree char *small = shared_path("golden/tiny/llm/config.json");

  fx->source = shared_path("golden/tiny/tokenizer/model.safetensors");
  if (fx->source == NULL || !g_file_test(fx->source, G_FILE_TEST_EXISTS))
    return;
  fx->hub = hs_fake_hub_new();
  hs_fake_hub_add_repo(fx->hub, REPO, "0123456", FULL);
  g_assert_true(hs_fake_hub_add_file_from(fx->hub, REPO, BIG, fx->source, TRUE));
  g_assert_true(hs_fake_hub_add_file_from(fx->hub, REPO, SMALL, small, FALSE));
  fx->session = hs_hub_session_new(10);
  fx->tmp = g_dir_make_tmp("hs-download-XXXXXX", NULL);
  hs_download_policy_init(&fx->policy);
  fx->policy.backoff_initial_ms = 5; /* keep the tests fast; the doubling is still exercised */
  fx->policy.backoff_max_ms = 40;
}

static void remove_tree(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR))
      remove_tree(p);
    else
      g_unlink(p);
  }
  g_rmdir(dir);
}

static void fixture_teardown(Fixture *fx, gconstpointer data)
{
  if (fx->hub == NULL) {
    g_free(fx->source);
    return;
  }
  remove_tree(fx->tmp);
  g_free(fx->tmp);
  g_object_unref(fx->session);
  hs_fake_hub_free(fx->hub);
  g_free(fx->source);
}

static gboolean skip_without_data(Fixture *fx)
{
  if (fx->hub != NULL)
    return FALSE;
  g_test_skip("shared/golden/tiny not found (HART_SHARED)");
  return TRUE;
}

typedef struct {
  guint64 cancel_at;
  GCancellable *cancellable;
  guint calls;
  guint rehash_calls;
  guint64 last_done;
} ProgressLog;

static void on_progress(guint64 done, guint64 total, gboolean rehashing, gpointer data)
{
  ProgressLog *log = data;
  if (rehashing) {
    log->rehash_calls++;
    return;
  }
  g_assert_cmpuint(done, <=, total);
  log->calls++;
  log->last_done = done;
  if (log->cancellable != NULL && done >= log->cancel_at)
    g_cancellable_cancel(log->cancellable);
}

/* Downloads BIG into the fixture's folder with the given log (may be NULL). */
static gboolean fetch(Fixture *fx, const char *path, const char *sha, guint64 size,
                      ProgressLog *log, HsDownloadStats *stats, GCancellable *cancellable,
                      GError **error)
{
  g_autofree char *url = hs_hub_file_url(hs_fake_hub_url(fx->hub), REPO, FULL, path);
  g_autofree char *dest = g_build_filename(fx->tmp, path, NULL);
  return hs_download_file(fx->session, url, dest, size, sha, NULL, &fx->policy,
                          log ? on_progress : NULL, log, stats, cancellable, error);
}

static guint64 big_size(Fixture *fx)
{
  GStatBuf st;
  g_assert_cmpint(g_stat(fx->source, &st), ==, 0);
  return (guint64)st.st_size;
}

static void assert_big_ok(Fixture *fx, const HsDownloadStats *stats)
{
  g_autofree char *dest = g_build_filename(fx->tmp, BIG, NULL);
  g_autofree char *part = g_strconcat(dest, ".part", NULL);
  g_autofree char *etag = g_strconcat(dest, ".part.etag", NULL);
  g_autofree char *want = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  g_autofree char *got = hs_file_sha256(dest, NULL, NULL);
  g_autofree char *orig = hs_file_sha256(fx->source, NULL, NULL);

  g_assert_cmpstr(got, ==, want);
  g_assert_cmpstr(orig, ==, want);
  g_assert_cmpstr(stats->sha256, ==, want);
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(etag, G_FILE_TEST_EXISTS));
}

static void test_path_safety(void)
{
  const char *good[] = { "llm/config.json", "model-00001-of-00002.safetensors", "a/b/c.d" };
  const char *bad[] = { "",   "/etc/passwd", "../x", "a/../b", "a//b",   "a/./b",
                        "a/", ".",           "a\\b", "c:x",    "a/\001b" };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++)
    g_assert_true(hs_hub_path_is_safe(good[i]));
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    g_assert_false(hs_hub_path_is_safe(bad[i]));
  g_assert_true(hs_hub_repo_id_is_valid("mit-han-lab/hart-0.7b-1024px"));
  g_assert_false(hs_hub_repo_id_is_valid("mit-han-lab/../x"));
  g_assert_false(hs_hub_repo_id_is_valid("a/b/c"));
  g_assert_false(hs_hub_revision_is_valid(".."));
  g_assert_false(hs_hub_revision_is_valid("a/b"));
}

static void test_parse_tree(void)
{
  const char *ok = "[{\"type\":\"directory\",\"oid\":\"x\",\"size\":0,\"path\":\"llm\"},"
                   "{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef01234567\","
                   "\"size\":818,\"path\":\"llm/config.json\"},"
                   "{\"type\":\"file\",\"oid\":\"89abcdef0123456789abcdef0123456789abcdef\","
                   "\"size\":134,\"path\":\"llm/ema_model.bin\",\"lfs\":{\"oid\":"
                   "\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\","
                   "\"size\":2081896,\"pointerSize\":134}}]";
  const char *bad[] = {
    "{}",
    "[{\"type\":\"file\",\"size\":1,\"path\":\"../../etc/passwd\",\"oid\":\"x\"}]",
    "[{\"type\":\"file\",\"size\":1,\"path\":\"a\",\"lfs\":{\"oid\":\"zz\",\"size\":1}}]",
    "[{\"type\":\"file\",\"path\":\"a\"}]",
    "[{\"type\":\"file\",\"size\":-5,\"path\":\"a\"}]",
    "[1]",
    "not json",
  };
  g_autoptr(GPtrArray) files = NULL;
  HsHubFile *f;

  files = hs_hub_parse_tree(ok, strlen(ok), "tree", NULL);
  g_assert_nonnull(files);
  g_assert_cmpuint(files->len, ==, 2);
  f = files->pdata[0];
  g_assert_cmpstr(f->path, ==, "llm/config.json");
  g_assert_cmpuint(f->size, ==, 818);
  g_assert_null(f->sha256);
  g_assert_cmpstr(f->git_oid, ==, "0123456789abcdef0123456789abcdef01234567");
  f = files->pdata[1];
  g_assert_cmpuint(f->size, ==, 2081896); /* lfs.size, not the pointer's size */
  g_assert_cmpstr(f->sha256, ==,
                  "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  g_assert_null(f->git_oid);
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(hs_hub_parse_tree(bad[i], strlen(bad[i]), "tree", &error));
    g_assert_nonnull(error);
    g_test_message("refused: %s", error->message);
  }
}

static void test_listing(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autofree char *rev = NULL;

  if (skip_without_data(fx))
    return;
  rev =
      hs_hub_resolve_revision(fx->session, hs_fake_hub_url(fx->hub), REPO, "0123456", NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(rev, ==, FULL);
  files = hs_hub_list_files(fx->session, hs_fake_hub_url(fx->hub), REPO, rev, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(files->len, ==, 2);
  g_assert_cmpuint(((HsHubFile *)files->pdata[0])->size, ==, big_size(fx));
  g_assert_null(
      hs_hub_list_files(fx->session, hs_fake_hub_url(fx->hub), REPO, "0123456", NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "404"));
}

/* An abbreviated pinned commit the revision API refuses is found in main's history. */
static void test_abbreviated_revision(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rev = NULL;

  if (skip_without_data(fx))
    return;
  hs_fake_hub_set_strict_revisions(fx->hub, REPO, TRUE);
  rev =
      hs_hub_resolve_revision(fx->session, hs_fake_hub_url(fx->hub), REPO, "0123456", NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(rev, ==, FULL);
  g_clear_pointer(&rev, g_free);
  rev =
      hs_hub_resolve_revision(fx->session, hs_fake_hub_url(fx->hub), REPO, "abcdef1", NULL, &error);
  g_assert_null(rev);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "abcdef1"));
}

static void test_clean(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;
  ProgressLog log = { 0 };

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), &log, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.requests, ==, 1);
  g_assert_cmpuint(stats.bytes_received, ==, big_size(fx));
  g_assert_cmpuint(log.last_done, ==, big_size(fx));
  g_assert_cmpuint(log.calls, >=, 2);
}

/* A small non-LFS file is checked through its git blob id. */
static void test_git_oid(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autofree char *url = NULL;
  g_autofree char *dest = g_build_filename(fx->tmp ? fx->tmp : "", SMALL, NULL);
  HsHubFile *f;

  if (skip_without_data(fx))
    return;
  files = hs_hub_list_files(fx->session, hs_fake_hub_url(fx->hub), REPO, FULL, NULL, &error);
  g_assert_no_error(error);
  f = files->pdata[1];
  g_assert_cmpstr(f->path, ==, SMALL);
  url = hs_hub_file_url(hs_fake_hub_url(fx->hub), REPO, FULL, SMALL);
  g_assert_true(hs_download_file(fx->session, url, dest, f->size, NULL, f->git_oid, &fx->policy,
                                 NULL, NULL, NULL, NULL, &error));
  g_assert_no_error(error);
  g_unlink(dest);
  /* A wrong blob id is refused. */
  g_assert_false(hs_download_file(fx->session, url, dest, f->size, NULL,
                                  "0000000000000000000000000000000000000000", &fx->policy, NULL,
                                  NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_false(g_file_test(dest, G_FILE_TEST_EXISTS));
}

static void test_drop_resumes(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;
  HsFakeHubCounts c;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_DROP);
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_DROP);
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  c = hs_fake_hub_counts(fx->hub, REPO, BIG);
  g_assert_cmpuint(c.requests, ==, 3);
  g_assert_cmpuint(c.range_requests, ==, 2);
  g_assert_cmpuint(c.full_answers, ==, 1);
  /* Every byte crossed the network once: the drops were resumed, not restarted. */
  g_assert_cmpuint(stats.bytes_received, ==, big_size(fx));
  g_assert_cmpuint(stats.resumes, ==, 2);
  g_assert_cmpuint(stats.restarts, ==, 0);
  g_assert_cmpuint(c.last_range_start, ==,
                   big_size(fx) / 2 + (big_size(fx) - big_size(fx) / 2) / 2);
}

static void test_500_retries(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;
  gint64 t0;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  for (int i = 0; i < 3; i++)
    hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_500);
  t0 = g_get_monotonic_time();
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.failures, ==, 3);
  g_assert_cmpuint(stats.requests, ==, 4);
  /* Backoff 5 + 10 + 20 ms at least. */
  g_assert_cmpint(g_get_monotonic_time() - t0, >=, 35000);
}

static void test_500_gives_up(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *dest = NULL;
  HsDownloadStats stats;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  for (guint i = 0; i < fx->policy.max_failures + 1; i++)
    hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_500);
  g_assert_false(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "HTTP 500"));
  g_assert_cmpuint(stats.requests, ==, fx->policy.max_failures + 1);
  dest = g_build_filename(fx->tmp, BIG, NULL);
  g_assert_false(g_file_test(dest, G_FILE_TEST_EXISTS));
}

static void test_416_restarts(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;
  HsFakeHubCounts c;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  /* Leave a .part behind, then make the server refuse its range. */
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_DROP);
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_416);
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  c = hs_fake_hub_counts(fx->hub, REPO, BIG);
  g_assert_cmpuint(stats.restarts, ==, 1);
  g_assert_cmpuint(c.requests, ==, 3);
  g_assert_cmpuint(c.full_answers, ==, 2); /* the first and the clean restart */
}

/* A .part longer than the file is discarded locally; garbage in a .part is caught by the hash,
 * and the file is downloaded again from zero. */
static void test_bad_part(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *part = g_build_filename(fx->tmp ? fx->tmp : "", BIG ".part", NULL);
  g_autofree char *dir = g_path_get_dirname(part);
  g_autofree char *junk = g_malloc0(100000);
  HsDownloadStats stats;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  g_mkdir_with_parents(dir, 0755);
  g_assert_true(g_file_set_contents(part, junk, 100000, NULL));
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.bytes_rehashed, ==, 100000);
  g_assert_cmpuint(stats.resumes, ==, 1);
  g_assert_cmpuint(stats.restarts, ==, 1); /* the hash mismatch */
}

static void test_wrong_hash(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = NULL;
  g_autofree char *part = NULL;
  HsDownloadStats stats;
  HsFakeHubCounts c;
  const char *wrong = "1111111111111111111111111111111111111111111111111111111111111111";

  if (skip_without_data(fx))
    return;
  g_assert_false(fetch(fx, BIG, wrong, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "SHA-256 mismatch"));
  g_test_message("%s", error->message);
  dest = g_build_filename(fx->tmp, BIG, NULL);
  part = g_strconcat(dest, ".part", NULL);
  g_assert_false(g_file_test(dest, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  c = hs_fake_hub_counts(fx->hub, REPO, BIG);
  g_assert_cmpuint(c.full_answers, ==, 2); /* one clean re-download, then refused */
}

static void test_size_mismatch(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *dest = NULL;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  g_assert_false(fetch(fx, BIG, sha, big_size(fx) + 10, NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "refused"));
  g_clear_error(&error);
  g_assert_false(fetch(fx, BIG, sha, big_size(fx) - 10, NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  dest = g_build_filename(fx->tmp, BIG, NULL);
  g_assert_false(g_file_test(dest, G_FILE_TEST_EXISTS));
}

static void test_etag_change(Fixture *fx, gconstpointer data)
{
  gboolean careless = GPOINTER_TO_INT(data);
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;
  HsFakeHubCounts c;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  /* First run: cut after half the file, with the old ETag recorded beside the .part. */
  fx->policy.max_failures = 0;
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_DROP);
  g_assert_false(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_clear_error(&error);
  hs_fake_hub_set_etag(fx->hub, REPO, BIG, "\"changed\"", careless);
  fx->policy.max_failures = 4;
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.restarts, ==, 1);
  g_assert_cmpuint(stats.bytes_received, ==, big_size(fx)); /* all of it again */
  c = hs_fake_hub_counts(fx->hub, REPO, BIG);
  /* If-Range honoured: the server sent the whole file at once; ignored: the client saw the
   * new ETag on the 206 and started over itself. */
  g_assert_cmpuint(c.requests, ==, careless ? 3 : 2);
}

/* Cancelling mid-file keeps the .part; the next start re-hashes it and resumes. A slow server
 * (2 ms per 16 KiB) gives the cancel time to land mid-transfer. */
static void test_cancel_resume(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autofree char *sha = NULL;
  g_autofree char *part = NULL;
  HsDownloadStats stats;
  ProgressLog log = { 0 };
  gint64 have;
  GStatBuf st;

  if (skip_without_data(fx))
    return;
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_SLOW);
  log.cancellable = cancellable;
  log.cancel_at = big_size(fx) / 3;
  g_assert_false(fetch(fx, BIG, sha, big_size(fx), &log, &stats, cancellable, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  part = g_build_filename(fx->tmp, BIG ".part", NULL);
  g_assert_cmpint(g_stat(part, &st), ==, 0);
  have = st.st_size;
  g_assert_cmpint(have, >=, (gint64)(big_size(fx) / 3));
  g_assert_cmpint(have, <, (gint64)big_size(fx));
  g_clear_error(&error);

  memset(&log, 0, sizeof log);
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), &log, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.bytes_rehashed, ==, (guint64)have);
  g_assert_cmpuint(log.rehash_calls, >=, 1); /* the "Verifying…" step was reported */
  g_assert_cmpuint(stats.bytes_received, ==, big_size(fx) - (guint64)have);
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, REPO, BIG).last_range_start, ==, (guint64)have);
}

/* A server that goes silent: the I/O timeout ends the attempt and the retry resumes. */
static void test_stall(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sha = NULL;
  HsDownloadStats stats;

  if (skip_without_data(fx))
    return;
  g_object_unref(fx->session);
  fx->session = hs_hub_session_new(1);
  sha = hs_fake_hub_sha256(fx->hub, REPO, BIG);
  hs_fake_hub_push_fault(fx->hub, REPO, BIG, HS_FAULT_STALL);
  g_assert_true(fetch(fx, BIG, sha, big_size(fx), NULL, &stats, NULL, &error));
  g_assert_no_error(error);
  assert_big_ok(fx, &stats);
  g_assert_cmpuint(stats.failures, ==, 1);
  g_assert_cmpuint(stats.resumes, ==, 1);
  g_assert_cmpuint(stats.bytes_received, ==, big_size(fx));
}

/* The base URL: $HART_STUDIO_HUB_URL, else the download-base-url key, else huggingface.co. */
static void test_base_url(void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default();
  g_autoptr(GSettingsSchema) schema =
      source ? g_settings_schema_source_lookup(source, "io.github.hartstudio.HartStudio", TRUE)
             : NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autofree char *url = NULL;

  g_unsetenv(HS_HUB_URL_ENV);
  if (schema == NULL || !g_settings_schema_has_key(schema, "download-base-url")) {
    url = hs_hub_base_url();
    g_assert_cmpstr(url, ==, HS_HUB_DEFAULT_URL);
    g_test_skip("the app's GSettings schema is not available");
    return;
  }
  settings = g_settings_new_full(schema, NULL, NULL);
  g_settings_set_string(settings, "download-base-url", "");
  url = hs_hub_base_url();
  g_assert_cmpstr(url, ==, HS_HUB_DEFAULT_URL);
  g_clear_pointer(&url, g_free);
  g_settings_set_string(settings, "download-base-url", "http://mirror.example/hub/");
  url = hs_hub_base_url();
  g_assert_cmpstr(url, ==, "http://mirror.example/hub");
  g_clear_pointer(&url, g_free);
  g_setenv(HS_HUB_URL_ENV, "http://127.0.0.1:9/", TRUE);
  url = hs_hub_base_url();
  g_assert_cmpstr(url, ==, "http://127.0.0.1:9");
  g_unsetenv(HS_HUB_URL_ENV);
  g_settings_reset(settings, "download-base-url");
}

#define ADD(name, fn, data)                                                                        \
  g_test_add("/download/" name, Fixture, data, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  g_test_init(&argc, &argv, NULL);
  g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_add_func("/download/path-safety", test_path_safety);
  g_test_add_func("/download/parse-tree", test_parse_tree);
  g_test_add_func("/download/base-url", test_base_url);
  ADD("listing", test_listing, NULL);
  ADD("abbreviated-revision", test_abbreviated_revision, NULL);
  ADD("clean", test_clean, NULL);
  ADD("git-oid", test_git_oid, NULL);
  ADD("drop-resumes", test_drop_resumes, NULL);
  ADD("500-retries", test_500_retries, NULL);
  ADD("500-gives-up", test_500_gives_up, NULL);
  ADD("416-restarts", test_416_restarts, NULL);
  ADD("bad-part", test_bad_part, NULL);
  ADD("wrong-hash", test_wrong_hash, NULL);
  ADD("size-mismatch", test_size_mismatch, NULL);
  ADD("etag-if-range", test_etag_change, GINT_TO_POINTER(FALSE));
  ADD("etag-careless-mirror", test_etag_change, GINT_TO_POINTER(TRUE));
  ADD("cancel-resume", test_cancel_resume, NULL);
  ADD("stall-timeout", test_stall, NULL);
  return g_test_run();
}
