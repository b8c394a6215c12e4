/* generate.h: the generation driver: a loaded model (transformer, VAE, diffusion head on one
 * backend) and the scale loop with CFG doubling, KV caches, sampling, the f_hat update, the last
 * stage with the residual diffusion, and decoding (hart-spec §1.4-1.9).
 *
 * Buffers (KV caches included) belong to a hart_gen built once per model and batch size; a run
 * allocates nothing on the backend. Replay inputs and a dump hook serve the parity tests and
 * `hart replay`. */
#ifndef HART_GENERATE_H
#define HART_GENERATE_H

#include "backend.h"
#include "config.h"
#include "diffusion.h"
#include "transformer.h"
#include "vae.h"

typedef struct {
  hart_backend *be;
  hart_llm_config llm;
  hart_vae_config vae_cfg;
  hart_transformer *tf;
  hart_vae *vae;                 /* NULL while the VAE part is unavailable (then no f_hat update) */
  hart_diffusion *diff;          /* NULL likewise */
  hart_bw *own_codebook;         /* the codebook when vae is NULL */
  const hart_bw *codebook;       /* [V, Cv] */
  char vae_note[HART_ERROR_MAX]; /* why vae/diff are NULL */
} hart_model;

/* Reads model_dir/{llm,tokenizer}/config.json and the weights, uploads everything to be. The
 * files are not used after this returns. */
hart_status hart_model_load(hart_backend *be, const char *model_dir, hart_model **out,
                            hart_error *err);
/* The same from configurations and tensor sets already in memory (bench models). */
hart_status hart_model_load_sets(hart_backend *be, const hart_llm_config *llm_cfg,
                                 const hart_vae_config *vae_cfg, const hart_tensor_set *llm,
                                 const hart_tensor_set *tok, hart_model **out, hart_error *err);
void hart_model_free(hart_model *m);

/* Every recorded draw of a run (host memory), indexed by scale; NULL entries: draw instead. */
typedef struct {
  const int64_t *const *idx;      /* [SN] -> [B*l] */
  const int64_t *const *keep;     /* [SN] -> [B*l, keep_K[si]] ascending ids */
  const int64_t *keep_K;          /* [SN] */
  const float *const *gumbel;     /* [SN] -> [B*l, keep_K[si]] (more_smooth) */
  const int *phi_index;           /* [SN-1] or NULL */
  const float *noise0;            /* [B*P*P, Cv] */
  const float *const *step_noise; /* [n_steps] -> [>= B*P*P, Cv] */
  /* Teacher forcing: continue from these instead of the engine's own values (NULL: off). */
  const float *const *tf_fhat; /* [SN-1] -> [B, Cv, P, P] */
  const float *const *tf_next; /* [SN-1] -> [B, Cv, pn', pn'] */
  const float *tf_h_tokens;    /* [B, P*P, Cv] */
} hart_replay;

/* A named host tensor for the dump hook (names as in the golden run files). */
typedef void (*hart_dump_fn)(void *ud, const char *name, hart_dtype dt, int ndim,
                             const int64_t *shape, const void *host);

typedef struct {
  const float *context;        /* [B, ct, cd] host */
  const uint8_t *context_mask; /* [B, ct] */
  const int64_t *position_ids; /* [B, ct] */
  uint64_t seed;
  float cfg;
  int smooth;
  int top_k_early, top_k_late; /* scales < 7 / later */
  float top_p;
  const hart_replay *replay;
  hart_dump_fn dump;
  void *dump_ud;
  const hart_cancel *cancel;
  /* Called after each scale's f_hat update (f_hat [B, Cv, P, P] backend memory); non-zero
   * cancels. */
  int (*on_scale)(void *ud, int si, int n_scales, const float *f_hat);
  hart_diffusion_step_fn on_diffusion_step;
  void *ud;
  uint8_t *rgb; /* [B, S, S, 3] host output (S = image side) */
} hart_gen_request;

typedef struct {
  double t_scale[HART_MAX_SCALES]; /* transformer + sampling + f_hat per scale */
  double t_diffusion, t_decode, t_total;
} hart_gen_times;

typedef struct hart_gen hart_gen;

hart_status hart_gen_new(hart_model *m, int64_t B, hart_gen **out, hart_error *err);

/* Bytes of KV cache the generation can lend after the last scale: the diffusion sampler's
 * workspace with the diffusion condition beside it, or the decoder's workspace, whichever is
 * larger. At the released shapes the fp16 cache (2.9 GB) covers both (2.1 GB). */
size_t hart_gen_lend_bytes(const hart_model *m, int64_t B);
/* hart_gen_new with a KV cache of at least kv_min_bytes: more positions than the model needs,
 * which changes no result. Lets tests lend the cache at small shapes as the released shapes do. */
hart_status hart_gen_new_kv(hart_model *m, int64_t B, size_t kv_min_bytes, hart_gen **out,
                            hart_error *err);
/* What the KV cache holds after the last scale, as flags: 1 the diffusion condition, 2 the
 * diffusion sampler's workspace, 4 the decoder's workspace. */
int hart_gen_kv_lends(const hart_gen *g);
void hart_gen_free(hart_gen *g);
int64_t hart_gen_batch(const hart_gen *g);
/* The f_hat buffer [B, Cv, P, P] during a run (for previews of diffusion steps). */
const float *hart_gen_fhat(const hart_gen *g);

/* During the diffusion steps: the latent the image would have with diffusion state x [B*P*P, Cv]
 * as the final sample: out [B, Cv, P, P] = f_hat + (h_tokens + 0.6 x) (for previews). */
hart_status hart_gen_latent_with(hart_gen *g, float *out, const float *x);

hart_status hart_gen_run(hart_gen *g, const hart_gen_request *r, hart_gen_times *times,
                         hart_error *err);

/* Image side in pixels of a model. */
int hart_model_image_size(const hart_model *m);

#endif
