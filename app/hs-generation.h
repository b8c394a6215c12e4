/* hs-generation.h: the observable state of one generation job, updated on the main thread.
 *
 * The engine worker feeds progress and previews from its thread; they reach the GMainContext that
 * created the generation through at most one pending idle source, so the main loop sees at most
 * one update per iteration however fast the engine runs (the latest preview wins). */
#pragma once

#include <glib-object.h>

#include "hs-image.h"

G_BEGIN_DECLS

#define HS_TYPE_GENERATION (hs_generation_get_type())
G_DECLARE_FINAL_TYPE(HsGeneration, hs_generation, HS, GENERATION, GObject)

/* Mirrors hart_stage (engine/include/hart.h). */
typedef enum {
  HS_STAGE_LOAD = 0,
  HS_STAGE_TEXT = 1,
  HS_STAGE_SCALE = 2,
  HS_STAGE_DIFFUSION = 3,
  HS_STAGE_DECODE = 4,
  HS_STAGE_DONE = 5,
} HsStage;

/* Bound to the thread-default main context of the caller. */
HsGeneration *hs_generation_new(void);

HsStage hs_generation_get_stage(HsGeneration *self);
int hs_generation_get_step(HsGeneration *self);
int hs_generation_get_n_steps(HsGeneration *self);
double hs_generation_get_elapsed(HsGeneration *self);
/* 0..1 over the whole job, weighting the stages by their typical cost. */
double hs_generation_get_fraction(HsGeneration *self);
/* "Scale 9 of 14", "Refining 3 of 8", ... (translated); free with g_free. */
char *hs_generation_dup_stage_text(HsGeneration *self);
/* The latest delivered preview, or NULL. Borrowed. */
HsImage *hs_generation_get_preview(HsGeneration *self);

/* When > 0, the worker prepares each preview's display copy (hs_image_prepare_display) off
 * the main thread. Set before the job starts. */
void hs_generation_set_display_side(HsGeneration *self, int min_side);

/* Previews the engine produced (counted on the worker) and previews this object delivered. */
guint hs_generation_get_previews_emitted(HsGeneration *self);
guint hs_generation_get_previews_delivered(HsGeneration *self);

G_END_DECLS
