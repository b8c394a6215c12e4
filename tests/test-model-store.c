/* test-model-store.c: HsModelStore end to end against the loopback hub (tests/hs-fake-hub.c)
 * serving a fake release built from shared/golden/tiny (with llm/ema_model.bin) and
 * shared/text/qwen2-tiny: download with injected failures, progress, cancel and resume,
 * conversion, wrong hashes, disk space, pinned hashes, import of good and broken folders,
 * verify and delete, and opening the result with the engine. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hart.h"
#include "hs-fake-hub.h"
#include "hs-model-fs.h"
#include "hs-model-store.h"
#include "tensor.h"

#define HART_REPO HS_FAKE_HART_REPO
#define HART_FULL HS_FAKE_HART_FULL
#define TEXT_REPO HS_FAKE_TEXT_REPO
#define TEXT_FULL HS_FAKE_TEXT_FULL

static const HsModelRelease fake_release = {
  .name = "fake",
  .components = { { HS_MODEL_PART_HART, HART_REPO, "a1b2c3d", NULL, 0 },
                  { HS_MODEL_PART_TEXT, TEXT_REPO, "main", NULL, 0 } },
  .n_components = 2,
};

typedef struct {
  HsFakeHub *hub;
  HsModelStore *store;
  char *tmp;
  char *root;
} Fixture;

static char *shared_path(const char *rel)
{
  const char *root = g_getenv("HART_SHARED");
  return root ? g_build_filename(root, rel, NULL) : g_strdup("/nonexistent");
}

static void fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autofree char *probe = shared_path("golden/tiny/llm/ema_model.bin");
  g_autofree char *probe2 = shared_path("text/qwen2-tiny/model.safetensors");
  HsDownloadPolicy policy;

  if (!g_file_test(probe, G_FILE_TEST_EXISTS) || !g_file_test(probe2, G_FILE_TEST_EXISTS))
    return;
  fx->hub = hs_fake_hub_new_release();
  fx->tmp = g_dir_make_tmp("hs-store-XXXXXX", NULL);
  fx->root = g_build_filename(fx->tmp, "models", NULL);
  fx->store = hs_model_store_new(fx->root);
  hs_download_policy_init(&policy);
  policy.backoff_initial_ms = 5;
  policy.backoff_max_ms = 40;
  hs_model_store_set_policy(fx->store, &policy);
  hs_model_store_set_timeout(fx->store, 10);
}

static void fixture_teardown(Fixture *fx, gconstpointer data)
{
  if (fx->hub == NULL)
    return;
  g_assert_finalize_object(fx->store);
  hs_fs_remove_tree(fx->tmp, NULL);
  g_free(fx->tmp);
  g_free(fx->root);
  hs_fake_hub_free(fx->hub);
}

static gboolean skip_without_data(Fixture *fx)
{
  if (fx->hub != NULL)
    return FALSE;
  g_test_skip("shared/golden/tiny or shared/text/qwen2-tiny not found (HART_SHARED)");
  return TRUE;
}

/* ---- the main loop side of an async download ---- */

typedef struct {
  GMainLoop *loop;
  gboolean ok;
  GError *error;
  guint signals;
  guint downloading;
  double max_rate;
  double min_eta;
  guint64 max_done;
  guint64 total;
  guint64 done_bytes; /* bytes_done of the DONE signal */
  HsModelPhase last_phase;
  const char *cancel_path; /* cancel once this file has shown progress this many times */
  guint cancel_after;
  guint seen_cancel_path;
  GCancellable *cancellable;
  GThread *main_thread;
} Run;

static void on_progress(HsModelStore *store, const HsModelProgress *p, Run *run)
{
  /* ::progress is emitted on the store's (this) thread, never on the worker. */
  g_assert_true(g_thread_self() == run->main_thread);
  run->signals++;
  run->last_phase = p->phase;
  /* Byte counts are checked in every phase: emissions are coalesced to the latest snapshot, so
   * the last file's final DOWNLOADING update may be replaced by VALIDATING or DONE before the
   * main thread sees it, and those carry the same counts. */
  g_assert_cmpuint(p->bytes_done, <=, p->bytes_total);
  run->max_done = MAX(run->max_done, p->bytes_done);
  run->total = MAX(run->total, p->bytes_total);
  if (p->phase == HS_MODEL_PHASE_DONE)
    run->done_bytes = p->bytes_done;
  if (p->phase == HS_MODEL_PHASE_DOWNLOADING) {
    run->downloading++;
    run->max_rate = MAX(run->max_rate, p->bytes_per_second);
    if (p->eta_seconds >= 0)
      run->min_eta = MIN(run->min_eta, p->eta_seconds);
    g_assert_cmpuint(p->file_index, >=, 1);
    g_assert_cmpuint(p->file_index, <=, p->n_files);
    if (run->cancel_path != NULL && g_strcmp0(p->path, run->cancel_path) == 0 &&
        ++run->seen_cancel_path == run->cancel_after)
      g_cancellable_cancel(run->cancellable);
  }
}

