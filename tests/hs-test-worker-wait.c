/* hs-test-worker-wait.c: see hs-test-worker-wait.h. */
#include "hs-test-worker-wait.h"

#include <string.h>

void wait_clear(Wait *w)
{
  g_clear_pointer(&w->image, hs_image_unref);
  g_clear_error(&w->error);
  g_clear_object(&w->cancellable);
  memset(w, 0, sizeof *w);
}

void spin_until_done(Wait *w, int timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

  while (!w->done) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_main_context_iteration(NULL, TRUE);
  }
}

void on_opened(GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;

  hs_engine_worker_open_finish(HS_ENGINE_WORKER(source), result, &w->error);
  w->done = TRUE;
}

void on_generated(GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;

  w->image = hs_engine_worker_generate_finish(HS_ENGINE_WORKER(source), result, &w->error);
  w->done = TRUE;
}

void on_preview(HsGeneration *generation, GParamSpec *pspec, Wait *w)
{
  (void)generation;
  (void)pspec;
  w->previews_seen++;
  if (w->cancel_after > 0 && w->previews_seen == w->cancel_after)
    g_cancellable_cancel(w->cancellable);
}

void drain_and_finalize(gpointer object)
{
  gpointer weak = object;
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

  g_object_add_weak_pointer(object, &weak);
  g_object_unref(object);
  while (weak != NULL && g_get_monotonic_time() < deadline) {
    g_main_context_iteration(NULL, FALSE);
    g_usleep(500);
  }
  g_assert_null(weak);
}
