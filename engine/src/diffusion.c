/* diffusion.c: the residual diffusion MLP (SimpleMLPAdaLN, hart-spec §2.6) and its respaced
 * cosine IDDPM sampler (§1.8, §2.7), in fp32 through the backend ops. */
#include "diffusion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"
#include "weight_check.h"

#define DIFF_T_DIM 256 /* frequency embedding size of the timestep embedder */
#define DIFF_MAX_DEPTH 64
#define DIFF_MAX_STEPS HART_DIFFUSION_MAX_STEPS
#define DIFF_BASE_STEPS 1000
#define DIFF_LN_EPS 1e-6f

typedef struct {
  hart_bw *ln_w, *ln_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *ada_w, *ada_b;
} diff_block;

struct hart_diffusion {
  hart_backend *be;
  int W, Cz, Cv, depth, n_steps;
  hart_bw *in_w, *in_b, *t0_w, *t0_b, *t2_w, *t2_b, *c_w, *c_b;
  diff_block blk[DIFF_MAX_DEPTH];
  hart_bw *fin_ada_w, *fin_ada_b, *fin_w, *fin_b;
  hart_diffusion_sched sched;
};

/* ---- schedule ---- */

static double cosine_alpha_bar(double s)
{
  double c = cos((s + 0.008) / 1.008 * M_PI / 2.0);
  return c * c;
}

/* space_timesteps(1000, "<n>"): indices round(i * 999/(n-1)) accumulated in floating point as
 * the reference does (cur += stride; Python round = half to even = nearbyint). */
static void respaced_timesteps(int n, int *ts)
{
  double stride = n > 1 ? (double)(DIFF_BASE_STEPS - 1) / (double)(n - 1) : 0.0, cur = 0.0;
  for (int i = 0; i < n; i++) {
    ts[i] = (int)nearbyint(cur);
    cur += stride;
  }
}

hart_status hart_diffusion_schedule(int n_steps, hart_diffusion_sched *s, hart_error *err)
{
  double ab_prev = 1.0, acp = 1.0;
  int k = 0;

  if (n_steps < 1 || n_steps > DIFF_MAX_STEPS)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "diffusion: %d sampling steps not supported",
                     n_steps);
  memset(s, 0, sizeof *s);
  s->n = n_steps;
  respaced_timesteps(n_steps, s->timestep);
  /* Base cosine betas (clipped at 0.999), their cumulative product, and the respaced betas
   * 1 - abar[T_k]/abar[T_{k-1}], all float64 as NumPy computes them. */
  {
    double ab = 1.0;
    for (int i = 0; i < DIFF_BASE_STEPS && k < n_steps; i++) {
      double beta = 1.0 - cosine_alpha_bar((double)(i + 1) / DIFF_BASE_STEPS) /
                              cosine_alpha_bar((double)i / DIFF_BASE_STEPS);
      if (beta > 0.999)
        beta = 0.999;
      ab *= 1.0 - beta;
      if (i == s->timestep[k]) {
        s->betas[k] = 1.0 - ab / ab_prev;
        ab_prev = ab;
        k++;
      }
    }
  }
  /* The respaced process's own tables (GaussianDiffusion.__init__ on the new betas). */
  for (k = 0; k < n_steps; k++) {
    double prev = acp;
    acp *= 1.0 - s->betas[k];
    s->alphas_cumprod[k] = acp;
    s->alphas_cumprod_prev[k] = prev;
    s->sqrt_recip_alphas_cumprod[k] = sqrt(1.0 / acp);
    s->sqrt_recipm1_alphas_cumprod[k] = sqrt(1.0 / acp - 1.0);
    s->posterior_variance[k] = s->betas[k] * (1.0 - prev) / (1.0 - acp);
    s->posterior_mean_coef1[k] = s->betas[k] * sqrt(prev) / (1.0 - acp);
    s->posterior_mean_coef2[k] = (1.0 - prev) * sqrt(1.0 - s->betas[k]) / (1.0 - acp);
    s->log_betas[k] = log(s->betas[k]);
  }
  /* log(append(posterior_variance[1], posterior_variance[1:])): step 0's variance is 0. */
  for (k = 0; k < n_steps; k++)
    s->posterior_log_variance_clipped[k] =
        log(n_steps > 1 ? s->posterior_variance[k == 0 ? 1 : k] : s->posterior_variance[0]);
  return HART_OK;
}

