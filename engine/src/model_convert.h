/* model_convert.h: copying a model folder with its PyTorch checkpoints turned into safetensors
 * files, so the app never has to read pickles again. */
#ifndef HART_MODEL_CONVERT_H
#define HART_MODEL_CONVERT_H

#include "error.h"

typedef struct {
  int n_converted; /* torch.save zip checkpoints written as safetensors */
  int n_copied;    /* other files copied unchanged */
  int n_legacy;    /* legacy-format checkpoints copied unchanged (cannot be converted) */
} hart_convert_report;

/* Called with one line per file ("converted a.bin -> a.safetensors (65 tensors)"). */
typedef void (*hart_convert_log)(const char *line, void *user);

/* Copies the folder src to dst (which must not exist, or be an empty folder), recursively,
 * following symbolic links (Hugging Face caches link to blobs). Every torch.save zip checkpoint
 * (*.bin, *.pt, *.pth, *.ckpt) becomes <stem>.safetensors with the same names, dtypes and bytes,
 * checked by reading it back; legacy-format checkpoints are copied unchanged with a log line.
 * Each file is written atomically (temp file + fsync + rename), and the whole tree is built in
 * a temporary sibling folder renamed to dst at the end, so a failure leaves no partial dst. */
hart_status hart_convert_folder(const char *src, const char *dst, hart_convert_log log, void *user,
                                hart_convert_report *report, hart_error *err);

#endif