static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Run *run = data;
  run->ok = hs_model_store_download_finish(HS_MODEL_STORE(source), result, &run->error);
  g_main_loop_quit(run->loop);
}

static void run_async(Fixture *fx, Run *run)
{
  gulong id = g_signal_connect(fx->store, "progress", G_CALLBACK(on_progress), run);
  run->loop = g_main_loop_new(NULL, FALSE);
  run->min_eta = G_MAXDOUBLE;
  run->main_thread = g_thread_self();
  hs_model_store_download_async(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                run->cancellable, on_done, run);
  g_main_loop_run(run->loop);
  /* Let queued ::progress emissions run before the handler goes away. */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_signal_handler_disconnect(fx->store, id);
  g_main_loop_unref(run->loop);
}

static char *entry_dir(Fixture *fx, const char *repo, const char *rev)
{
  return hs_model_store_entry_dir(fx->store, repo, rev);
}

static void assert_file_sha(const char *dir, const HsModelFile *f)
{
  g_autofree char *path = g_build_filename(dir, f->path, NULL);
  g_autofree char *sha = hs_file_sha256(path, NULL, NULL);
  g_assert_nonnull(sha);
  g_assert_cmpstr(sha, ==, f->sha256);
  g_assert_cmpint(hs_fs_file_size(path), ==, (gint64)f->size);
}

/* Every tensor of a converted file equals the golden safetensors bit for bit (ema_model.bin
 * holds the same state dict as llm/model.safetensors). */
static void assert_same_tensors(const char *converted, const char *golden_rel)
{
  g_autofree char *golden = shared_path(golden_rel);
  hart_tensor_set *a = NULL, *b = NULL;
  hart_error err = { 0 };

  g_assert_cmpint(hart_tensor_set_open_safetensors(converted, &a, &err), ==, HART_OK);
  g_assert_cmpint(hart_tensor_set_open_safetensors(golden, &b, &err), ==, HART_OK);
  g_assert_cmpuint(hart_tensor_set_count(a), ==, hart_tensor_set_count(b));
  for (size_t i = 0; i < hart_tensor_set_count(b); i++) {
    const hart_tensor *tb = hart_tensor_set_at(b, i);
    const hart_tensor *ta = hart_tensor_set_get(a, tb->name);
    g_assert_nonnull(ta);
    g_assert_cmpint(ta->dtype, ==, tb->dtype);
    g_assert_cmpint(hart_tensor_numel(ta), ==, hart_tensor_numel(tb));
    g_assert_cmpint(memcmp(ta->data, tb->data, ta->nbytes), ==, 0);
  }
  hart_tensor_set_free(a);
  hart_tensor_set_free(b);
}

static void check_hart_entry(Fixture *fx)
{
  g_autofree char *dir = entry_dir(fx, HART_REPO, HART_FULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsModelManifest) m = hs_model_manifest_load(dir, &error);
  g_autofree char *bin = g_build_filename(dir, "llm/ema_model.bin", NULL);
  g_autofree char *st = g_build_filename(dir, "llm/ema_model.safetensors", NULL);
  HsModelFile *f;

  g_assert_no_error(error);
  g_assert_cmpint(m->state, ==, HS_MODEL_STATE_READY);
  g_assert_cmpstr(m->revision, ==, HART_FULL);
  g_assert_cmpstr(m->requested_revision, ==, "a1b2c3d");
  /* Only what the engine needs: no README, no .gitattributes, no non-EMA weights. */
  g_assert_null(hs_model_manifest_find(m, "README.md"));
  g_assert_null(hs_model_manifest_find(m, ".gitattributes"));
  g_assert_null(hs_model_manifest_find(m, "llm/model.safetensors"));
  g_assert_cmpuint(m->files->len, ==, 5);
  for (guint i = 0; i < m->files->len; i++) {
    f = m->files->pdata[i];
    if (f->state == HS_MODEL_FILE_COMPLETE)
      assert_file_sha(dir, f);
    if (f->converted_from == NULL && f->state == HS_MODEL_FILE_COMPLETE) {
      g_autofree char *want = hs_fake_hub_sha256(fx->hub, HART_REPO, f->path);
      g_assert_cmpstr(f->sha256, ==, want);
    }
  }
  /* Converted once: the checkpoint is replaced by a verified safetensors file. */
  f = hs_model_manifest_find(m, "llm/ema_model.bin");
  g_assert_cmpint(f->state, ==, HS_MODEL_FILE_CONVERTED);
  g_assert_cmpstr(f->converted_to, ==, "llm/ema_model.safetensors");
  f = hs_model_manifest_find(m, "llm/ema_model.safetensors");
  g_assert_cmpstr(f->converted_from, ==, "llm/ema_model.bin");
  g_assert_false(g_file_test(bin, G_FILE_TEST_EXISTS));
  assert_same_tensors(st, "golden/tiny/llm/model.safetensors");
}

