/* hs-engine-worker.h: the one long-lived thread that owns the hart_engine.
 *
 * The engine is opened, used and closed on the worker thread only (a CUDA context and its
 * cuBLAS handle stay on one thread; the weights load once). Requests queue up and run one at a
 * time; results and errors come back through GTask in the caller's main context. Cancelling the
 * GCancellable of a request calls the engine's thread-safe cancel. */
#pragma once

#include <gio/gio.h>

#include "hart.h"
#include "hs-generation.h"
#include "hs-image.h"
#include "hs-request.h"

G_BEGIN_DECLS

#define HS_ENGINE_ERROR (hs_engine_error_quark())

/* Engine failures (cancellation is G_IO_ERROR_CANCELLED instead). */
typedef enum {
  HS_ENGINE_ERROR_INVALID_ARGUMENT,
  HS_ENGINE_ERROR_IO,
  HS_ENGINE_ERROR_FORMAT,
  HS_ENGINE_ERROR_UNSUPPORTED,
  HS_ENGINE_ERROR_NO_MEMORY,
  HS_ENGINE_ERROR_DEVICE,
  HS_ENGINE_ERROR_DEVICE_MEMORY,
  HS_ENGINE_ERROR_INTERNAL,
  HS_ENGINE_ERROR_NOT_OPEN, /* no model is loaded */
  HS_ENGINE_ERROR_SHUT_DOWN,
} HsEngineError;

GQuark hs_engine_error_quark(void);

typedef struct {
  char *model_dir;
  char *text_model_dir; /* NULL: only context tensors work */
  hart_backend_kind backend;
  int n_threads; /* 0 = all cores */
} HsEngineOptions;

HsEngineOptions *hs_engine_options_new(const char *model_dir, const char *text_model_dir);
void hs_engine_options_free(HsEngineOptions *options);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsEngineOptions, hs_engine_options_free)

#define HS_TYPE_ENGINE_WORKER (hs_engine_worker_get_type())
G_DECLARE_FINAL_TYPE(HsEngineWorker, hs_engine_worker, HS, ENGINE_WORKER, GObject)

/* Starts the thread. No model is loaded yet. */
HsEngineWorker *hs_engine_worker_new(void);

/* Closes any loaded model, then loads the one described by options. */
void hs_engine_worker_open_async(HsEngineWorker *self, const HsEngineOptions *options,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean hs_engine_worker_open_finish(HsEngineWorker *self, GAsyncResult *result, GError **error);

/* TRUE and a copy of the engine facts when a model is loaded (main thread view). */
gboolean hs_engine_worker_get_info(HsEngineWorker *self, hart_engine_info *info);

/* Runs one request. generation (optional) receives coalesced progress and previews in the
 * caller's main context. Returns the final image through _finish. */
void hs_engine_worker_generate_async(HsEngineWorker *self, const HsRequest *request,
                                     HsGeneration *generation, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
HsImage *hs_engine_worker_generate_finish(HsEngineWorker *self, GAsyncResult *result,
                                          GError **error);

/* Cancels the running request, fails the queued ones, closes the engine on its thread and joins
 * it. Idempotent; dispose calls it. */
void hs_engine_worker_shutdown(HsEngineWorker *self);

/* Maps a hart_status to a GError code (HART_CANCELLED is not an error: -1). */
int hs_engine_error_from_status(hart_status status);

G_END_DECLS
