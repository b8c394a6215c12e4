/* hs-generation-private.h: the worker-thread side of HsGeneration. */
#pragma once

#include "hs-generation.h"

G_BEGIN_DECLS

/* Called on the worker thread: record the newest progress / preview and schedule one idle. */
void _hs_generation_push_progress(HsGeneration *self, HsStage stage, int step, int n_steps,
                                  double elapsed);
/* Takes ownership of preview. */
void _hs_generation_push_preview(HsGeneration *self, HsImage *preview);
/* Called on the worker thread when the job ends: a pending preview is dropped, the result
 * supersedes it. */
void _hs_generation_worker_done(HsGeneration *self);

G_END_DECLS
