/* hs-generation.c: coalesced progress and previews of one job (Sysprof's set_progress pattern). */
#define G_LOG_DOMAIN "HsGeneration"

#include "hs-config.h"

#include "hs-generation-private.h"

#include <glib/gi18n-lib.h>

struct _HsGeneration {
  GObject parent_instance;

  GMainContext *context;

  /* Main-thread state, exposed as properties. */
  HsStage stage;
  int step;
  int n_steps;
  double elapsed;
  HsImage *preview;
  guint previews_delivered;

  /* Shared with the worker thread, guarded by lock. */
  GMutex lock;
  gboolean idle_pending;
  gboolean worker_done;
  gboolean progress_pending;
  HsStage pending_stage;
  int pending_step;
  int pending_n_steps;
  double pending_elapsed;
  HsImage *pending_preview;

  gint previews_emitted; /* atomic */
  int display_side;      /* written before the job starts, then read by the worker only */
};

enum {
  PROP_0,
  PROP_STAGE,
  PROP_STEP,
  PROP_N_STEPS,
  PROP_ELAPSED,
  PROP_FRACTION,
  PROP_PREVIEW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE(HsGeneration, hs_generation, G_TYPE_OBJECT)

static void hs_generation_finalize(GObject *object)
{
  HsGeneration *self = HS_GENERATION(object);

  g_clear_pointer(&self->preview, hs_image_unref);
  g_clear_pointer(&self->pending_preview, hs_image_unref);
  g_clear_pointer(&self->context, g_main_context_unref);
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(hs_generation_parent_class)->finalize(object);
}

static void hs_generation_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec)
{
  HsGeneration *self = HS_GENERATION(object);

  switch (prop_id) {
  case PROP_STAGE:
    g_value_set_int(value, self->stage);
    break;
  case PROP_STEP:
    g_value_set_int(value, self->step);
    break;
  case PROP_N_STEPS:
    g_value_set_int(value, self->n_steps);
    break;
  case PROP_ELAPSED:
    g_value_set_double(value, self->elapsed);
    break;
  case PROP_FRACTION:
    g_value_set_double(value, hs_generation_get_fraction(self));
    break;
  case PROP_PREVIEW:
    g_value_set_boxed(value, self->preview);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_generation_class_init(HsGenerationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = hs_generation_finalize;
  object_class->get_property = hs_generation_get_property;

  properties[PROP_STAGE] =
      g_param_spec_int("stage", NULL, NULL, HS_STAGE_LOAD, HS_STAGE_DONE, HS_STAGE_LOAD,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STEP] = g_param_spec_int("step", NULL, NULL, 0, G_MAXINT, 0,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_STEPS] = g_param_spec_int("n-steps", NULL, NULL, 0, G_MAXINT, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ELAPSED] = g_param_spec_double("elapsed", NULL, NULL, 0, G_MAXDOUBLE, 0,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_FRACTION] = g_param_spec_double("fraction", NULL, NULL, 0, 1, 0,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PREVIEW] = g_param_spec_boxed("preview", NULL, NULL, HS_TYPE_IMAGE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);
}

static void hs_generation_init(HsGeneration *self)
{
  g_mutex_init(&self->lock);
  self->context = g_main_context_ref_thread_default();
}

HsGeneration *hs_generation_new(void)
{
  return g_object_new(HS_TYPE_GENERATION, NULL);
}

/* Main thread: apply whatever the worker left since the last idle, newest values only. */
static gboolean deliver_idle(gpointer data)
{
  HsGeneration *self = data;
  g_autoptr(HsImage) preview = NULL;
  gboolean have_progress;
  HsStage stage;
  int step, n_steps;
  double elapsed;

  g_mutex_lock(&self->lock);
  self->idle_pending = FALSE;
  preview = g_steal_pointer(&self->pending_preview);
  have_progress = self->progress_pending;
  self->progress_pending = FALSE;
  stage = self->pending_stage;
  step = self->pending_step;
  n_steps = self->pending_n_steps;
  elapsed = self->pending_elapsed;
  g_mutex_unlock(&self->lock);

  g_object_freeze_notify(G_OBJECT(self));
  if (have_progress) {
    self->stage = stage;
    self->step = step;
    self->n_steps = n_steps;
    self->elapsed = elapsed;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_STAGE]);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_STEP]);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_N_STEPS]);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_ELAPSED]);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_FRACTION]);
  }
  if (preview != NULL) {
    g_clear_pointer(&self->preview, hs_image_unref);
    self->preview = g_steal_pointer(&preview);
    self->previews_delivered++;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_PREVIEW]);
  }
  g_object_thaw_notify(G_OBJECT(self));
  return G_SOURCE_REMOVE;
}