static void test_download(Fixture *fx, gconstpointer data)
{
  Run run = { 0 };
  HsFakeHubCounts c;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_dir = NULL;
  g_autoptr(GError) error = NULL;
  guint requests;

  if (skip_without_data(fx))
    return;
  /* A failure of every kind the network produces, spread over the release. */
  hs_fake_hub_push_fault(fx->hub, HART_REPO, "llm/ema_model.bin", HS_FAULT_DROP);
  hs_fake_hub_push_fault(fx->hub, HART_REPO, "tokenizer/model.safetensors", HS_FAULT_500);
  hs_fake_hub_push_fault(fx->hub, HART_REPO, "tokenizer/model.safetensors", HS_FAULT_500);
  hs_fake_hub_push_fault(fx->hub, TEXT_REPO, "model.safetensors", HS_FAULT_SLOW);
  hs_fake_hub_push_fault(fx->hub, TEXT_REPO, "tokenizer.json", HS_FAULT_DROP);
  hs_fake_hub_push_fault(fx->hub, TEXT_REPO, "tokenizer.json", HS_FAULT_416);
  run_async(fx, &run);
  g_assert_no_error(run.error);
  g_assert_true(run.ok);

  check_hart_entry(fx);
  c = hs_fake_hub_counts(fx->hub, HART_REPO, "llm/ema_model.bin");
  g_assert_cmpuint(c.range_requests, ==, 1); /* resumed after the drop */
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, HART_REPO, "tokenizer/model.safetensors").requests,
                   ==, 3);
  c = hs_fake_hub_counts(fx->hub, TEXT_REPO, "tokenizer.json");
  g_assert_cmpuint(c.requests, ==, 3); /* drop, 416 on the resume, clean restart */
  g_assert_cmpuint(c.full_answers, ==, 2);
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, HART_REPO, "llm/model.safetensors").requests, ==, 0);
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, TEXT_REPO, "README.md").requests, ==, 0);

  text_dir = entry_dir(fx, TEXT_REPO, TEXT_FULL);
  {
    g_autoptr(HsModelManifest) m = hs_model_manifest_load(text_dir, &error);
    g_assert_no_error(error);
    g_assert_cmpint(m->state, ==, HS_MODEL_STATE_READY);
    g_assert_cmpuint(m->files->len, ==, 4);
    for (guint i = 0; i < m->files->len; i++)
      assert_file_sha(text_dir, m->files->pdata[i]);
  }

  /* Progress: seen on the main thread, with a rate, an ETA and the whole byte count. */
  g_assert_cmpuint(run.downloading, >=, 3);
  g_assert_cmpfloat(run.max_rate, >, 0);
  g_assert_cmpfloat(run.min_eta, <, G_MAXDOUBLE);
  g_assert_cmpuint(run.max_done, ==, run.total);
  g_assert_cmpint(run.last_phase, ==, HS_MODEL_PHASE_DONE);
  g_assert_cmpuint(run.done_bytes, ==, run.total);
  g_test_message("%u progress signals, peak %.1f MB/s", run.signals, run.max_rate / 1e6);

  g_assert_true(hs_model_store_find_ready(fx->store, &fake_release, &hart, &text));
  g_assert_cmpstr(text, ==, text_dir);

  /* Installed: a second download does not touch the network. */
  requests = hs_fake_hub_total_requests(fx->hub);
  g_assert_true(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                             NULL, NULL, NULL, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(hs_fake_hub_total_requests(fx->hub), ==, requests);
}

/* Cancel in the middle of a slow file; the next start resumes that file where it stopped and
 * leaves the finished component alone. */
