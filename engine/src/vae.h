/* vae.h: the hybrid tokenizer's generation-time parts: the codebook, the phi convolutions of the
 * residual quantizer, and the decoder (post_quant_conv + taming-style decoder). Weights come from
 * tokenizer/ (keys "vae.*"); encoder weights are ignored. */
#ifndef HART_VAE_H
#define HART_VAE_H

#include "backend.h"
#include "config.h"

typedef struct hart_vae hart_vae;

/* Checks every needed tensor's name and shape against cfg and uploads it. */
hart_status hart_vae_load(hart_backend *be, const hart_tensor_set *tok, const hart_vae_config *cfg,
                          hart_vae **out, hart_error *err);
void hart_vae_free(hart_vae *vae);

/* The codebook [V, Cv] (vae.quantize.embedding.weight). */
const hart_bw *hart_vae_codebook(const hart_vae *vae);

/* y = (1 - q)*x + q*(conv3x3_phi[j](x) + bias), q = |quant_resi| (0.5): the phi blend for a latent
 * x [B, Cv, S, S]. y may not alias x. */
hart_status hart_vae_phi(hart_vae *vae, int j, float *y, const float *x, int64_t B, int64_t S);

/* Decodes fhat [B, Cv, S, S] (backend memory) to img [B, 3, 16S... ] i.e. [B, 3, S*f, S*f] with
 * f = 2^(n_ch_mult-1), clamped to [-1, 1]. Works at any latent size S (previews decode small
 * latents). Scratch memory is allocated per call and freed before returning. */
hart_status hart_vae_decode(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S);

/* Bytes of scratch the decoder needs at latent size S (3 activations of the widest level plus the
 * attention scores: 2.08 GB at 1024 px). */
size_t hart_vae_decode_workspace_bytes(const hart_vae *vae, int64_t S);

/* hart_vae_decode using ws (backend memory, ws_bytes long) as its scratch when it is at least
 * hart_vae_decode_workspace_bytes(); otherwise it allocates as hart_vae_decode does. */
hart_status hart_vae_decode_in(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S,
                               void *ws, size_t ws_bytes);

/* Upscale factor of the decoder (16 for the release). */
int hart_vae_upscale(const hart_vae *vae);

/* Number of phi convolutions (share_quant_resi, 4). */
int hart_vae_n_phi(const hart_vae *vae);

/* Called by hart_vae_decode_trace at named points of the decoder with the current activation
 * (backend memory, one image, [C, H, W]): "pq" (after post_quant_conv), "conv_in", "mid",
 * "up<level>" (after each level including its upsampling), "preclamp" (conv_out output). */
typedef void (*hart_vae_trace_fn)(const char *name, const float *x, int64_t C, int64_t H, int64_t W,
                                  void *user);

/* A tensor set with seeded random tokenizer weights at cfg's shapes (benchmarks, tests). */
hart_status hart_vae_random_weights(const hart_vae_config *cfg, uint64_t seed,
                                    hart_tensor_set **out, hart_error *err);

/* hart_vae_decode with an optional trace callback (parity tests, debugging). */
hart_status hart_vae_decode_trace(hart_vae *vae, float *img, const float *fhat, int64_t B,
                                  int64_t S, hart_vae_trace_fn trace, void *user);

#endif