const hart_diffusion_sched *hart_diffusion_get_schedule(const hart_diffusion *d)
{
  return &d->sched;
}

/* ---- loading ---- */

typedef struct {
  hart_backend *be;
  const hart_tensor_set *set;
  hart_error *err;
} loader;

static hart_bw *load_w(loader *L, const char *name, int ndim, int64_t d0, int64_t d1, hart_wuse use)
{
  int64_t shape[2] = { d0, d1 };
  const hart_tensor *t = hart_tensor_set_expect(L->set, name, ndim, shape, L->err);
  if (t == NULL || hart_tensor_check_finite(t, L->err) != HART_OK)
    return NULL;
  return hart_bw_from_tensor(L->be, t, use, L->err);
}

/* "<prefix>.weight" [out, in] and "<prefix>.bias" [out]. */
static hart_status load_linear(loader *L, const char *prefix, int out, int in, hart_bw **w,
                               hart_bw **b)
{
  char name[256];
  snprintf(name, sizeof name, "diffloss.net.%s.weight", prefix);
  if ((*w = load_w(L, name, 2, out, in, HART_WUSE_GEMM)) == NULL)
    return L->err->code;
  snprintf(name, sizeof name, "diffloss.net.%s.bias", prefix);
  if ((*b = load_w(L, name, 1, out, 0, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  return HART_OK;
}

/* LayerNorm "<prefix>.weight" [n] and "<prefix>.bias" [n]. */
static hart_status load_vectors(loader *L, const char *prefix, int n, hart_bw **w, hart_bw **b)
{
  char name[256];
  snprintf(name, sizeof name, "diffloss.net.%s.weight", prefix);
  if ((*w = load_w(L, name, 1, n, 0, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  snprintf(name, sizeof name, "diffloss.net.%s.bias", prefix);
  if ((*b = load_w(L, name, 1, n, 0, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  return HART_OK;
}

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    hart_status st_ = (expr);                                                                      \
    if (st_ != HART_OK)                                                                            \
      return st_;                                                                                  \
  } while (0)

static hart_status load_all(loader *L, hart_diffusion *d)
{
  int W = d->W;
  char p[128];

  TRY(load_linear(L, "input_proj", W, d->Cv, &d->in_w, &d->in_b));
  TRY(load_linear(L, "time_embed.mlp.0", W, DIFF_T_DIM, &d->t0_w, &d->t0_b));
  TRY(load_linear(L, "time_embed.mlp.2", W, W, &d->t2_w, &d->t2_b));
  TRY(load_linear(L, "cond_embed", W, d->Cz, &d->c_w, &d->c_b));
  for (int j = 0; j < d->depth; j++) {
    diff_block *b = &d->blk[j];
    snprintf(p, sizeof p, "res_blocks.%d.in_ln", j);
    TRY(load_vectors(L, p, W, &b->ln_w, &b->ln_b));
    snprintf(p, sizeof p, "res_blocks.%d.mlp.0", j);
    TRY(load_linear(L, p, W, W, &b->fc1_w, &b->fc1_b));
    snprintf(p, sizeof p, "res_blocks.%d.mlp.2", j);
    TRY(load_linear(L, p, W, W, &b->fc2_w, &b->fc2_b));
    snprintf(p, sizeof p, "res_blocks.%d.adaLN_modulation.1", j);
    TRY(load_linear(L, p, 3 * W, W, &b->ada_w, &b->ada_b));
  }
  TRY(load_linear(L, "final_layer.adaLN_modulation.1", 2 * W, W, &d->fin_ada_w, &d->fin_ada_b));
  TRY(load_linear(L, "final_layer.linear", 2 * d->Cv, W, &d->fin_w, &d->fin_b));
  return HART_OK;
}

hart_status hart_diffusion_load(hart_backend *be, const hart_tensor_set *llm,
                                const hart_llm_config *cfg, int z_channels, hart_diffusion **out,
                                hart_error *err)
{
  hart_diffusion *d;
  loader L = { be, llm, err };
  hart_status st;

  *out = NULL;
  if (cfg->diff_depth < 1 || cfg->diff_depth > DIFF_MAX_DEPTH || cfg->diff_width < 1 ||
      z_channels < 1)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "diffusion: width %d, depth %d, %d channels",
                     cfg->diff_width, cfg->diff_depth, z_channels);
  d = calloc(1, sizeof *d);
  if (d == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory loading the diffusion head");
  d->be = be;
  d->W = cfg->diff_width;
  d->Cz = cfg->embed_dim;
  d->Cv = z_channels;
  d->depth = cfg->diff_depth;
  d->n_steps = cfg->num_sampling_steps;
  st = hart_diffusion_schedule(d->n_steps, &d->sched, err);
  if (st == HART_OK)
    st = load_all(&L, d);
  if (st != HART_OK) {
    hart_diffusion_free(d);
    return st;
  }
  *out = d;
  return HART_OK;
}

static void wfree(hart_backend *be, hart_bw *w)
{
  if (w)
    be->ops->weight_free(be, w);
}

void hart_diffusion_free(hart_diffusion *d)
{
  hart_backend *be;
  if (d == NULL)
    return;
  be = d->be;
  wfree(be, d->in_w);
  wfree(be, d->in_b);
  wfree(be, d->t0_w);
  wfree(be, d->t0_b);
  wfree(be, d->t2_w);
  wfree(be, d->t2_b);
  wfree(be, d->c_w);
  wfree(be, d->c_b);
  for (int j = 0; j < DIFF_MAX_DEPTH; j++) {
    diff_block *b = &d->blk[j];
    wfree(be, b->ln_w);
    wfree(be, b->ln_b);
    wfree(be, b->fc1_w);
    wfree(be, b->fc1_b);
    wfree(be, b->fc2_w);
    wfree(be, b->fc2_b);
    wfree(be, b->ada_w);
    wfree(be, b->ada_b);
  }
  wfree(be, d->fin_ada_w);
  wfree(be, d->fin_ada_b);
  wfree(be, d->fin_w);
  wfree(be, d->fin_b);
  free(d);
}

int hart_diffusion_steps(const hart_diffusion *d)
{
  return d->n_steps;
}

/* ---- the MLP ---- */

/* Scratch of one MLP evaluation over M rows. `cemb` holds cond_embed(z), which does not depend
 * on the step, so the sampler computes it once. */
typedef struct {
  float *h, *y, *sy, *n, *t, *m, *cemb, *temb, *tfreq;
  int64_t M;
} mlp_scratch;

static void scratch_free(hart_backend *be, mlp_scratch *s)
{
  float **bufs[] = { &s->h, &s->y, &s->sy, &s->n, &s->t, &s->m, &s->cemb, &s->temb, &s->tfreq };
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
    be->ops->free(be, *bufs[i]);
    *bufs[i] = NULL;
  }
}

static int64_t al64(int64_t n)
{
  return (n + 63) & ~(int64_t)63;
}

/* Floats of an MLP scratch over M rows when carved from one block (each part 64-float aligned). */
static int64_t scratch_floats(const hart_diffusion *d, int64_t M)
{
  return 9 * al64(M * d->W) + al64(d->W) + al64(DIFF_T_DIM);
}

/* The scratch as parts of ws (scratch_floats(M) floats); nothing to free. */
static void scratch_carve(const hart_diffusion *d, mlp_scratch *s, int64_t M, float *ws)
{
  int64_t mw = al64(M * d->W);
  memset(s, 0, sizeof *s);
  s->M = M;
  s->h = ws;
  s->y = s->h + mw;
  s->sy = s->y + mw;
  s->n = s->sy + mw;
  s->t = s->n + mw;
  s->m = s->t + mw; /* 3 parts */
  s->cemb = s->m + 3 * mw;
  s->temb = s->cemb + mw;
  s->tfreq = s->temb + al64(d->W);
}

static hart_status scratch_alloc(hart_diffusion *d, mlp_scratch *s, int64_t M)
{
  hart_backend *be = d->be;
  size_t mw = (size_t)M * d->W * sizeof(float);
  memset(s, 0, sizeof *s);
  s->M = M;
  if ((s->h = be->ops->alloc(be, mw)) == NULL || (s->y = be->ops->alloc(be, mw)) == NULL ||
      (s->sy = be->ops->alloc(be, mw)) == NULL || (s->n = be->ops->alloc(be, mw)) == NULL ||
      (s->t = be->ops->alloc(be, mw)) == NULL || (s->m = be->ops->alloc(be, 3 * mw)) == NULL ||
      (s->cemb = be->ops->alloc(be, mw)) == NULL ||
      (s->temb = be->ops->alloc(be, (size_t)d->W * sizeof(float))) == NULL ||
      (s->tfreq = be->ops->alloc(be, DIFF_T_DIM * sizeof(float))) == NULL) {
    scratch_free(be, s);
    return be->err && be->err->code ? be->err->code : HART_ERR_NO_MEMORY;
  }
  return HART_OK;
}

/* The sampler's buffers after the MLP scratch: x [nx], xin [2nx], out [4nx], noise [nx]. */
size_t hart_diffusion_workspace_bytes(const hart_diffusion *d, int64_t N)
{
  int64_t nx = N * d->Cv;
  return (size_t)(scratch_floats(d, 2 * N) + al64(nx) + al64(2 * nx) + al64(4 * nx) + al64(nx)) *
         sizeof(float);
}

/* The sinusoidal timestep features [cos(T f_i) | sin(T f_i)], f_i = exp(-ln(10000) i/128), in
 * fp32 as the reference computes them (args = fp32(T) * fp32 freqs). */
static void timestep_features(float T, float *out)
{
  int half = DIFF_T_DIM / 2;
  for (int i = 0; i < half; i++) {
    float f = expf(-logf(10000.0f) * (float)i / (float)half);
    float a = T * f;
    out[i] = cosf(a);
    out[half + i] = sinf(a);
  }
}

/* t_emb = mlp(features(T)) into s->temb [W]. */
static hart_status mlp_time(hart_diffusion *d, mlp_scratch *s, float T)
{
  hart_backend *be = d->be;
  float feat[DIFF_T_DIM];
  hart_status st;
  timestep_features(T, feat);
  if ((st = be->ops->upload(be, s->tfreq, feat, sizeof feat)) != HART_OK ||
      (st = be->ops->linear(be, s->n, s->tfreq, d->t0_w, d->t0_b, 1, d->W, DIFF_T_DIM, 0.0f)) !=
          HART_OK ||
      (st = be->ops->silu(be, s->n, s->n, d->W)) != HART_OK)
    return st;
  return be->ops->linear(be, s->temb, s->n, d->t2_w, d->t2_b, 1, d->W, d->W, 0.0f);
}

/* Everything after the condition embedding: out [M, 2Cv] from x [M, Cv], s->cemb and T. */
static hart_status mlp_core(hart_diffusion *d, mlp_scratch *s, float *out, const float *x, float T,
                            const hart_diffusion_trace *tr)
{
  hart_backend *be = d->be;
  int64_t M = s->M, W = d->W;
  hart_status st;

  if ((st = mlp_time(d, s, T)) != HART_OK ||
      (st = be->ops->linear(be, s->h, x, d->in_w, d->in_b, M, W, d->Cv, 0.0f)) != HART_OK ||
      (st = be->ops->add_row(be, s->y, s->cemb, s->temb, M, W)) != HART_OK ||
      (st = be->ops->silu(be, s->sy, s->y, M * W)) != HART_OK)
    return st;
  if (tr && tr->t_emb &&
      (st = be->ops->download(be, tr->t_emb, s->temb, W * sizeof(float))) != HART_OK)
    return st;
  for (int j = 0; j < d->depth; j++) {
    diff_block *b = &d->blk[j];
    /* m = [shift | scale | gate]; h += gate * mlp(LN(h) * (1 + scale) + shift). */
    if ((st = be->ops->linear(be, s->m, s->sy, b->ada_w, b->ada_b, M, 3 * W, W, 0.0f)) != HART_OK ||
        (st = be->ops->layernorm(be, s->n, s->h, b->ln_w, b->ln_b, M, W, DIFF_LN_EPS)) != HART_OK ||
        (st = be->ops->modulate(be, s->n, s->n, s->m + W, s->m, M, W, 1, 3 * W)) != HART_OK ||
        (st = be->ops->linear(be, s->t, s->n, b->fc1_w, b->fc1_b, M, W, W, 0.0f)) != HART_OK ||
        (st = be->ops->silu(be, s->t, s->t, M * W)) != HART_OK ||
        (st = be->ops->linear(be, s->n, s->t, b->fc2_w, b->fc2_b, M, W, W, 0.0f)) != HART_OK ||
        (st = be->ops->gated_add(be, s->h, s->m + 2 * W, s->n, M, W, 1, 3 * W)) != HART_OK)
      return st;
    if (tr && j < tr->n_res && tr->res[j] &&
        (st = be->ops->download(be, tr->res[j], s->h, (size_t)(M * W) * sizeof(float))) != HART_OK)
      return st;
  }
  /* Final layer: m = [shift | scale]; out = linear(LN_noaffine(h) * (1 + scale) + shift). */
  if ((st = be->ops->linear(be, s->m, s->sy, d->fin_ada_w, d->fin_ada_b, M, 2 * W, W, 0.0f)) !=
          HART_OK ||
      (st = be->ops->layernorm(be, s->n, s->h, NULL, NULL, M, W, DIFF_LN_EPS)) != HART_OK ||
      (st = be->ops->modulate(be, s->n, s->n, s->m + W, s->m, M, W, 1, 2 * W)) != HART_OK)
    return st;
  return be->ops->linear(be, out, s->n, d->fin_w, d->fin_b, M, 2 * d->Cv, W, 0.0f);
}

hart_status hart_diffusion_mlp_trace(hart_diffusion *d, float *out, const float *x, float t_model,
                                     const float *z, int64_t M, const hart_diffusion_trace *tr)
{
  hart_backend *be = d->be;
  mlp_scratch s;
  hart_status st;

  if (M <= 0)
    return HART_OK;
  if ((st = scratch_alloc(d, &s, M)) != HART_OK)
    return st;
  st = be->ops->linear(be, s.cemb, z, d->c_w, d->c_b, M, d->W, d->Cz, 0.0f);
  if (st == HART_OK && tr && tr->c_emb)
    st = be->ops->download(be, tr->c_emb, s.cemb, (size_t)(M * d->W) * sizeof(float));
  if (st == HART_OK)
    st = mlp_core(d, &s, out, x, t_model, tr);
  scratch_free(be, &s);
  return st;
}

hart_status hart_diffusion_mlp(hart_diffusion *d, float *out, const float *x, float t_model,
                               const float *z, int64_t M)
{
  return hart_diffusion_mlp_trace(d, out, x, t_model, z, M, NULL);
}

/* ---- the sampler ---- */

/* Host-side standard normals for x_T from the engine's Philox (stream documented in
 * diffusion.h). */
static void philox_normals(float *dst, int64_t n, uint64_t seed, uint32_t stream)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = hart_philox_normal(seed, HART_DIFFUSION_STAGE, stream, (uint64_t)i);
}

hart_status hart_diffusion_sample(hart_diffusion *d, float *res, const float *z, int64_t N,
                                  float cfg, const hart_diffusion_opts *opts)
{
  hart_backend *be = d->be;
  const hart_diffusion_sched *sc = &d->sched;
  int64_t Cv = d->Cv, nx = N * Cv;
  mlp_scratch s;
  float *x = NULL, *xin = NULL, *out = NULL, *noise = NULL, *host = NULL;
  int borrowed = 0;
  hart_status st;

  if (N <= 0)
    return HART_OK;
  if (opts && opts->workspace && opts->workspace_bytes >= hart_diffusion_workspace_bytes(d, N)) {
    /* Everything in the caller's block (the generation driver lends its dead KV cache). */
    float *ws = opts->workspace;
    scratch_carve(d, &s, 2 * N, ws);
    ws += scratch_floats(d, 2 * N);
    x = ws;
    xin = x + al64(nx);
    out = xin + al64(2 * nx);
    if (opts->step_noise)
      noise = out + al64(4 * nx);
    borrowed = 1;
  } else {
    if ((st = scratch_alloc(d, &s, 2 * N)) != HART_OK)
      return st;
    x = be->ops->alloc(be, (size_t)nx * sizeof(float));
    xin = be->ops->alloc(be, (size_t)(2 * nx) * sizeof(float));
    out = be->ops->alloc(be, (size_t)(4 * nx) * sizeof(float));
    if (opts && opts->step_noise)
      noise = be->ops->alloc(be, (size_t)nx * sizeof(float));
  }
  if (!opts || !opts->noise0)
    host = malloc((size_t)nx * sizeof(float));
  if (x == NULL || xin == NULL || out == NULL || (opts && opts->step_noise && noise == NULL) ||
      ((!opts || !opts->noise0) && host == NULL)) {
    st = hart_fail(be->err, HART_ERR_NO_MEMORY, "diffusion: out of memory for %lld rows",
                   (long long)N);
    goto done;
  }
  /* x_T: replayed, or Philox stream (HART_DIFFUSION_STAGE, 1). */
  if (opts && opts->noise0) {
    st = be->ops->upload(be, x, opts->noise0, (size_t)nx * sizeof(float));
  } else {
    philox_normals(host, nx, opts ? opts->seed : 0, 1);
    st = be->ops->upload(be, x, host, (size_t)nx * sizeof(float));
  }
  if (st != HART_OK)
    goto done;
  /* The condition embedding is the same at every step. */
  if ((st = be->ops->linear(be, s.cemb, z, d->c_w, d->c_b, 2 * N, d->W, d->Cz, 0.0f)) != HART_OK)
    goto done;
  for (int k = 0; k < sc->n; k++) {
    int ti = sc->n - 1 - k; /* respaced index, descending */
    hart_ddpm_args a = { 0 };
    if (opts && opts->dump_x && opts->dump_x[k] &&
        (st = be->ops->download(be, opts->dump_x[k], x, (size_t)nx * sizeof(float))) != HART_OK)
      goto done;
    /* The net sees [x; x]: only the conditional half of the state carries over (§1.8). */
    if ((st = be->ops->copy(be, xin, x, (size_t)nx * sizeof(float))) != HART_OK ||
        (st = be->ops->copy(be, xin + nx, x, (size_t)nx * sizeof(float))) != HART_OK ||
        (st = mlp_core(d, &s, out, xin, (float)sc->timestep[ti], NULL)) != HART_OK)
      goto done;
    if (noise && ti > 0 &&
        (st = be->ops->upload(be, noise, opts->step_noise[k], (size_t)nx * sizeof(float))) !=
            HART_OK)
      goto done;
    a.x = x;
    a.out = out;
    a.noise = noise;
    a.N = N;
    a.Cv = Cv;
    a.cfg = cfg;
    /* Each float64 table value is rounded to fp32 at its point of use (§2.7). */
    a.A = (float)sc->sqrt_recip_alphas_cumprod[ti];
    a.Bm = (float)sc->sqrt_recipm1_alphas_cumprod[ti];
    a.P1 = (float)sc->posterior_mean_coef1[ti];
    a.P2 = (float)sc->posterior_mean_coef2[ti];
    a.LP = (float)sc->posterior_log_variance_clipped[ti];
    a.LB = (float)sc->log_betas[ti];
    a.add_noise = ti > 0;
    a.seed = opts ? opts->seed : 0;
    a.stage = HART_DIFFUSION_STAGE;
    a.step = (uint32_t)k;
    if ((st = be->ops->ddpm_step(be, &a)) != HART_OK)
      goto done;
    if (opts && opts->on_step && opts->on_step(k, sc->n, x, opts->user_data) != 0) {
      st = HART_CANCELLED;
      goto done;
    }
  }
  st = be->ops->axpby(be, res, HART_DIFFUSION_VAE_SCALE, x, 0.0f, NULL, nx);
done:
  if (!borrowed) {
    scratch_free(be, &s);
    be->ops->free(be, x);
    be->ops->free(be, xin);
    be->ops->free(be, out);
    be->ops->free(be, noise);
  }
  free(host);
  return st;
}