static void test_cancel_resume(Fixture *fx, gconstpointer data)
{
  Run run = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *text_dir = NULL;
  g_autofree char *part = NULL;
  g_autoptr(HsModelManifest) m = NULL;
  HsFakeHubCounts c;
  gint64 have;
  guint hart_requests;

  if (skip_without_data(fx))
    return;
  hs_fake_hub_push_fault(fx->hub, TEXT_REPO, "tokenizer.json", HS_FAULT_SLOW);
  run.cancellable = g_cancellable_new();
  run.cancel_path = "tokenizer.json";
  run.cancel_after = 3;
  run_async(fx, &run);
  g_assert_false(run.ok);
  g_assert_error(run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&run.error);
  g_object_unref(run.cancellable);

  text_dir = entry_dir(fx, TEXT_REPO, TEXT_FULL);
  m = hs_model_manifest_load(text_dir, &error);
  g_assert_no_error(error);
  g_assert_cmpint(m->state, ==, HS_MODEL_STATE_INCOMPLETE);
  part = g_build_filename(text_dir, "tokenizer.json.part", NULL);
  have = hs_fs_file_size(part);
  g_assert_cmpint(have, >, 0);
  g_assert_cmpint(have, <, (gint64)hs_model_manifest_find(m, "tokenizer.json")->size);

  hart_requests = hs_fake_hub_counts(fx->hub, HART_REPO, "llm/ema_model.bin").requests;
  g_assert_true(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                             NULL, NULL, NULL, &error));
  g_assert_no_error(error);
  c = hs_fake_hub_counts(fx->hub, TEXT_REPO, "tokenizer.json");
  g_assert_cmpuint(c.range_requests, ==, 1);
  g_assert_cmpuint(c.last_range_start, ==, (guint64)have);
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, HART_REPO, "llm/ema_model.bin").requests, ==,
                   hart_requests);
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  check_hart_entry(fx);
}

static void test_wrong_hash(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autoptr(HsModelManifest) m = NULL;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;

  if (skip_without_data(fx))
    return;
  hs_fake_hub_set_listed_sha256(fx->hub, HART_REPO, "tokenizer/model.safetensors",
                                "0000000000000000000000000000000000000000000000000000000000000001");
  g_assert_false(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                              NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "SHA-256 mismatch"));
  g_assert_nonnull(strstr(error->message, "tokenizer/model.safetensors"));
  dir = entry_dir(fx, HART_REPO, HART_FULL);
  file = g_build_filename(dir, "tokenizer/model.safetensors", NULL);
  g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
  m = hs_model_manifest_load(dir, NULL);
  g_assert_cmpint(m->state, ==, HS_MODEL_STATE_INCOMPLETE);
  g_assert_cmpint(hs_model_manifest_find(m, "tokenizer/model.safetensors")->state, ==,
                  HS_MODEL_FILE_PENDING);
  g_assert_false(hs_model_store_find_ready(fx->store, &fake_release, &hart, &text));
}

static void test_no_space(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  if (skip_without_data(fx))
    return;
  hs_model_store_set_free_space_override(fx->store, 1024 * 1024);
  g_assert_false(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                              NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull(strstr(error->message, "not enough disk space"));
  g_test_message("%s", error->message);
  /* Refused before any file was requested. */
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, HART_REPO, "llm/config.json").requests, ==, 0);
  g_assert_cmpuint(hs_fake_hub_counts(fx->hub, TEXT_REPO, "config.json").requests, ==, 0);
}

