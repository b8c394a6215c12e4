/* hs-request.h: the immutable parameters of one generation (HART's real controls only). */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HS_TYPE_REQUEST (hs_request_get_type())

typedef enum {
  HS_PREVIEW_OFF = 0,
  HS_PREVIEW_FAST = 1, /* linear latent-to-RGB projection */
  HS_PREVIEW_FULL = 2, /* the VAE decoder at each scale */
} HsPreviewMode;

typedef struct {
  char *prompt;
  gboolean use_system_prompt;
  /* Optional conditioning without a text model: fp32 [tokens, dim], u8 mask [tokens],
   * i64 position ids [tokens], as `hart encode` writes them. Used when prompt is NULL. */
  GBytes *context;
  GBytes *context_mask;
  GBytes *context_position_ids;
  guint64 seed;
  double cfg;
  gboolean smooth;
  HsPreviewMode preview_mode;
} HsRequest;

GType hs_request_get_type(void) G_GNUC_CONST;
/* A request with HART's defaults: cfg 4.5, smooth on, system prompt on, seed 1, fast previews. */
HsRequest *hs_request_new(void);
HsRequest *hs_request_copy(const HsRequest *self);
void hs_request_free(HsRequest *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsRequest, hs_request_free)

G_END_DECLS
