/* hs-metadata.h: the prompt and settings embedded in saved images.
 *
 * Two chunks serve two worlds (shared/docs/ux.md §3): `parameters`, the A1111 "infotext" that
 * A1111, Civitai and most image browsers read, and `hart_metadata`, a JSON object with every
 * engine setting and the model identity for Hart Studio's own "reuse settings". */
#pragma once

#include <glib.h>

#include "hart.h"
#include "hs-image.h"
#include "hs-request.h"

G_BEGIN_DECLS

#define HS_METADATA_PARAMETERS_KEY "parameters"
#define HS_METADATA_JSON_KEY "hart_metadata"

typedef struct {
  const char *model_dir;
  const char *text_model_dir;
  const hart_engine_info *info; /* may be NULL */
} HsModelIdentity;

/* "<prompt>\nSteps: 8, Sampler: HART, CFG scale: 4.5, Seed: N, Size: WxH, Model: name, ..." */
char *hs_metadata_parameters(const HsRequest *request, const HsImage *image,
                             const HsModelIdentity *model);
/* Pretty-printed JSON object. */
char *hs_metadata_json(const HsRequest *request, const HsImage *image,
                       const HsModelIdentity *model);

/* Saves image with both chunks. */
gboolean hs_metadata_save_png(const char *path, const HsRequest *request, const HsImage *image,
                              const HsModelIdentity *model, GError **error);

G_END_DECLS
