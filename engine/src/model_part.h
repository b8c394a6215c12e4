/* model_part.h: one model part folder (llm/, tokenizer/, a Qwen2 folder) opened and checked:
 * its config.json resolved, its weights chosen and read, its tensors checked against the
 * manifest. What hart inspect shows and what a model loader starts from. */
#ifndef HART_MODEL_PART_H
#define HART_MODEL_PART_H

#include "config.h"
#include "manifest.h"
#include "tensor.h"

typedef enum {
  HART_PART_LLM,   /* model_type hart_transformer_t2i */
  HART_PART_VAE,   /* model_type hart_autoencoder_with_disc */
  HART_PART_QWEN2, /* model_type qwen2 */
} hart_part_kind;

typedef struct {
  hart_part_kind kind;
  char *dir;
  char *config_path;
  char *weights_path; /* the file hart_tensor_set_open_dir chose */
  hart_llm_config llm;
  hart_vae_config vae;
  hart_qwen2_config qwen2;
  hart_tensor_set *set;
  hart_manifest_stats stats;
} hart_model_part;

const char *hart_part_kind_name(hart_part_kind kind);

/* Reads the model_type of dir/config.json. */
hart_status hart_model_part_detect(const char *dir, hart_part_kind *kind, hart_error *err);

/* Loads config and weights of dir as the given kind and checks the manifest. On failure the
 * part is cleared. */
hart_status hart_model_part_open(const char *dir, hart_part_kind kind, hart_model_part *part,
                                 hart_error *err);
void hart_model_part_clear(hart_model_part *part);

/* A HART folder holds llm/ and tokenizer/. */
int hart_is_hart_folder(const char *dir);

/* The checks between the transformer and the tokenizer (vocabulary, latent channels). */
hart_status hart_model_check_pair(const hart_model_part *llm, const hart_model_part *vae,
                                  hart_error *err);

#endif
