/* hs-model-validate.h: checking a model folder with the engine's own readers, and converting its
 * PyTorch checkpoints to safetensors once (through `hart convert`). Nothing from a model file is
 * ever executed: checkpoints are only read by the engine's restricted reader. */
#ifndef HS_MODEL_VALIDATE_H
#define HS_MODEL_VALIDATE_H

#include <gio/gio.h>

#include "hs-model-release.h"

G_BEGIN_DECLS

/* Which kind of folder dir is (llm/ + tokenizer/ → HART; config.json of model_type qwen2 → text
 * model). FALSE with an error naming what is missing otherwise. */
gboolean hs_model_detect_part(const char *dir, HsModelPart *part, GError **error);

/* Loads the configs, opens the weights and checks them as the engine will when it opens the
 * folder. The error message names the file and the problem. */
gboolean hs_model_validate_dir(const char *dir, HsModelPart part, GError **error);

/* The `hart` command-line tool used for conversion: $HART_CLI, else `hart` beside the running
 * program, else the installed one, else `hart` on PATH. NULL when none exists. */
char *hs_model_find_hart_cli(void);

/* One file the conversion produced (relative paths). */
typedef struct {
  char *from; /* the checkpoint it replaces, e.g. llm/ema_model.bin */
  char *to;   /* the new file, e.g. llm/ema_model.safetensors */
} HsConversion;

void hs_conversion_free(HsConversion *conversion);

/* TRUE when dir holds a torch.save checkpoint (a *.bin file starting with a zip header). */
gboolean hs_model_needs_conversion(const char *dir);

/* Runs `hart convert dir <tmp>` and moves each safetensors file it wrote in place of a checkpoint
 * into dir (the checkpoint itself is left for the caller to remove once the folder validates).
 * Returns the HsConversion list; G_IO_ERROR_NOT_SUPPORTED when the tool cannot convert. */
GPtrArray *hs_model_convert_dir(const char *dir, GCancellable *cancellable, GError **error);

G_END_DECLS

#endif
