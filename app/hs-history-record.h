/* hs-history-record.h: what the window keeps of a finished generation. The glue between the
 * engine worker's types (HsRequest, HsImage, hart_engine_info) and the history's HsGenParams, so
 * the window records an image with one call. */
#pragma once

#include "hart.h"
#include "hs-history.h"
#include "hs-image.h"
#include "hs-request.h"

G_BEGIN_DECLS

/* The settings record of a generation: prompt, seed, cfg, flags, model identity (the model
 * folder's name, the engine's model id), backend, device, engine version, size and timings.
 * info and model_dir may be NULL. */
HsGenParams *hs_history_params_from_generation(const HsRequest *request, const HsImage *image,
                                               const hart_engine_info *info, const char *model_dir);

/* hs_history_add_async() of a finished generation. */
void hs_history_record_async(HsHistory *history, const HsRequest *request, const HsImage *image,
                             const hart_engine_info *info, const char *model_dir,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);

G_END_DECLS
