/* diffusion.h: HART's residual diffusion head (diffloss.net, SimpleMLPAdaLN) and its 8-step
 * respaced cosine IDDPM sampler with learned variance (hart-spec §1.8, §2.6, §2.7). */
#ifndef HART_DIFFUSION_H
#define HART_DIFFUSION_H

#include "backend.h"
#include "config.h"

typedef struct hart_diffusion hart_diffusion;

/* Loads diffloss.net.* from the transformer's tensor set (shapes from cfg: diff_width, diff_depth,
 * embed_dim as the condition width, Cv = z_channels). */
hart_status hart_diffusion_load(hart_backend *be, const hart_tensor_set *llm,
                                const hart_llm_config *cfg, int z_channels, hart_diffusion **out,
                                hart_error *err);
void hart_diffusion_free(hart_diffusion *d);

/* out [M, 2Cv] = net(x [M, Cv], t_model, z [M, C]); backend memory. */
hart_status hart_diffusion_mlp(hart_diffusion *d, float *out, const float *x, float t_model,
                               const float *z, int64_t M);

/* Per-step notification: k = 0..n_steps-1 in execution order; x [N, Cv] (backend memory) is the
 * state after the step. Return non-zero to cancel (the sampler then returns HART_CANCELLED). */
typedef int (*hart_diffusion_step_fn)(int k, int n_steps, const float *x, void *user_data);

typedef struct {
  /* Replay (host memory) or NULL for the engine's Philox draws. */
  const float *noise0;           /* [N, Cv] initial x */
  const float *const *step_noise; /* [n_steps] arrays of [step_noise_rows, Cv]; rows [0,N) used */
  uint64_t seed;                 /* Philox seed when not replaying */
  hart_diffusion_step_fn on_step;
  void *user_data;
  /* Optional host dumps for parity tests: x entering each step [n_steps][N, Cv]. */
  float **dump_x;
} hart_diffusion_opts;

/* res [N, Cv] = 0.6 * sample(z [2N, C], cfg): z rows [0,N) conditional, [N,2N) unconditional.
 * res, z in backend memory. */
hart_status hart_diffusion_sample(hart_diffusion *d, float *res, const float *z, int64_t N,
                                  float cfg, const hart_diffusion_opts *opts);

int hart_diffusion_steps(const hart_diffusion *d);

#endif
