/* hs-window.h: the main window: prompt and settings, canvas, progress; the history gallery;
 * the first-run model download. */
#pragma once

#include <adwaita.h>

#include "hs-engine-worker.h"
#include "hs-history.h"
#include "hs-model-store.h"

G_BEGIN_DECLS

#define HS_TYPE_WINDOW (hs_window_get_type())
G_DECLARE_FINAL_TYPE(HsWindow, hs_window, HS, WINDOW, AdwApplicationWindow)

/* The worker, history and model store are the application's, shared by its windows. */
HsWindow *hs_window_new(AdwApplication *application, HsEngineWorker *worker, HsHistory *history,
                        HsModelStore *model_store);

/* Writes the current picture as PNG with its metadata to file (no dialog). */
void hs_window_save_async(HsWindow *self, GFile *file, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
gboolean hs_window_save_finish(HsWindow *self, GAsyncResult *result, GError **error);

G_END_DECLS
