/* diffusion.h: HART's residual diffusion head (diffloss.net, SimpleMLPAdaLN) and its 8-step
 * respaced cosine IDDPM sampler with learned variance (hart-spec §1.8, §2.6, §2.7). */
#ifndef HART_DIFFUSION_H
#define HART_DIFFUSION_H

#include "backend.h"
#include "config.h"

typedef struct hart_diffusion hart_diffusion;

/* The Philox stage id of the diffusion draws (above any scale index): x_T is normal stream
 * (HART_DIFFUSION_STAGE, 1), element r*Cv + c; step k's noise is stream (HART_DIFFUSION_STAGE,
 * 2 + k) as the ddpm_step op documents (hart_philox_normal in philox.h). */
#define HART_DIFFUSION_STAGE 0x10000u
/* The residual is the sample times this factor (the reference's vae_scale). */
#define HART_DIFFUSION_VAE_SCALE 0.6f
#define HART_DIFFUSION_MAX_STEPS 64

/* The respaced schedule in float64, indexed by the respaced step k (0 = least noisy);
 * the names are those of the reference's GaussianDiffusion (and of sched.* in the goldens). */
typedef struct {
  int n;
  int timestep[HART_DIFFUSION_MAX_STEPS]; /* model timestep T_k (timestep_map) */
  double betas[HART_DIFFUSION_MAX_STEPS];
  double alphas_cumprod[HART_DIFFUSION_MAX_STEPS];
  double alphas_cumprod_prev[HART_DIFFUSION_MAX_STEPS];
  double sqrt_recip_alphas_cumprod[HART_DIFFUSION_MAX_STEPS];
  double sqrt_recipm1_alphas_cumprod[HART_DIFFUSION_MAX_STEPS];
  double posterior_variance[HART_DIFFUSION_MAX_STEPS];
  double posterior_log_variance_clipped[HART_DIFFUSION_MAX_STEPS];
  double posterior_mean_coef1[HART_DIFFUSION_MAX_STEPS];
  double posterior_mean_coef2[HART_DIFFUSION_MAX_STEPS];
  double log_betas[HART_DIFFUSION_MAX_STEPS];
} hart_diffusion_sched;

/* The cosine schedule (1000 steps) respaced to n_steps, computed as the reference does. */
hart_status hart_diffusion_schedule(int n_steps, hart_diffusion_sched *s, hart_error *err);
const hart_diffusion_sched *hart_diffusion_get_schedule(const hart_diffusion *d);

/* Optional host dumps of the MLP's internals (parity tests): t_emb [W] (one row: it is the same
 * for every row), c_emb [M, W], res[j] [M, W] after residual block j < n_res. */
typedef struct {
  float *t_emb;
  float *c_emb;
  float **res;
  int n_res;
} hart_diffusion_trace;

/* Loads diffloss.net.* from the transformer's tensor set (shapes from cfg: diff_width, diff_depth,
 * embed_dim as the condition width, Cv = z_channels). */
hart_status hart_diffusion_load(hart_backend *be, const hart_tensor_set *llm,
                                const hart_llm_config *cfg, int z_channels, hart_diffusion **out,
                                hart_error *err);
void hart_diffusion_free(hart_diffusion *d);

/* out [M, 2Cv] = net(x [M, Cv], t_model, z [M, C]); backend memory. */
hart_status hart_diffusion_mlp(hart_diffusion *d, float *out, const float *x, float t_model,
                               const float *z, int64_t M);

/* hart_diffusion_mlp with optional dumps (tr may be NULL). */
hart_status hart_diffusion_mlp_trace(hart_diffusion *d, float *out, const float *x, float t_model,
                                     const float *z, int64_t M, const hart_diffusion_trace *tr);

/* Per-step notification: k = 0..n_steps-1 in execution order; x [N, Cv] (backend memory) is the
 * state after the step. Return non-zero to cancel (the sampler then returns HART_CANCELLED). */
typedef int (*hart_diffusion_step_fn)(int k, int n_steps, const float *x, void *user_data);

typedef struct {
  /* Replay (host memory) or NULL for the engine's Philox draws. */
  const float *noise0;            /* [N, Cv] initial x */
  const float *const *step_noise; /* [n_steps] arrays of [step_noise_rows, Cv]; rows [0,N) used */
  uint64_t seed;                  /* Philox seed when not replaying */
  hart_diffusion_step_fn on_step;
  void *user_data;
  /* Optional host dumps for parity tests: x entering each step [n_steps][N, Cv]. */
  float **dump_x;
  /* Optional scratch (backend memory): used instead of allocating when workspace_bytes is at
   * least hart_diffusion_workspace_bytes(N). */
  void *workspace;
  size_t workspace_bytes;
} hart_diffusion_opts;

/* Bytes of scratch hart_diffusion_sample needs for N rows (about 37 W floats per row: 0.3 GB at
 * 4096 rows of width 1024). */
size_t hart_diffusion_workspace_bytes(const hart_diffusion *d, int64_t N);

/* res [N, Cv] = 0.6 * sample(z [2N, C], cfg): z rows [0,N) conditional, [N,2N) unconditional.
 * res, z in backend memory. */
hart_status hart_diffusion_sample(hart_diffusion *d, float *res, const float *z, int64_t N,
                                  float cfg, const hart_diffusion_opts *opts);

int hart_diffusion_steps(const hart_diffusion *d);

#endif
