/* hs-request.c: generation parameters with HART's defaults. */
#include "hs-request.h"

G_DEFINE_BOXED_TYPE(HsRequest, hs_request, hs_request_copy, hs_request_free)

HsRequest *hs_request_new(void)
{
  HsRequest *self = g_new0(HsRequest, 1);

  /* The defaults of the official sample.py / app.py (shared/docs/ux.md §1). */
  self->use_system_prompt = TRUE;
  self->seed = 1;
  self->cfg = 4.5;
  self->smooth = TRUE;
  self->preview_mode = HS_PREVIEW_FAST;
  return self;
}

static GBytes *ref_or_null(GBytes *bytes)
{
  return bytes ? g_bytes_ref(bytes) : NULL;
}

HsRequest *hs_request_copy(const HsRequest *self)
{
  HsRequest *copy;

  g_return_val_if_fail(self != NULL, NULL);

  copy = g_new0(HsRequest, 1);
  *copy = *self;
  copy->prompt = g_strdup(self->prompt);
  copy->context = ref_or_null(self->context);
  copy->context_mask = ref_or_null(self->context_mask);
  copy->context_position_ids = ref_or_null(self->context_position_ids);
  return copy;
}

void hs_request_free(HsRequest *self)
{
  if (self == NULL)
    return;
  g_free(self->prompt);
  g_clear_pointer(&self->context, g_bytes_unref);
  g_clear_pointer(&self->context_mask, g_bytes_unref);
  g_clear_pointer(&self->context_position_ids, g_bytes_unref);
  g_free(self);
}
