/* manifest.h: the tensors each model part must contain, derived from its configuration
 * (hart-spec §0.4, §2.2, §2.6, §2.8, §2.9, §2.10). A missing, unexpected or misshaped tensor is
 * an error naming the file and the tensor; the known training-only or unused tensors are ignored
 * whether present or not. */
#ifndef HART_MANIFEST_H
#define HART_MANIFEST_H

#include "config.h"
#include "tensor.h"

typedef struct {
  size_t n_tensors;   /* in the set */
  size_t n_expected;  /* tensors of the manifest (all present after a successful check) */
  size_t n_ignored;   /* known unused tensors present (training buffers, encoder, ...) */
  int64_t n_params;   /* elements of the manifest's parameters (persistent buffers excluded) */
  int64_t n_elements; /* elements of every tensor of the set */
  uint64_t n_bytes;   /* bytes of every tensor of the set */
  int64_t elements_by_dtype[HART_DT_COUNT];
  uint64_t bytes_by_dtype[HART_DT_COUNT];
  /* Dimensions read from the weights rather than the config (transformer only). */
  int64_t vocab_size;   /* head.weight rows */
  int64_t vae_channels; /* word_embed.weight columns */
} hart_manifest_stats;

/* Transformer (llm/): HARTForT2I with the diffusion MLP, release or adaLN/l2 variants. The
 * vocabulary and latent channels are taken from head.weight and word_embed.weight and must agree
 * across tensors; hart_manifest_check_llm_vae checks them against the tokenizer. */
hart_status hart_manifest_check_llm(const hart_tensor_set *set, const hart_llm_config *cfg,
                                    hart_error *err);
/* Hybrid tokenizer (tokenizer/): decoder, post_quant_conv, codebook and phi convs. */
hart_status hart_manifest_check_vae(const hart_tensor_set *set, const hart_vae_config *cfg,
                                    hart_error *err);
/* Qwen2 text model: model.* (or unprefixed) keys; visual.* and lm_head.* ignored. */
hart_status hart_manifest_check_qwen2(const hart_tensor_set *set, const hart_qwen2_config *cfg,
                                      hart_error *err);

/* The same checks, also filling stats (may be NULL). */
hart_status hart_manifest_check_llm_stats(const hart_tensor_set *set, const hart_llm_config *cfg,
                                          hart_manifest_stats *stats, hart_error *err);
hart_status hart_manifest_check_vae_stats(const hart_tensor_set *set, const hart_vae_config *cfg,
                                          hart_manifest_stats *stats, hart_error *err);
hart_status hart_manifest_check_qwen2_stats(const hart_tensor_set *set,
                                            const hart_qwen2_config *cfg,
                                            hart_manifest_stats *stats, hart_error *err);

/* The transformer's head and embeddings agree with the tokenizer's vocab_size and z_channels. */
hart_status hart_manifest_check_llm_vae(const hart_tensor_set *llm, const hart_vae_config *vae,
                                        hart_error *err);

/* Totals of a set (tensors, elements and bytes by dtype); the manifest fields stay zero. */
void hart_tensor_set_stats(const hart_tensor_set *set, hart_manifest_stats *stats);

#endif
