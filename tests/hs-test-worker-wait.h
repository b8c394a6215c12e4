/* hs-test-worker-wait.h: waiting on HsEngineWorker results in the worker tests (the real engine in
 * test-worker.c, the scripted one in test-worker-logic.c): a Wait the async callbacks fill in,
 * a main-loop spin with a deadline, and a finalization check that lets idle deliveries land. */
#pragma once

#include "hs-engine-worker.h"
#include "hs-generation.h"

typedef struct {
  gboolean done;
  HsImage *image;
  GError *error;
  guint previews_seen;
  guint cancel_after; /* cancel when this many previews were delivered (0: never) */
  GCancellable *cancellable;
} Wait;

/* Frees what the Wait holds and zeroes it, so it can be reused. */
void wait_clear(Wait *w);
/* Runs the main context until w->done, failing the test after timeout_s seconds. */
void spin_until_done(Wait *w, int timeout_s);
/* GAsyncReadyCallbacks for hs_engine_worker_open and hs_engine_worker_generate (data: Wait). */
void on_opened(GObject *source, GAsyncResult *result, gpointer data);
void on_generated(GObject *source, GAsyncResult *result, gpointer data);
/* notify::preview handler: counts previews and cancels w->cancellable after w->cancel_after. */
void on_preview(HsGeneration *generation, GParamSpec *pspec, Wait *w);
/* Drops the last reference and asserts the object is finalized, running the main context for
 * up to 5 s first: idle deliveries and task releases the worker hands back may still be on their
 * way (g_assert_finalize_object would not wait for them). */
void drain_and_finalize(gpointer object);