/* Another process (here: another open file) holding the store lock: refused, not mixed. */
static void test_busy(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *lock = NULL;
  g_autofree char *src = NULL;
  int fd;

  if (skip_without_data(fx))
    return;
  g_mkdir_with_parents(fx->root, 0755);
  lock = g_build_filename(fx->root, ".lock", NULL);
  fd = g_open(lock, O_RDWR | O_CREAT, 0644);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(flock(fd, LOCK_EX), ==, 0);
  g_assert_false(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                              NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error(&error);
  src = shared_path("golden/tiny");
  g_assert_null(hs_model_store_import_sync(fx->store, src, NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error(&error);
  close(fd);
  g_assert_true(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                             NULL, NULL, NULL, &error));
  g_assert_no_error(error);
}

static void test_pinned_mismatch(Fixture *fx, gconstpointer data)
{
  static const HsPinnedFile pins[] = {
    { "llm/config.json", 818, "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface" },
  };
  HsModelRelease release = fake_release;
  g_autoptr(GError) error = NULL;

  if (skip_without_data(fx))
    return;
  release.components[0].pinned = pins;
  release.components[0].n_pinned = G_N_ELEMENTS(pins);
  g_assert_false(hs_model_store_download_sync(fx->store, &release, hs_fake_hub_url(fx->hub), NULL,
                                              NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "differs from the pinned release"));
  g_assert_nonnull(strstr(error->message, "llm/config.json"));
}

/* ---- the store's own download (what the UI drives) ---- */

typedef struct {
  GMainLoop *loop;
  GError *error;
  gboolean finished;
  guint notifies;
  gboolean cancel_on_progress;
  HsModelStore *store;
} Own;

static void own_progress(HsModelStore *store, const HsModelProgress *p, Own *own)
{
  if (own->cancel_on_progress && p->phase == HS_MODEL_PHASE_DOWNLOADING && p->bytes_done > 0)
    hs_model_store_cancel_download(store);
}

static void own_finished(HsModelStore *store, const GError *error, Own *own)
{
  own->finished = TRUE;
  g_clear_error(&own->error);
  own->error = error ? g_error_copy(error) : NULL;
  g_assert_false(hs_model_store_get_downloading(store));
  g_main_loop_quit(own->loop);
}

static void own_notify(GObject *store, GParamSpec *pspec, Own *own)
{
  own->notifies++;
}

static void test_own_download(Fixture *fx, gconstpointer data)
{
  Own own = { 0 };
  gulong ids[3];

  if (skip_without_data(fx))
    return;
  own.loop = g_main_loop_new(NULL, FALSE);
  ids[0] = g_signal_connect(fx->store, "progress", G_CALLBACK(own_progress), &own);
  ids[1] = g_signal_connect(fx->store, "download-finished", G_CALLBACK(own_finished), &own);
  ids[2] = g_signal_connect(fx->store, "notify::downloading", G_CALLBACK(own_notify), &own);
  hs_fake_hub_push_fault(fx->hub, HART_REPO, "llm/ema_model.bin", HS_FAULT_SLOW);

  own.cancel_on_progress = TRUE;
  hs_model_store_start_download(fx->store, &fake_release, hs_fake_hub_url(fx->hub));
  g_assert_true(hs_model_store_get_downloading(fx->store));
  hs_model_store_start_download(fx->store, &fake_release, hs_fake_hub_url(fx->hub)); /* no-op */
  g_main_loop_run(own.loop);
  g_assert_error(own.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint(own.notifies, ==, 2);

  own.cancel_on_progress = FALSE;
  hs_model_store_start_download(fx->store, &fake_release, hs_fake_hub_url(fx->hub));
  g_main_loop_run(own.loop);
  g_assert_no_error(own.error);
  g_assert_cmpuint(own.notifies, ==, 4);
  g_assert_cmpint(hs_model_store_get_last_progress(fx->store)->phase, ==, HS_MODEL_PHASE_DONE);
  check_hart_entry(fx);
  for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
    g_signal_handler_disconnect(fx->store, ids[i]);
  g_main_loop_unref(own.loop);
}

/* ---- import ---- */

static char *copy_folder(Fixture *fx, const char *shared_rel, const char *name)
{
  g_autofree char *src = shared_path(shared_rel);
  g_autoptr(GPtrArray) files = hs_fs_list_files(src, NULL);
  char *dst = g_build_filename(fx->tmp, name, NULL);

  g_assert_nonnull(files);
  for (guint i = 0; i < files->len; i++) {
    g_autofree char *a = g_build_filename(src, files->pdata[i], NULL);
    g_autofree char *b = g_build_filename(dst, files->pdata[i], NULL);
    g_autofree char *sha = NULL;
    g_autofree char *dir = g_path_get_dirname(b);
    g_autofree char *data = NULL;
    gsize len;
    /* Real copies (not links): the broken-folder cases modify them. */
    g_mkdir_with_parents(dir, 0755);
    g_assert_true(g_file_get_contents(a, &data, &len, NULL));
    g_assert_true(g_file_set_contents(b, data, (gssize)len, NULL));
  }
  return dst;
}

static char *text_folder(Fixture *fx)
{
  char *dir = copy_folder(fx, "text/qwen2-tiny", "qwen");
  g_autofree char *tok = shared_path("text/tokenizer.json");
  g_autofree char *dst = g_build_filename(dir, "tokenizer.json", NULL);
  g_autofree char *sha = NULL;
  g_assert_true(hs_fs_copy_hashed(tok, dst, &sha, NULL, NULL));
  return dir;
}

static void test_import_good(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *src = NULL;
  g_autofree char *qwen = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *again = NULL;
  g_autofree char *tdir = NULL;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  g_autoptr(HsModelManifest) m = NULL;
  g_autofree char *st = NULL;

  if (skip_without_data(fx))
    return;
  src = shared_path("golden/tiny");
  dir = hs_model_store_import_sync(fx->store, src, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(dir, fx->root));
  m = hs_model_manifest_load(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpint(m->state, ==, HS_MODEL_STATE_READY);
  g_assert_cmpint(m->part, ==, HS_MODEL_PART_HART);
  g_assert_true(g_str_has_prefix(m->revision, "local-"));
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    if (f->state == HS_MODEL_FILE_COMPLETE)
      assert_file_sha(dir, f);
    if (f->converted_from == NULL) {
      /* The recorded hash is the source file's. */
      g_autofree char *orig = g_build_filename(src, f->path, NULL);
      g_autofree char *sha = hs_file_sha256(orig, NULL, NULL);
      g_assert_cmpstr(sha, ==, f->sha256);
    }
  }
  g_assert_cmpint(hs_model_manifest_find(m, "llm/ema_model.bin")->state, ==,
                  HS_MODEL_FILE_CONVERTED);
  st = g_build_filename(dir, "llm/ema_model.safetensors", NULL);
  assert_same_tensors(st, "golden/tiny/llm/model.safetensors");

  /* The same folder again lands in the same entry. */
  again = hs_model_store_import_sync(fx->store, src, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(again, ==, dir);

  qwen = text_folder(fx);
  tdir = hs_model_store_import_sync(fx->store, qwen, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(hs_model_store_find_ready(fx->store, hs_model_release_default(), &hart, &text));
  g_assert_cmpstr(hart, ==, dir);
  g_assert_cmpstr(text, ==, tdir);
}

typedef void (*BreakFunc)(const char *dir);

static void remove_file(const char *dir, const char *rel)
{
  g_autofree char *p = g_build_filename(dir, rel, NULL);
  g_assert_cmpint(g_unlink(p), ==, 0);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
  g_autofree char *p = g_build_filename(dir, rel, NULL);
  g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void truncate_file(const char *dir, const char *rel)
{
  g_autofree char *p = g_build_filename(dir, rel, NULL);
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(p, &data, &len, NULL));
  g_assert_true(g_file_set_contents(p, data, (gssize)(len / 2), NULL));
}

static void break_missing_config(const char *d)
{
  remove_file(d, "llm/config.json");
}
static void break_bad_config(const char *d)
{
  g_autofree char *p = g_build_filename(d, "llm/config.json", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GRegex) re = g_regex_new("\"depth\": *[0-9]+", 0, 0, NULL);
  g_autofree char *bad = NULL;
  g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
  bad = g_regex_replace_literal(re, text, -1, 0, "\"depth\": \"two\"", 0, NULL);
  g_assert_cmpstr(bad, !=, text);
  write_file(d, "llm/config.json", bad);
}
static void break_not_json(const char *d)
{
  write_file(d, "tokenizer/config.json", "{ this is not json");
}
static void break_truncated(const char *d)
{
  truncate_file(d, "tokenizer/model.safetensors");
}
static void break_no_weights(const char *d)
{
  remove_file(d, "tokenizer/model.safetensors");
}
static void break_bad_checkpoint(const char *d)
{
  truncate_file(d, "llm/ema_model.bin");
}
static void break_fake_checkpoint(const char *d)
{
  write_file(d, "llm/ema_model.bin", "#!/bin/sh\necho never run\n");
}
static void break_text_truncated(const char *d)
{
  truncate_file(d, "model.safetensors");
}
static void break_text_config(const char *d)
{
  write_file(d, "config.json", "{\"model_type\": \"qwen2\", \"hidden_size\": -3}");
}
static void break_not_a_model(const char *d)
{
  g_autofree char *llm = g_build_filename(d, "llm", NULL);
  g_autofree char *tok = g_build_filename(d, "tokenizer", NULL);
  hs_fs_remove_tree(llm, NULL);
  hs_fs_remove_tree(tok, NULL);
  remove_file(d, "case.json");
}

typedef struct {
  const char *name;
  const char *source; /* "hart" or "text" */
  BreakFunc breaker;
  const char *expect[2]; /* substrings of the message */
} BrokenCase;

static const BrokenCase broken_cases[] = {
  { "missing-config", "hart", break_missing_config, { "llm/config.json", "missing" } },
  { "bad-config", "hart", break_bad_config, { "llm/config.json", "depth" } },
  { "config-not-json", "hart", break_not_json, { "tokenizer/config.json", NULL } },
  { "truncated-safetensors", "hart", break_truncated, { "tokenizer/model.safetensors", NULL } },
  { "no-weights", "hart", break_no_weights, { "tokenizer", NULL } },
  { "truncated-checkpoint", "hart", break_bad_checkpoint, { "ema_model.bin", NULL } },
  { "script-as-checkpoint", "hart", break_fake_checkpoint, { "ema_model.bin", NULL } },
  { "text-truncated", "text", break_text_truncated, { "model.safetensors", NULL } },
  { "text-bad-config", "text", break_text_config, { "config.json", "hidden_size" } },
  { "not-a-model", "hart", break_not_a_model, { "neither a HART folder", NULL } },
};

static void test_import_broken(Fixture *fx, gconstpointer data)
{
  if (skip_without_data(fx))
    return;
  for (guint i = 0; i < G_N_ELEMENTS(broken_cases); i++) {
    const BrokenCase *bc = &broken_cases[i];
    g_autofree char *dir = NULL;
    g_autofree char *entry = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GPtrArray) left = NULL;

    dir =
        strcmp(bc->source, "text") == 0 ? text_folder(fx) : copy_folder(fx, "golden/tiny", "hart");
    bc->breaker(dir);
    entry = hs_model_store_import_sync(fx->store, dir, NULL, NULL, NULL, &error);
    g_assert_null(entry);
    g_assert_nonnull(error);
    g_test_message("%s: %s", bc->name, error->message);
    for (guint k = 0; k < 2; k++)
      if (bc->expect[k] != NULL && strstr(error->message, bc->expect[k]) == NULL)
        g_error("%s: message \"%s\" does not name \"%s\"", bc->name, error->message, bc->expect[k]);
    list = hs_model_store_list(fx->store);
    g_assert_cmpuint(list->len, ==, 0);
    /* No staging folder is left behind. */
    left = g_file_test(fx->root, G_FILE_TEST_IS_DIR) ? hs_fs_list_files(fx->root, NULL) : NULL;
    g_assert_true(left == NULL || left->len == 0);
    hs_fs_remove_tree(dir, NULL);
  }
}

static void test_verify_delete(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *src = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *victim = NULL;
  g_autofree char *content = NULL;
  g_autoptr(HsModelManifest) m = NULL;
  g_autoptr(GPtrArray) list = NULL;
  gsize len;

  if (skip_without_data(fx))
    return;
  src = shared_path("golden/tiny");
  dir = hs_model_store_import_sync(fx->store, src, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(hs_model_store_verify_sync(fx->store, dir, NULL, NULL, NULL, &error));
  g_assert_no_error(error);

  /* One flipped byte: verify names the file; the entry is marked broken. The file is a copy
   * or a hard link of the shared file, so write a new file rather than modify it in place. */
  victim = g_build_filename(dir, "tokenizer/model.safetensors", NULL);
  g_assert_true(g_file_get_contents(victim, &content, &len, NULL));
  content[len / 2] ^= 1;
  g_assert_cmpint(g_unlink(victim), ==, 0);
  g_assert_true(g_file_set_contents(victim, content, (gssize)len, NULL));
  g_assert_false(hs_model_store_verify_sync(fx->store, dir, NULL, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "tokenizer/model.safetensors"));
  g_assert_nonnull(strstr(error->message, "SHA-256"));
  g_clear_error(&error);
  m = hs_model_manifest_load(dir, NULL);
  g_assert_cmpint(m->state, ==, HS_MODEL_STATE_BROKEN);
  g_assert_nonnull(strstr(m->message, "tokenizer/model.safetensors"));

  /* Delete: only store entries. */
  g_assert_false(hs_model_store_delete(fx->store, fx->tmp, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  g_assert_true(hs_model_store_delete(fx->store, dir, &error));
  g_assert_no_error(error);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
  list = hs_model_store_list(fx->store);
  g_assert_cmpuint(list->len, ==, 0);
}

/* Generates one image from model_dir on the CPU, conditioned on batch element 0 of
 * golden/tiny/inputs.safetensors. */
static hart_status generate_from(const char *model_dir, const char *text_dir, uint64_t seed,
                                 hart_image *image, char *msg, size_t msg_len)
{
  g_autofree char *inputs = shared_path("golden/tiny/inputs.safetensors");
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  hart_open_options opts;
  hart_engine *engine = NULL;
  hart_request req;
  hart_status st;

  g_assert_cmpint(hart_tensor_set_open_safetensors(inputs, &set, &err), ==, HART_OK);
  hart_open_options_init(&opts);
  opts.model_dir = model_dir;
  opts.text_model_dir = text_dir;
  opts.backend = HART_BACKEND_CPU;
  opts.n_threads = 2;
  st = hart_engine_open(&opts, &engine, msg, msg_len);
  if (st == HART_OK) {
    hart_request_init(&req);
    if (text_dir != NULL) {
      req.prompt = "a red heart";
    } else {
      req.context = hart_tensor_set_get(set, "context")->data;
      req.context_mask = hart_tensor_set_get(set, "context_mask")->data;
      req.context_position_ids = hart_tensor_set_get(set, "context_position_ids")->data;
    }
    req.seed = seed;
    st = hart_generate(engine, &req, image);
    if (st != HART_OK)
      g_strlcpy(msg, hart_engine_last_error(engine), msg_len);
    hart_engine_close(engine);
  }
  hart_tensor_set_free(set);
  return st;
}

/* The downloaded and converted store entry opens with the engine and generates exactly the
 * image the golden folder (with its original ema_model.bin) gives for the same seed. */
static void test_engine_generates(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  g_autofree char *golden = shared_path("golden/tiny");
  hart_image a = { 0 }, b = { 0 };
  char msg[512] = "";
  hart_status st;

  if (skip_without_data(fx))
    return;
  g_assert_true(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                             NULL, NULL, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(hs_model_store_find_ready(fx->store, &fake_release, &hart, &text));
  st = generate_from(hart, NULL, 7, &a, msg, sizeof msg);
  if (st == HART_ERR_UNSUPPORTED) {
    g_test_skip_printf("the engine cannot generate yet: %s", msg);
    return;
  }
  if (st != HART_OK)
    g_error("%s: %s", hart_status_name(st), msg);
  g_assert_cmpint(a.width, ==, 64);
  g_assert_cmpint(a.height, ==, 64);
  st = generate_from(golden, NULL, 7, &b, msg, sizeof msg);
  g_assert_cmpint(st, ==, HART_OK);
  g_assert_cmpint(memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3), ==, 0);
  hart_image_clear(&a);
  hart_image_clear(&b);
}

/* With the text model from the store: a prompt instead of a context tensor. */
static void test_engine_prompt(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  hart_image image = { 0 };
  char msg[512] = "";
  hart_status st;

  if (skip_without_data(fx))
    return;
  g_assert_true(hs_model_store_download_sync(fx->store, &fake_release, hs_fake_hub_url(fx->hub),
                                             NULL, NULL, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(hs_model_store_find_ready(fx->store, &fake_release, &hart, &text));
  st = generate_from(hart, text, 1, &image, msg, sizeof msg);
  if (st == HART_ERR_UNSUPPORTED) {
    g_test_skip_printf("the engine cannot use the text model yet: %s", msg);
    return;
  }
  if (st != HART_OK)
    g_error("%s: %s", hart_status_name(st), msg);
  g_assert_cmpint(image.width, ==, 64);
  hart_image_clear(&image);
}

/* ---- the hart-models tool ---- */

static char *run_cli(const char *root, int *status, const char *arg1, const char *arg2)
{
  const char *cli = g_getenv("HART_MODELS_CLI");
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;

  proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error,
                          cli, "--store", root, arg1, arg2, NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &out, NULL, &error));
  g_assert_no_error(error);
  *status = g_subprocess_get_exit_status(proc);
  return out;
}

static void test_cli(Fixture *fx, gconstpointer data)
{
  g_autofree char *src = NULL;
  g_autofree char *out = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(GPtrArray) list = NULL;
  int status = -1;

  if (skip_without_data(fx))
    return;
  if (g_getenv("HART_MODELS_CLI") == NULL) {
    g_test_skip("HART_MODELS_CLI not set");
    return;
  }
  src = shared_path("golden/tiny");
  out = run_cli(fx->root, &status, "import", src);
  g_assert_cmpint(status, ==, 0);
  g_assert_nonnull(strstr(out, "imported into"));
  g_clear_pointer(&out, g_free);
  list = hs_model_store_list(fx->store);
  g_assert_cmpuint(list->len, ==, 1);
  dir = g_strdup(((HsModelEntry *)list->pdata[0])->dir);

  out = run_cli(fx->root, &status, "list", NULL);
  g_assert_cmpint(status, ==, 0);
  g_assert_nonnull(strstr(out, "ready"));
  g_assert_nonnull(strstr(out, dir));
  g_clear_pointer(&out, g_free);

  out = run_cli(fx->root, &status, "verify", dir);
  g_assert_cmpint(status, ==, 0);
  g_assert_nonnull(strstr(out, ": ok"));
  g_clear_pointer(&out, g_free);

  out = run_cli(fx->root, &status, "import", fx->tmp); /* not a model folder */
  g_assert_cmpint(status, ==, 1);
  g_assert_nonnull(strstr(out, "neither a HART folder"));
  g_clear_pointer(&out, g_free);

  out = run_cli(fx->root, &status, "delete", dir);
  g_assert_cmpint(status, ==, 0);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

#define ADD(name, fn) g_test_add("/store/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_init(&argc, &argv, NULL);
  ADD("download", test_download);
  ADD("cancel-resume", test_cancel_resume);
  ADD("own-download", test_own_download);
  ADD("wrong-hash", test_wrong_hash);
  ADD("no-space", test_no_space);
  ADD("busy", test_busy);
  ADD("pinned-mismatch", test_pinned_mismatch);
  ADD("import-good", test_import_good);
  ADD("import-broken", test_import_broken);
  ADD("verify-delete", test_verify_delete);
  ADD("cli", test_cli);
  ADD("engine-generates", test_engine_generates);
  ADD("engine-prompt", test_engine_prompt);
  return g_test_run();
}
