/* hs-model-validate.h: checking a model folder with the engine's own readers, and converting its
 * PyTorch checkpoints to safetensors once (with the engine's converter). Nothing from a model file
 * is ever executed: checkpoints are only read by the engine's restricted reader. */
#ifndef HS_MODEL_VALIDATE_H
#define HS_MODEL_VALIDATE_H

#include <gio/gio.h>

#include "hs-model-release.h"

G_BEGIN_DECLS

/* Which kind of folder dir is (llm/ + tokenizer/ → HART; config.json of model_type qwen2 → text
 * model). FALSE with an error naming what is missing otherwise. */
gboolean hs_model_detect_part(const char *dir, HsModelPart *part, GError **error);

/* Loads the configs, opens the weights the engine would choose and checks them against the
 * engine's tensor manifests. The error message names the file (and key or tensor). */
gboolean hs_model_validate_dir(const char *dir, HsModelPart part, GError **error);

/* One file the conversion produced (relative paths). */
typedef struct {
  char *from; /* the checkpoint it replaces, e.g. llm/ema_model.bin */
  char *to;   /* the new file, e.g. llm/ema_model.safetensors */
} HsConversion;

void hs_conversion_free(HsConversion *conversion);

/* TRUE when dir holds a torch.save checkpoint (a *.bin file starting with a zip header). */
gboolean hs_model_needs_conversion(const char *dir);

/* Converts every folder of dir holding a checkpoint with the engine's hart_convert_folder (what
 * `hart convert` runs: restricted reader, values read back and compared, atomic writes) into a
 * hidden sibling, and moves each safetensors file that replaces a checkpoint into dir. The
 * checkpoint itself is left for the caller to remove once the folder validates. */
GPtrArray *hs_model_convert_dir(const char *dir, GCancellable *cancellable, GError **error);

G_END_DECLS

#endif