/* Called with lock held. */
static void schedule_idle_locked(HsGeneration *self)
{
  GSource *source;

  if (self->idle_pending)
    return;
  self->idle_pending = TRUE;
  source = g_idle_source_new();
  /* Below GDK's redraw priority, so a frame gets drawn between two deliveries. */
  g_source_set_priority(source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback(source, deliver_idle, g_object_ref(self), g_object_unref);
  g_source_set_static_name(source, "[hs] generation update");
  g_source_attach(source, self->context);
  g_source_unref(source);
}

void _hs_generation_push_progress(HsGeneration *self, HsStage stage, int step, int n_steps,
                                  double elapsed)
{
  g_mutex_lock(&self->lock);
  if (!self->worker_done) {
    self->progress_pending = TRUE;
    self->pending_stage = stage;
    self->pending_step = step;
    self->pending_n_steps = n_steps;
    self->pending_elapsed = elapsed;
    schedule_idle_locked(self);
  }
  g_mutex_unlock(&self->lock);
}

void _hs_generation_push_preview(HsGeneration *self, HsImage *preview)
{
  g_atomic_int_inc(&self->previews_emitted);
  /* Enlarging and reordering the pixels happens here, on the worker, not in the main loop. */
  if (self->display_side > 0)
    hs_image_prepare_display(preview, self->display_side);
  g_mutex_lock(&self->lock);
  if (!self->worker_done) {
    /* The latest frame wins: an undelivered older one is simply replaced. */
    g_clear_pointer(&self->pending_preview, hs_image_unref);
    self->pending_preview = preview;
    preview = NULL;
    schedule_idle_locked(self);
  }
  g_mutex_unlock(&self->lock);
  g_clear_pointer(&preview, hs_image_unref);
}

void _hs_generation_worker_done(HsGeneration *self)
{
  g_mutex_lock(&self->lock);
  self->worker_done = TRUE;
  g_clear_pointer(&self->pending_preview, hs_image_unref);
  g_mutex_unlock(&self->lock);
}

void hs_generation_set_display_side(HsGeneration *self, int min_side)
{
  g_return_if_fail(HS_IS_GENERATION(self));
  self->display_side = min_side;
}

HsStage hs_generation_get_stage(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), HS_STAGE_LOAD);
  return self->stage;
}

int hs_generation_get_step(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), 0);
  return self->step;
}

int hs_generation_get_n_steps(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), 0);
  return self->n_steps;
}

double hs_generation_get_elapsed(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), 0);
  return self->elapsed;
}

double hs_generation_get_fraction(HsGeneration *self)
{
  double within;

  g_return_val_if_fail(HS_IS_GENERATION(self), 0);

  within = self->n_steps > 0 ? (double)self->step / self->n_steps : 0;
  /* Rough shares of the wall time on the released model: the scales dominate. */
  switch (self->stage) {
  case HS_STAGE_LOAD:
    return 0;
  case HS_STAGE_TEXT:
    return 0.02;
  case HS_STAGE_SCALE:
    return 0.05 + 0.6 * within;
  case HS_STAGE_DIFFUSION:
    return 0.65 + 0.3 * within;
  case HS_STAGE_DECODE:
    return 0.97;
  case HS_STAGE_DONE:
    return 1;
  default:
    return 0;
  }
}

char *hs_generation_dup_stage_text(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), NULL);

  switch (self->stage) {
  case HS_STAGE_LOAD:
    return g_strdup(_("Starting"));
  case HS_STAGE_TEXT:
    return g_strdup(_("Reading the prompt"));
  case HS_STAGE_SCALE:
    /* translators: progress through the coarse-to-fine scales, e.g. "Scale 9 of 14" */
    return g_strdup_printf(_("Scale %d of %d"), self->step, self->n_steps);
  case HS_STAGE_DIFFUSION:
    /* translators: progress through the residual diffusion steps, e.g. "Refining 3 of 8" */
    return g_strdup_printf(_("Refining %d of %d"), self->step, self->n_steps);
  case HS_STAGE_DECODE:
    return g_strdup(_("Decoding the image"));
  case HS_STAGE_DONE:
    return g_strdup(_("Done"));
  default:
    return g_strdup("");
  }
}

HsImage *hs_generation_get_preview(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), NULL);
  return self->preview;
}

guint hs_generation_get_previews_emitted(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), 0);
  return (guint)g_atomic_int_get(&self->previews_emitted);
}

guint hs_generation_get_previews_delivered(HsGeneration *self)
{
  g_return_val_if_fail(HS_IS_GENERATION(self), 0);
  return self->previews_delivered;
}
