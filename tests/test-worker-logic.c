/* test-worker-logic.c: HsEngineWorker's threading against a scripted engine (fake-engine.c):
 * thread affinity, results, preview coalescing, cancel, shutdown while running, error mapping,
 * and that every object is finalized. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fake-engine.h"
#include "hs-engine-worker.h"
#include "hs-test-worker-wait.h"

static HsEngineWorker *open_worker(void)
{
  HsEngineWorker *worker = hs_engine_worker_new();
  g_autofree char *dir = g_dir_make_tmp("hs-fake-model-XXXXXX", NULL);
  g_autoptr(HsEngineOptions) options = hs_engine_options_new(dir, NULL);
  Wait w = { 0 };

  hs_engine_worker_open_async(worker, options, NULL, on_opened, &w);
  spin_until_done(&w, 20);
  g_assert_no_error(w.error);
  g_rmdir(dir);
  return worker;
}

static void test_result_and_thread(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  hart_engine_info info;
  Wait w = { 0 };
  GThread *engine_thread;

  fake_engine_reset(5, 0);
  worker = open_worker();
  g_assert_true(hs_engine_worker_get_info(worker, &info));
  g_assert_cmpstr(info.device_name, ==, "Fake CPU");

  request->prompt = g_strdup("a red heart");
  request->seed = 0x2a;
  generation = hs_generation_new();
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_no_error(w.error);
  g_assert_nonnull(w.image);
  g_assert_cmpint(w.image->width, ==, 64);
  g_assert_cmpint(w.image->height, ==, 64);
  /* The fake paints the seed's low byte: the request reached the engine unchanged. */
  g_assert_cmpuint(((const guint8 *)g_bytes_get_data(w.image->rgb, NULL))[0], ==, 0x2a);
  g_assert_cmpuint(hs_generation_get_previews_emitted(generation), ==, 5);

  engine_thread = fake_engine.open_thread;
  g_assert_true(engine_thread != g_thread_self());
  g_assert_true(fake_engine.generate_thread == engine_thread);

  hs_engine_worker_shutdown(worker);
  /* The engine is closed on the thread that opened it. */
  g_assert_cmpint(fake_engine.n_close, ==, 1);
  g_assert_true(fake_engine.close_thread == engine_thread);

  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

/* A fast engine and a busy main loop: the main loop sees far fewer frames than the engine made,
 * at least one, and the latest one. */
static void test_preview_coalescing(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  Wait w = { 0 };
  guint emitted, delivered;

  fake_engine_reset(2000, 20);
  worker = open_worker();
  request->prompt = g_strdup("many frames");
  generation = hs_generation_new();
  g_signal_connect(generation, "notify::preview", G_CALLBACK(on_preview), &w);
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_no_error(w.error);

  emitted = hs_generation_get_previews_emitted(generation);
  delivered = hs_generation_get_previews_delivered(generation);
  g_test_message("previews: %u emitted, %u delivered", emitted, delivered);
  g_assert_cmpuint(emitted, ==, 2000);
  g_assert_cmpuint(delivered, ==, w.previews_seen);
  g_assert_cmpuint(delivered, >=, 1);
  g_assert_cmpuint(delivered, <=, emitted);

  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

/* While the main loop is blocked the worker keeps replacing one pending frame: once the loop
 * runs again it receives at most one preview, then the result (which supersedes a pending
 * frame). */
static void test_preview_latest_wins(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  Wait w = { 0 };
  HsImage *preview;

  fake_engine_reset(50, 0);
  worker = open_worker();
  request->prompt = g_strdup("blocked loop");
  generation = hs_generation_new();
  fake_engine.step_sleep_us = 0;
  g_signal_connect(generation, "notify::preview", G_CALLBACK(on_preview), &w);
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &w);
  /* Block the main loop until the engine has made every frame. */
  while (hs_generation_get_previews_emitted(generation) < 50)
    g_usleep(1000);
  g_usleep(20000);
  spin_until_done(&w, 20);
  g_assert_no_error(w.error);
  g_assert_cmpuint(hs_generation_get_previews_delivered(generation), <=, 1);
  preview = hs_generation_get_preview(generation);
  if (preview != NULL) /* delivered before the job ended: it must be the newest frame */
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(preview->rgb, NULL))[0], ==, 50);

  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

