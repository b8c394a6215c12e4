/* qwen2.h: the Qwen2 decoder run as a text encoder on the backend op table (hart-spec.md 1.3,
 * 2.10, 5.4): embedding, per layer RMSNorm -> q/k/v (biases) -> rotate-half RoPE -> causal GQA
 * with a key padding mask -> o_proj, RMSNorm -> SiLU-gated MLP, and the final RMSNorm. fp32. */
#ifndef HART_QWEN2_H
#define HART_QWEN2_H

#include "backend.h"
#include "config.h"

typedef struct hart_qwen2 hart_qwen2;

/* Reads dir/config.json and the `model.*` weights of dir (sharded or not; `visual.*` and
 * `lm_head.*` ignored), checks every shape against the config and uploads the weights. The
 * embedding table stays in the (mapped) file and is read by rows on the host. */
hart_status hart_qwen2_load(hart_backend *be, const char *dir, hart_qwen2 **out, hart_error *err);
/* Builds a model with random weights of the given configuration (benchmarks). */
hart_status hart_qwen2_new_random(hart_backend *be, const hart_qwen2_config *cfg, uint64_t seed,
                                  hart_qwen2 **out, hart_error *err);
void hart_qwen2_free(hart_qwen2 *m);

const hart_qwen2_config *hart_qwen2_get_config(const hart_qwen2 *m);

/* Runs ids[0, T) with the attention mask attn (1 = attend, 0 = padding key; NULL = all ones) at
 * positions 0..T-1, and writes the last hidden states (after the final norm) of rows
 * [row0, row0 + n_out) to out_host [n_out, hidden]. */
hart_status hart_qwen2_forward(hart_qwen2 *m, const int32_t *ids, const uint8_t *attn, int64_t T,
                               int64_t row0, int64_t n_out, float *out_host, hart_error *err);

#endif
