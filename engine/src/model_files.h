/* model_files.h: opening the weights of a model part folder (llm/, tokenizer/, a Qwen2 folder)
 * as users download them: safetensors (single or sharded) or PyTorch checkpoints. */
#ifndef HART_MODEL_FILES_H
#define HART_MODEL_FILES_H

#include "tensor.h"

/* The weight file names of a folder, in the order of preference of hart_tensor_set_open_dir
 * (the official code loads ema_model.bin by default, so the EMA weights come first). */
#define HART_WEIGHTS_EMA_ST "ema_model.safetensors"
#define HART_WEIGHTS_EMA_BIN "ema_model.bin"
#define HART_WEIGHTS_INDEX "model.safetensors.index.json"
#define HART_WEIGHTS_ST "model.safetensors"
#define HART_WEIGHTS_BIN_ST "pytorch_model.safetensors" /* what hart convert makes of: */
#define HART_WEIGHTS_BIN "pytorch_model.bin"

/* Opens the weights of a model part folder, picking the first present of ema_model.safetensors,
 * ema_model.bin, model.safetensors.index.json (sharded: every shard opened, the index maps each
 * name to its shard), model.safetensors, pytorch_model.safetensors (hart convert's name for a
 * converted pytorch_model.bin), pytorch_model.bin. (*out)->origin names the chosen
 * file. HART_ERR_IO when none is present. */
hart_status hart_tensor_set_open_dir(const char *dir, hart_tensor_set **out, hart_error *err);

/* The path of the weight file hart_tensor_set_open_dir would choose (newly allocated, free()),
 * or NULL (err set) when the folder has none. */
char *hart_model_weights_path(const char *dir, hart_error *err);

/* Opens one weight file, dispatching on its content: safetensors, a torch.save zip checkpoint,
 * or a model.safetensors.index.json (by name). The legacy torch.save format is refused. */
hart_status hart_tensor_set_open_file(const char *path, hart_tensor_set **out, hart_error *err);

/* Opens a sharded checkpoint through its model.safetensors.index.json. A name in two shards, a
 * name missing from its shard, a tensor not listed, or a missing shard is an error. */
hart_status hart_tensor_set_open_index(const char *index_path, hart_tensor_set **out,
                                       hart_error *err);

/* The file (or index) a set was read from, for messages. */
const char *hart_tensor_set_origin(const hart_tensor_set *set);

typedef enum {
  HART_FILE_UNKNOWN,
  HART_FILE_SAFETENSORS,
  HART_FILE_TORCH_ZIP,
  HART_FILE_TORCH_LEGACY,
} hart_file_kind;

/* Sniffs the first bytes of a file. HART_ERR_IO when it cannot be read. */
hart_status hart_file_sniff(const char *path, hart_file_kind *kind, hart_error *err);

#endif