static void test_cancel_mid_run(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  Wait w = { 0 };

  fake_engine_reset(400, 5000); /* 2 s if never cancelled */
  worker = open_worker();
  request->prompt = g_strdup("cancel me");
  generation = hs_generation_new();
  w.cancellable = g_cancellable_new();
  w.cancel_after = 3;
  g_signal_connect(generation, "notify::preview", G_CALLBACK(on_preview), &w);
  hs_engine_worker_generate_async(worker, request, generation, w.cancellable, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null(w.image);
  g_assert_true(fake_engine.last_cancelled);
  g_assert_cmpint(fake_engine.last_steps_run, <, 400);
  g_test_message("cancelled after %d of 400 steps", fake_engine.last_steps_run);

  /* The worker takes the next request normally. */
  wait_clear(&w);
  memset(&w, 0, sizeof w);
  fake_engine.n_steps = 2;
  fake_engine.step_sleep_us = 0;
  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_no_error(w.error);
  g_assert_nonnull(w.image);

  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

static void test_cancel_before_start(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  Wait w = { 0 };

  fake_engine_reset(5, 0);
  worker = open_worker();
  w.cancellable = g_cancellable_new();
  g_cancellable_cancel(w.cancellable);
  hs_engine_worker_generate_async(worker, request, NULL, w.cancellable, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint(fake_engine.n_generate, ==, 0);
  wait_clear(&w);
  drain_and_finalize(worker);
}

/* Shutdown while a long job runs: the job is cancelled, the thread joins promptly, the engine is
 * closed on its thread, and the pending callbacks still arrive with errors. */
static void test_shutdown_while_running(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  Wait running = { 0 }, queued = { 0 }, late = { 0 };
  gint64 t0;

  fake_engine_reset(100000, 1000); /* 100 s if never cancelled */
  worker = open_worker();
  request->prompt = g_strdup("long");
  generation = hs_generation_new();
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &running);
  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_generated, &queued);
  while (hs_generation_get_previews_emitted(generation) < 3)
    g_usleep(1000);

  t0 = g_get_monotonic_time();
  hs_engine_worker_shutdown(worker);
  g_test_message("shutdown joined in %.1f ms", (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
  g_assert_true(fake_engine.last_cancelled);
  g_assert_cmpint(fake_engine.n_close, ==, 1);
  g_assert_true(fake_engine.close_thread == fake_engine.open_thread);

  /* Requests after shutdown fail cleanly. */
  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_generated, &late);
  spin_until_done(&running, 20);
  spin_until_done(&queued, 20);
  spin_until_done(&late, 20);
  g_assert_error(running.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_error(queued.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_SHUT_DOWN);
  g_assert_error(late.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_SHUT_DOWN);
  g_assert_cmpint(fake_engine.n_generate, ==, 1);

  wait_clear(&running);
  wait_clear(&queued);
  wait_clear(&late);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

/* Dropping the last reference while a job runs is a shutdown too (dispose joins). */
static void test_unref_while_running(void)
{
  HsEngineWorker *worker;
  g_autoptr(HsRequest) request = hs_request_new();
  HsGeneration *generation;
  Wait w = { 0 };

  fake_engine_reset(100000, 1000);
  worker = open_worker();
  generation = hs_generation_new();
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &w);
  while (hs_generation_get_previews_emitted(generation) < 2)
    g_usleep(1000);
  /* The task holds a reference until its callback ran; dispose runs after it. */
  g_object_run_dispose(G_OBJECT(worker));
  spin_until_done(&w, 20);
  g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint(fake_engine.n_close, ==, 1);
  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

static void test_errors(void)
{
  HsEngineWorker *worker = hs_engine_worker_new();
  g_autoptr(HsEngineOptions) bad = hs_engine_options_new("/nonexistent/hart-model", NULL);
  g_autoptr(HsRequest) request = hs_request_new();
  Wait w = { 0 };

  fake_engine_reset(3, 0);
  /* Without a model. */
  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_error(w.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NOT_OPEN);
  wait_clear(&w);

  /* A folder that cannot be read: the message names it. */
  memset(&w, 0, sizeof w);
  hs_engine_worker_open_async(worker, bad, NULL, on_opened, &w);
  spin_until_done(&w, 20);
  g_assert_error(w.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_IO);
  g_assert_nonnull(strstr(w.error->message, "/nonexistent/hart-model"));
  g_assert_false(hs_engine_worker_get_info(worker, NULL));
  wait_clear(&w);
  drain_and_finalize(worker);

  /* Out of GPU memory keeps its own code (the UI offers the CPU). */
  worker = open_worker();
  memset(&w, 0, sizeof w);
  request->prompt = g_strdup("fail:device-memory");
  hs_engine_worker_generate_async(worker, request, NULL, NULL, on_generated, &w);
  spin_until_done(&w, 20);
  g_assert_error(w.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_DEVICE_MEMORY);
  g_assert_nonnull(strstr(w.error->message, "cudaMalloc"));
  wait_clear(&w);
  drain_and_finalize(worker);
}

int main(int argc, char *argv[])
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/worker-logic/result-and-thread", test_result_and_thread);
  g_test_add_func("/worker-logic/preview-coalescing", test_preview_coalescing);
  g_test_add_func("/worker-logic/preview-latest-wins", test_preview_latest_wins);
  g_test_add_func("/worker-logic/cancel-mid-run", test_cancel_mid_run);
  g_test_add_func("/worker-logic/cancel-before-start", test_cancel_before_start);
  g_test_add_func("/worker-logic/shutdown-while-running", test_shutdown_while_running);
  g_test_add_func("/worker-logic/unref-while-running", test_unref_while_running);
  g_test_add_func("/worker-logic/errors", test_errors);
  return g_test_run();
}
