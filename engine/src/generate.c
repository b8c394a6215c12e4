/* generate.c: the HART generation driver (hart-spec §1.4-1.9). */
#include "generate.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "manifest.h"
#include "model_files.h"

#ifndef HART_DIFFUSION_VAE_SCALE
#define HART_DIFFUSION_VAE_SCALE 0.6f /* the reference's vae_scale */
#endif

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    st = (expr);                                                                                   \
    if (st != HART_OK)                                                                             \
      goto out;                                                                                    \
  } while (0)

/* ---------------------------------------------------------------- model ---- */

static hart_status open_weights(const char *dir, const char *sub, hart_tensor_set **set,
                                hart_error *err)
{
  /* The folder loader picks the weights as sample.py does (EMA first: ema_model.safetensors,
   * ema_model.bin, then sharded or single model.safetensors, pytorch_model.bin). */
  char *p = g_build_filename(dir, sub, NULL);
  hart_status st = hart_tensor_set_open_dir(p, set, err);
  g_free(p);
  return st;
}

hart_status hart_model_load_sets(hart_backend *be, const hart_llm_config *llm_cfg,
                                 const hart_vae_config *vae_cfg, const hart_tensor_set *llm,
                                 const hart_tensor_set *tok, hart_model **out, hart_error *err)
{
  hart_model *m = calloc(1, sizeof *m);
  hart_error *saved = be->err;
  hart_status st = HART_OK;

  *out = NULL;
  if (m == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  be->err = err;
  m->be = be;
  m->llm = *llm_cfg;
  m->vae_cfg = *vae_cfg;
  TRY(hart_transformer_load(be, llm, &m->llm, m->vae_cfg.vocab_size, m->vae_cfg.z_channels, &m->tf,
                            err));
  {
    hart_error verr = { 0 };
    if (hart_vae_load(be, tok, &m->vae_cfg, &m->vae, &verr) != HART_OK ||
        hart_diffusion_load(be, llm, &m->llm, m->vae_cfg.z_channels, &m->diff, &verr) != HART_OK) {
      if (verr.code != HART_ERR_UNSUPPORTED) {
        *err = verr;
        st = verr.code;
        goto out;
      }
      /* The VAE/diffusion parts are not built in: the scale loop still runs (replay tests). */
      snprintf(m->vae_note, sizeof m->vae_note, "%s", verr.msg);
      hart_vae_free(m->vae);
      hart_diffusion_free(m->diff);
      m->vae = NULL;
      m->diff = NULL;
    }
  }
  if (m->vae) {
    m->codebook = hart_vae_codebook(m->vae);
  } else {
    int64_t shape[2] = { m->vae_cfg.vocab_size, m->vae_cfg.z_channels };
    const hart_tensor *t =
        hart_tensor_set_expect(tok, "vae.quantize.embedding.weight", 2, shape, err);
    if (t == NULL || !(m->own_codebook = hart_bw_from_tensor(be, t, HART_WUSE_TABLE, err))) {
      st = err->code ? err->code : HART_ERR_FORMAT;
      goto out;
    }
    m->codebook = m->own_codebook;
  }
out:
  be->err = saved;
  if (st != HART_OK) {
    hart_model_free(m);
    return st;
  }
  *out = m;
  return HART_OK;
}

hart_status hart_model_load(hart_backend *be, const char *model_dir, hart_model **out,
                            hart_error *err)
{
  hart_llm_config lc;
  hart_vae_config vc;
  hart_tensor_set *llm = NULL, *tok = NULL;
  char *p;
  hart_status st = HART_OK;

  *out = NULL;
  p = g_build_filename(model_dir, "llm", "config.json", NULL);
  st = hart_llm_config_load(p, &lc, err);
  g_free(p);
  if (st != HART_OK)
    return st;
  p = g_build_filename(model_dir, "tokenizer", "config.json", NULL);
  st = hart_vae_config_load(p, &vc, err);
  g_free(p);
  if (st != HART_OK)
    return st;
  TRY(hart_config_check_pair(&lc, &vc, model_dir, err));
  TRY(open_weights(model_dir, "llm", &llm, err));
  TRY(open_weights(model_dir, "tokenizer", &tok, err));
  /* Every tensor named, shaped and accounted for before anything is uploaded (§0.4). */
  TRY(hart_manifest_check_llm(llm, &lc, err));
  TRY(hart_manifest_check_vae(tok, &vc, err));
  TRY(hart_manifest_check_llm_vae(llm, &vc, err));
  st = hart_model_load_sets(be, &lc, &vc, llm, tok, out, err);
out:
  hart_tensor_set_free(llm);
  hart_tensor_set_free(tok);
  return st;
}

void hart_model_free(hart_model *m)
{
  if (m == NULL)
    return;
  hart_transformer_free(m->tf);
  hart_vae_free(m->vae);
  hart_diffusion_free(m->diff);
  if (m->own_codebook)
    m->be->ops->weight_free(m->be, m->own_codebook);
  free(m);
}

int hart_model_image_size(const hart_model *m)
{
  return m->llm.patch_nums[m->llm.n_scales - 1] *
         (m->vae ? hart_vae_upscale(m->vae) : (1 << (m->vae_cfg.n_ch_mult - 1)));
}

/* ---------------------------------------------------------------- buffers ---- */

struct hart_gen {
  hart_model *m;
  hart_backend *be;
  int64_t B, G, ct, cd, C, H, hd, V, Cv, P, SN, nmax, Lmax, S;
  float *ctx, *cn, *cond, *lvl, *lvl_scratch, *ss, *pool, **ada, *x, *xh, *hs, *logits;
  int32_t *idx;
  float *h, *hT, *fhat, *up, *u, *next, *tok, *cos_t, *sin_t, *zc, *z, *res, *img;
  hart_kv_cache *kv; /* every block's K and V; lent to the diffusion and the decoder when dead */
  hart_block_scratch bs;
  int head_in_bs; /* logits and hs are parts of bs.u, not allocations of their own */
  int z_in_kv;    /* z and zc are parts of kv->mem (after the diffusion's workspace) */
  size_t diff_ws; /* bytes of kv->mem the diffusion sampler may use */
  /* host */
  float *h_ctx, *h_cos, *h_sin, *h_img, *h_tmp, *h_mask;
  int64_t *h_pos, *h_idx;
  int32_t *h_keep;
  float *h_keep_logit;
  /* Recorded blocks (the backend's graph_* ops): this object's key prefix, and how many runs
   * finished (the first runs every op as issued, so that every scratch buffer has its final
   * size before anything is recorded). */
  uint32_t graph_id;
  int runs_done;
};

int64_t hart_gen_batch(const hart_gen *g)
{
  return g->B;
}

const float *hart_gen_fhat(const hart_gen *g)
{
  return g->fhat;
}

static float *dev(hart_gen *g, int64_t n, int *ok)
{
  float *p = *ok ? g->be->ops->alloc(g->be, (size_t)(n > 0 ? n : 1) * sizeof(float)) : NULL;
  if (p == NULL)
    *ok = 0;
  return p;
}

static void *host(int64_t bytes, int *ok)
{
  void *p = *ok ? calloc(1, (size_t)(bytes > 0 ? bytes : 1)) : NULL;
  if (p == NULL)
    *ok = 0;
  return p;
}

/* Bytes of the diffusion condition z [G*PP, C] and zc [B*PP, C] (z's part 64-float aligned). */
static size_t z_bytes(const hart_model *m, int64_t B)
{
  int64_t PP =
      (int64_t)m->llm.patch_nums[m->llm.n_scales - 1] * m->llm.patch_nums[m->llm.n_scales - 1];
  int64_t C = m->llm.embed_dim;
  return (size_t)(((2 * B * PP * C + 63) & ~(int64_t)63) + B * PP * C) * sizeof(float);
}

/* The diffusion sampler's workspace for batch B, rounded up to 256 bytes (z follows it). */
static size_t diff_ws_bytes(const hart_model *m, int64_t B)
{
  int64_t P = m->llm.patch_nums[m->llm.n_scales - 1];
  size_t b = m->diff ? hart_diffusion_workspace_bytes(m->diff, B * P * P) : 0;
  return (b + 255) & ~(size_t)255;
}

static size_t dec_ws_bytes(const hart_model *m)
{
  return m->vae ? hart_vae_decode_workspace_bytes(m->vae, m->llm.patch_nums[m->llm.n_scales - 1])
                : 0;
}

size_t hart_gen_lend_bytes(const hart_model *m, int64_t B)
{
  size_t d = diff_ws_bytes(m, B) + z_bytes(m, B), v = dec_ws_bytes(m);
  return d > v ? d : v;
}

int hart_gen_kv_lends(const hart_gen *g)
{
  return (g->z_in_kv ? 1 : 0) | (diff_ws_bytes(g->m, g->B) <= g->diff_ws && g->m->diff ? 2 : 0) |
         (g->m->vae && dec_ws_bytes(g->m) <= g->kv->bytes ? 4 : 0);
}

hart_status hart_gen_new(hart_model *m, int64_t B, hart_gen **out, hart_error *err)
{
  return hart_gen_new_kv(m, B, 0, out, err);
}

hart_status hart_gen_new_kv(hart_model *m, int64_t B, size_t kv_min_bytes, hart_gen **out,
                            hart_error *err)
{
  hart_gen *g = calloc(1, sizeof *g);
  const hart_llm_config *c = &m->llm;
  hart_backend *be = m->be;
  hart_error *saved = be->err;
  int ok = 1, depth = c->depth;
  int64_t nmax_s = 1, GnC, hmax;

  static gint next_graph_id;

  *out = NULL;
  if (g != NULL)
    g->graph_id = (uint32_t)g_atomic_int_add(&next_graph_id, 1);
  if (g == NULL || B < 1)
    return hart_fail(err, g ? HART_ERR_INVALID_ARGUMENT : HART_ERR_NO_MEMORY,
                     "cannot create a generation workspace for batch %lld", (long long)B);
  be->err = err;
  g->m = m;
  g->be = be;
  g->B = B;
  g->G = 2 * B;
  g->ct = c->context_token;
  g->cd = c->context_dim;
  g->C = c->embed_dim;
  g->H = c->num_heads;
  g->hd = c->head_dim;
  g->V = m->vae_cfg.vocab_size;
  g->Cv = m->vae_cfg.z_channels;
  g->SN = c->n_scales;
  g->P = c->patch_nums[c->n_scales - 1];
  g->S = hart_model_image_size(m);
  g->Lmax = g->ct;
  for (int k = 1; k < c->n_scales; k++) {
    int64_t l = (int64_t)c->patch_nums[k] * c->patch_nums[k];
    g->Lmax += l;
    if (l > nmax_s)
      nmax_s = l;
  }
  g->nmax = nmax_s > g->ct ? nmax_s : g->ct;
  GnC = g->G * g->nmax * g->C;
  hmax = B * nmax_s;

  g->ctx = dev(g, g->G * g->ct * g->cd, &ok);
  g->cn = dev(g, g->G * g->ct * g->cd, &ok);
  g->cond = dev(g, g->G * g->ct * g->C, &ok);
  g->lvl = dev(g, g->SN * g->C, &ok);
  g->lvl_scratch = dev(g, g->SN * (m->tf->lvl_freq_dim + g->C), &ok);
  g->ss = dev(g, g->G * 2 * g->C, &ok);
  g->pool = dev(g, 2 * g->G * g->C, &ok);
  g->ada = host((int64_t)depth * (int64_t)sizeof(float *), &ok);
  if (ok && !c->disable_aln)
    for (int i = 0; i < depth; i++)
      g->ada[i] = dev(g, g->G * 6 * g->C, &ok);
  g->x = dev(g, GnC, &ok);
  g->xh = dev(g, g->G * g->C, &ok);
  g->idx = (int32_t *)dev(g, hmax, &ok);
  g->h = dev(g, hmax * g->Cv, &ok);
  g->hT = dev(g, hmax * g->Cv, &ok);
  g->fhat = dev(g, B * g->Cv * g->P * g->P, &ok);
  g->up = dev(g, B * g->Cv * g->P * g->P, &ok);
  g->u = dev(g, B * g->Cv * g->P * g->P, &ok);
  g->next = dev(g, B * g->Cv * g->P * g->P, &ok);
  g->tok = dev(g, hmax * g->Cv, &ok);
  g->cos_t = dev(g, g->G * g->nmax * g->hd, &ok);
  g->sin_t = dev(g, g->G * g->nmax * g->hd, &ok);
  g->res = dev(g, B * g->P * g->P * g->Cv, &ok);
  g->img = dev(g, B * 3 * g->S * g->S, &ok);
  if (ok && !(g->kv = be->ops->kv_cache_new(be, depth, g->G, g->H, g->hd, g->Lmax)))
    ok = 0;
  if (ok && g->kv->bytes < kv_min_bytes) {
    /* more positions, never read past the run's length */
    size_t per_pos = g->kv->bytes / (size_t)g->Lmax;
    int64_t cap = (int64_t)((kv_min_bytes + per_pos - 1) / per_pos);
    be->ops->kv_cache_free(be, g->kv);
    if (!(g->kv = be->ops->kv_cache_new(be, depth, g->G, g->H, g->hd, cap)))
      ok = 0;
  }
  if (ok && hart_block_scratch_init(be, &g->bs, g->G * g->nmax, g->C, c->mlp_hidden) != HART_OK)
    ok = 0;
  if (ok) {
    /* The diffusion condition z [G*PP, C] (and zc [B*PP, C]) is only used by the last stage,
     * after the last attention: it takes the KV cache's memory beside the sampler's workspace when
     * there is room (75 MB less at the released shapes). */
    int64_t PP = g->P * g->P;
    size_t zb = z_bytes(m, B);
    g->diff_ws = diff_ws_bytes(m, B);
    if (g->diff_ws + zb <= g->kv->bytes) {
      g->z = (float *)((char *)g->kv->mem + g->diff_ws);
      g->zc = g->z + ((g->G * PP * g->C + 63) & ~(int64_t)63);
      g->z_in_kv = 1;
    } else {
      g->diff_ws = g->kv->bytes;
      g->z = dev(g, g->G * PP * g->C, &ok);
      g->zc = dev(g, B * PP * g->C, &ok);
    }
  }
  if (ok) {
    /* The head runs between block calls: its logits and scratch fit in the blocks' shared buffer
     * at the released shapes (134 + 50 MB of 268 MB), saving their own allocations. */
    int64_t nl = (g->G * nmax_s * g->V + 63) & ~(int64_t)63;
    if (nl + GnC <= g->bs.u_floats) {
      g->logits = g->bs.u;
      g->hs = g->bs.u + nl;
      g->head_in_bs = 1;
    } else {
      g->logits = dev(g, g->G * nmax_s * g->V, &ok);
      g->hs = dev(g, GnC, &ok);
    }
  }
  g->h_ctx = host(g->G * g->ct * g->cd * 4, &ok);
  g->h_mask = host(g->G * g->ct * 4, &ok);
  g->h_pos = host(g->G * g->ct * 8, &ok);
  g->h_cos = host(g->G * g->nmax * g->hd * 4, &ok);
  g->h_sin = host(g->G * g->nmax * g->hd * 4, &ok);
  g->h_img = host(B * 3 * g->S * g->S * 4, &ok);
  g->h_tmp = host((GnC > g->G * nmax_s * g->V ? GnC : g->G * nmax_s * g->V) * 4, &ok);
  g->h_idx = host(hmax * 8, &ok);
  g->h_keep = host(hmax * g->V * 4, &ok);
  g->h_keep_logit = host(hmax * g->V * 4, &ok);
  be->err = saved;
  if (!ok) {
    hart_gen_free(g);
    if (err->code == HART_OK)
      hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for the generation buffers");
    return err->code;
  }
  *out = g;
  return HART_OK;
}

void hart_gen_free(hart_gen *g)
{
  hart_backend *be;
  float **bufs[] = { &g->ctx,  &g->cn,    &g->cond,  &g->lvl, &g->lvl_scratch, &g->ss,
                     &g->pool, &g->x,     &g->xh,    &g->hs,  &g->logits,      (float **)&g->idx,
                     &g->h,    &g->hT,    &g->fhat,  &g->up,  &g->u,           &g->next,
                     &g->tok,  &g->cos_t, &g->sin_t, &g->zc,  &g->z,           &g->res,
                     &g->img };
  if (g == NULL)
    return;
  be = g->be;
  if (be->ops->graph_reset)
    be->ops->graph_reset(be); /* recordings use the buffers freed below */
  if (g->head_in_bs)
    g->logits = g->hs = NULL;
  if (g->z_in_kv)
    g->z = g->zc = NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
    if (*bufs[i])
      be->ops->free(be, *bufs[i]);
  for (int i = 0; i < g->m->llm.depth; i++) {
    if (g->ada && g->ada[i])
      be->ops->free(be, g->ada[i]);
  }
  free(g->ada);
  if (g->kv)
    be->ops->kv_cache_free(be, g->kv);
  hart_block_scratch_free(be, &g->bs);
  free(g->h_ctx);
  free(g->h_mask);
  free(g->h_pos);
  free(g->h_cos);
  free(g->h_sin);
  free(g->h_img);
  free(g->h_tmp);
  free(g->h_idx);
  free(g->h_keep);
  free(g->h_keep_logit);
  free(g);
}

static hart_status tr(hart_gen *g, float *y, const float *x, int64_t rows, int64_t cols);

hart_status hart_gen_latent_with(hart_gen *g, float *out, const float *x)
{
  hart_backend *be = g->be;
  int64_t N = g->B * g->P * g->P, Cv = g->Cv;
  hart_status st;
  /* g->tok is free during the diffusion (the condition was built before it started) */
  TRY(be->ops->axpby(be, g->tok, 1.0f, g->h, HART_DIFFUSION_VAE_SCALE, x, N * Cv));
  TRY(tr(g, out, g->tok, g->P * g->P, Cv));
  TRY(be->ops->axpby(be, out, 1.0f, out, 1.0f, g->fhat, N * Cv));
out:
  return st;
}

/* ---------------------------------------------------------------- run ---- */

static hart_status dump_dev(hart_gen *g, const hart_gen_request *r, const char *name,
                            const float *d, int ndim, const int64_t *shape)
{
  int64_t n = 1;
  hart_status st;
  if (r->dump == NULL)
    return HART_OK;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  st = g->be->ops->download(g->be, g->h_tmp, d, (size_t)n * sizeof(float));
  if (st == HART_OK)
    r->dump(r->dump_ud, name, HART_DT_F32, ndim, shape, g->h_tmp);
  return st;
}

static double now_s(void)
{
  return (double)g_get_monotonic_time() / 1e6;
}

static int cancelled(const hart_gen_request *r)
{
  return r->cancel && hart_cancel_is_requested(r->cancel);
}

/* [B, rows, cols] -> [B, cols, rows] (token-major <-> channel-major maps). */
static hart_status tr(hart_gen *g, float *y, const float *x, int64_t rows, int64_t cols)
{
  return g->be->ops->transpose(g->be, y, x, g->B, rows, cols);
}

static hart_status upload_context(hart_gen *g, const hart_gen_request *r)
{
  int64_t B = g->B, ct = g->ct, cd = g->cd;
  /* CFG doubling (§1.4): conditional rows, then zero context at position 0 with mask[.,0] = 1. */
  memset(g->h_ctx, 0, (size_t)(g->G * ct * cd) * sizeof(float));
  memcpy(g->h_ctx, r->context, (size_t)(B * ct * cd) * sizeof(float));
  memset(g->h_pos, 0, (size_t)(g->G * ct) * sizeof(int64_t));
  memcpy(g->h_pos, r->position_ids, (size_t)(B * ct) * sizeof(int64_t));
  for (int64_t i = 0; i < g->G * ct; i++)
    g->h_mask[i] = i < B * ct ? (r->context_mask[i] ? 1.0f : 0.0f) : (i % ct == 0 ? 1.0f : 0.0f);
  return g->be->ops->upload(g->be, g->ctx, g->h_ctx, (size_t)(g->G * ct * cd) * sizeof(float));
}

static hart_status upload_rope(hart_gen *g, int si, int64_t n)
{
  hart_backend *be = g->be;
  size_t bytes = (size_t)(g->G * n * g->hd) * sizeof(float);
  hart_status st;
  if (si == 0) {
    hart_rope1d_tables(g->h_pos, g->G, g->ct, g->hd, g->h_cos, g->h_sin);
  } else {
    int64_t off[2 * 64];
    int64_t *offp = g->G <= 128 ? off : malloc((size_t)g->G * sizeof(int64_t));
    if (offp == NULL)
      return hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory");
    /* visual positions are offset by the row's last context position id (§1.5) */
    for (int64_t i = 0; i < g->G; i++)
      offp[i] = g->h_pos[i * g->ct + g->ct - 1];
    hart_rope2d_tables(g->m->llm.patch_nums[si], g->P, offp, g->G, g->hd, g->h_cos, g->h_sin, NULL);
    if (offp != off)
      free(offp);
  }
  st = be->ops->upload(be, g->cos_t, g->h_cos, bytes);
  if (st == HART_OK)
    st = be->ops->upload(be, g->sin_t, g->h_sin, bytes);
  return st;
}

static void stage_name(char *buf, size_t len, int si, const char *what)
{
  snprintf(buf, len, "s%02d.%s", si, what);
}

/* The sampler's per-scale settings (§1.6, §3.10: the last scale keeps the previous ratio). */
typedef struct {
  double ratio;
  float t, tau, mul;
  int top_k;
} scale_params;

static scale_params params_for(const hart_gen *g, const hart_gen_request *r, int si)
{
  scale_params p;
  int sr = si < g->SN - 1 ? si : g->SN - 2;
  if (sr < 0)
    sr = 0;
  p.ratio = g->SN > 1 ? (double)sr / (double)(g->SN - 1) : 0.0;
  p.t = (float)((double)r->cfg * p.ratio);
  p.mul = (float)(1.0 + p.ratio);
  p.tau = (float)fmax(0.27 * (1.0 - 0.95 * p.ratio), 0.005);
  p.top_k = si < 7 ? (r->top_k_early > 0 ? r->top_k_early : 600)
                   : (r->top_k_late > 0 ? r->top_k_late : 300);
  if (p.top_k > g->V)
    p.top_k = (int)g->V;
  return p;
}

static hart_status sample_stage(hart_gen *g, const hart_gen_request *r, int si, int64_t n_s,
                                const scale_params *p)
{
  const hart_replay *rp = r->replay;
  hart_sample_args a;
  hart_status st;
  char name[64];

  memset(&a, 0, sizeof a);
  a.logits = g->logits;
  a.B = g->B;
  a.n = n_s;
  a.V = g->V;
  a.Cv = g->Cv;
  a.t = p->t;
  a.top_k = p->top_k;
  a.top_p = r->top_p;
  a.smooth = r->smooth;
  a.smooth_mul = p->mul;
  a.tau = p->tau;
  a.codebook = g->m->codebook;
  a.seed = r->seed;
  a.stage = (uint32_t)si;
  if (rp) {
    a.replay_idx = rp->idx ? rp->idx[si] : NULL;
    a.replay_keep = rp->keep ? rp->keep[si] : NULL;
    a.replay_K = rp->keep_K ? rp->keep_K[si] : 0;
    a.replay_gumbel = rp->gumbel ? rp->gumbel[si] : NULL;
  }
  a.idx_out = g->idx;
  a.h_out = g->h;
  a.idx_host = g->h_idx;
  if (r->dump) {
    a.keep_idx_host = g->h_keep;
    a.keep_logit_host = g->h_keep_logit;
  }
  st = g->be->ops->sample(g->be, &a);
  if (st != HART_OK || r->dump == NULL)
    return st;
  {
    int64_t K = p->top_k, rows = g->B * n_s;
    int64_t shape[3] = { g->B, n_s, K };
    int16_t *k16 = malloc((size_t)(rows * K) * sizeof(int16_t));
    if (k16 == NULL)
      return hart_fail(g->be->err, HART_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < rows * K; i++)
      k16[i] = (int16_t)g->h_keep[i];
    stage_name(name, sizeof name, si, "keep_idx");
    r->dump(r->dump_ud, name, HART_DT_I16, 3, shape, k16);
    free(k16);
    stage_name(name, sizeof name, si, "keep_logit");
    r->dump(r->dump_ud, name, HART_DT_F32, 3, shape, g->h_keep_logit);
    stage_name(name, sizeof name, si, "idx");
    r->dump(r->dump_ud, name, HART_DT_I64, 2, shape, g->h_idx);
  }
  return HART_OK;
}

/* f_hat += phi_j(bicubic(h)) and the next scale's token map (§1.6). */
static hart_status latent_update(hart_gen *g, const hart_gen_request *r, int si)
{
  hart_backend *be = g->be;
  const hart_replay *rp = r->replay;
  int64_t pn = g->m->llm.patch_nums[si], pn2 = g->m->llm.patch_nums[si + 1], B = g->B, Cv = g->Cv,
          P = g->P, PP = P * P;
  int64_t sh[4] = { B, Cv, pn, pn }, sf[4] = { B, Cv, P, P }, sn[4] = { B, Cv, pn2, pn2 };
  hart_status st = HART_OK;
  char name[64];

  TRY(tr(g, g->hT, g->h, pn * pn, Cv)); /* token t -> (row t / pn, column t % pn) */
  stage_name(name, sizeof name, si, "h");
  TRY(dump_dev(g, r, name, g->hT, 4, sh));
  if (rp && rp->tf_fhat && rp->tf_fhat[si]) {
    TRY(be->ops->upload(be, g->fhat, rp->tf_fhat[si], (size_t)(B * Cv * PP) * sizeof(float)));
  } else {
    int j = rp && rp->phi_index ? rp->phi_index[si]
                                : hart_phi_index(si, g->SN, g->m->vae_cfg.share_quant_resi);
    if (g->m->vae == NULL) {
      st = hart_fail(be->err, HART_ERR_UNSUPPORTED, "f_hat update needs the VAE: %s",
                     g->m->vae_note);
      goto out;
    }
    TRY(be->ops->resize_bicubic(be, g->up, g->hT, B * Cv, pn, pn, P, P));
    TRY(hart_vae_phi(g->m->vae, j, g->u, g->up, B, P));
    TRY(be->ops->axpby(be, g->fhat, 1.0f, g->fhat, 1.0f, g->u, B * Cv * PP));
  }
  stage_name(name, sizeof name, si, "fhat");
  TRY(dump_dev(g, r, name, g->fhat, 4, sf));
  if (rp && rp->tf_next && rp->tf_next[si])
    TRY(be->ops->upload(be, g->next, rp->tf_next[si],
                        (size_t)(B * Cv * pn2 * pn2) * sizeof(float)));
  else
    TRY(be->ops->resize_area(be, g->next, g->fhat, B * Cv, P, P, pn2, pn2));
  stage_name(name, sizeof name, si, "next_map");
  TRY(dump_dev(g, r, name, g->next, 4, sn));
out:
  return st;
}

/* x = word_embed(next tokens) + lvl[si+1], duplicated into the unconditional half. */
static hart_status next_input(hart_gen *g, int si)
{
  hart_backend *be = g->be;
  int64_t pn2 = g->m->llm.patch_nums[si + 1], n = pn2 * pn2, C = g->C;
  hart_status st;
  TRY(tr(g, g->tok, g->next, g->Cv, n));
  TRY(be->ops->linear(be, g->x, g->tok, g->m->tf->word_w, g->m->tf->word_b, g->B * n, C, g->Cv,
                      0.0f));
  TRY(be->ops->add_row(be, g->x, g->x, g->lvl + (int64_t)(si + 1) * C, g->B * n, C));
  TRY(be->ops->copy(be, g->x + g->B * n * C, g->x, (size_t)(g->B * n * C) * sizeof(float)));
out:
  return st;
}

static hart_status last_stage(hart_gen *g, const hart_gen_request *r, const scale_params *p,
                              hart_gen_times *times)
{
  hart_backend *be = g->be;
  hart_model *m = g->m;
  const hart_replay *rp = r->replay;
  int64_t B = g->B, PP = g->P * g->P, C = g->C, Cv = g->Cv, N = B * PP;
  int64_t sht[3] = { B, PP, Cv }, sz[2] = { g->G * PP, C }, sf[4] = { B, Cv, g->P, g->P };
  hart_diffusion_opts o;
  double t0 = now_s();
  hart_status st = HART_OK;
  char name[64];

  stage_name(name, sizeof name, (int)g->SN - 1, "h_tokens");
  if (rp && rp->tf_h_tokens)
    TRY(be->ops->upload(be, g->h, rp->tf_h_tokens, (size_t)(N * Cv) * sizeof(float)));
  TRY(dump_dev(g, r, name, g->h, 3, sht));
  if (m->diff == NULL) {
    st = hart_fail(be->err, HART_ERR_UNSUPPORTED, "the last stage needs the diffusion head: %s",
                   m->vae_note);
    goto out;
  }
  /* Diffusion condition: decoder_norm(hidden + word_embed(codebook[hard idx])), both halves. */
  TRY(be->ops->embed_rows(be, g->tok, m->codebook, g->idx, N, Cv));
  TRY(be->ops->linear(be, g->zc, g->tok, m->tf->word_w, m->tf->word_b, N, C, Cv, 0.0f));
  TRY(be->ops->axpby(be, g->z, 1.0f, g->x, 1.0f, g->zc, N * C));
  TRY(be->ops->axpby(be, g->z + N * C, 1.0f, g->x + N * C, 1.0f, g->zc, N * C));
  TRY(be->ops->rmsnorm(be, g->z, g->z, m->tf->dec_norm, g->G * PP, C, m->llm.norm_eps));
  TRY(dump_dev(g, r, "diff.z", g->z, 2, sz));

  memset(&o, 0, sizeof o);
  /* The KV cache is dead after the last scale's blocks: its memory is the sampler's scratch. */
  o.workspace = g->kv->mem;
  o.workspace_bytes = g->diff_ws;
  o.seed = r->seed;
  o.on_step = r->on_diffusion_step;
  o.user_data = r->ud;
  if (rp) {
    o.noise0 = rp->noise0;
    o.step_noise = rp->step_noise;
  }
  {
    int ns = hart_diffusion_steps(m->diff);
    float **dx = NULL;
    if (r->dump) {
      dx = calloc((size_t)ns, sizeof *dx);
      for (int k = 0; dx && k < ns; k++)
        if (!(dx[k] = malloc((size_t)(N * Cv) * sizeof(float))))
          break;
    }
    o.dump_x = dx;
    st = hart_diffusion_sample(m->diff, g->res, g->z, N, p->t, &o);
    if (dx) {
      for (int k = 0; k < ns; k++) {
        int64_t sx[2] = { N, Cv };
        char dn[64];
        snprintf(dn, sizeof dn, "diff.step%d.x", k);
        if (st == HART_OK && dx[k])
          r->dump(r->dump_ud, dn, HART_DT_F32, 2, sx, dx[k]);
        free(dx[k]);
      }
      free(dx);
    }
    if (st != HART_OK)
      goto out;
  }
  if (r->dump) {
    int64_t sx[2] = { N, Cv };
    TRY(be->ops->download(be, g->h_tmp, g->res, (size_t)(N * Cv) * sizeof(float)));
    for (int64_t i = 0; i < N * Cv; i++)
      g->h_tmp[i] /= HART_DIFFUSION_VAE_SCALE;
    r->dump(r->dump_ud, "diff.final_sample", HART_DT_F32, 2, sx, g->h_tmp);
  }
  /* f_hat += h_tokens + residual, without phi (§1.7) */
  TRY(be->ops->axpby(be, g->tok, 1.0f, g->h, 1.0f, g->res, N * Cv));
  TRY(tr(g, g->hT, g->tok, PP, Cv));
  TRY(be->ops->axpby(be, g->fhat, 1.0f, g->fhat, 1.0f, g->hT, N * Cv));
  TRY(dump_dev(g, r, "fhat_final", g->fhat, 4, sf));
  TRY(be->ops->sync(be));
  times->t_diffusion = now_s() - t0;
out:
  return st;
}

static hart_status decode(hart_gen *g, const hart_gen_request *r, hart_gen_times *times)
{
  hart_backend *be = g->be;
  int64_t B = g->B, S = g->S, n = B * 3 * S * S, si[4] = { B, 3, S, S };
  double t0 = now_s();
  hart_status st = HART_OK;

  if (g->m->vae == NULL)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "decoding needs the VAE: %s", g->m->vae_note);
  /* ... and the decoder's (2.1 GB at 1024 px, less than the 2.9 GB fp16 cache of depth 24). */
  TRY(hart_vae_decode_in(g->m->vae, g->img, g->fhat, B, g->P, g->kv->mem, g->kv->bytes));
  TRY(be->ops->download(be, g->h_img, g->img, (size_t)n * sizeof(float)));
  if (r->dump) {
    /* the golden "image" is (clamp(x) + 1) * 0.5 in [0, 1] */
    for (int64_t i = 0; i < n; i++)
      g->h_tmp[i] = (g->h_img[i] + 1.0f) * 0.5f;
    r->dump(r->dump_ud, "image", HART_DT_F32, 4, si, g->h_tmp);
  }
  if (r->rgb)
    for (int64_t b = 0; b < B; b++)
      hart_image_to_rgb8(g->h_img + b * 3 * S * S, (int)S, (int)S, r->rgb + b * S * S * 3);
  times->t_decode = now_s() - t0;
out:
  return st;
}

/* The depth blocks of one scale, as issued: x [G, n, C] in, x out; KV positions L .. L+n-1. */
static hart_status run_blocks(hart_gen *g, const hart_gen_request *r, int64_t n, int64_t L,
                              float attn_scale)
{
  hart_model *m = g->m;
  for (int i = 0; i < m->llm.depth; i++) {
    hart_block_call c;
    hart_status st;
    if (cancelled(r))
      return HART_CANCELLED;
    memset(&c, 0, sizeof c);
    c.G = g->G;
    c.n = n;
    c.kv = g->kv;
    c.layer = i;
    c.L0 = L;
    c.cos = g->cos_t;
    c.sin = g->sin_t;
    c.ada = m->llm.disable_aln ? NULL : g->ada[i];
    c.attn_scale = attn_scale;
    if ((st = hart_block_forward(g->be, &m->tf->blocks[i], g->x, &c, &g->bs)) != HART_OK)
      return st;
  }
  return HART_OK;
}

/* Scale si's blocks, recorded as one device graph the second time they run and replayed from then
 * on, where the backend records (CUDA): the same ops on the same buffers with the same shapes
 * every image, hundreds of launches that cost more than their work at the small scales. Not while
 * dumping (the dumps read intermediate values) nor in the first run (its scratch buffers are
 * still growing). */
static hart_status scale_blocks(hart_gen *g, const hart_gen_request *r, int si, int64_t n,
                                int64_t L, float attn_scale)
{
  hart_backend *be = g->be;
  uint64_t key = ((uint64_t)g->graph_id << 8) | (uint64_t)si;
  int launched = 0;
  hart_status st, st_end;

  if (be->ops->graph_launch == NULL || r->dump != NULL || g->runs_done == 0)
    return run_blocks(g, r, n, L, attn_scale);
  if ((st = be->ops->graph_launch(be, key, &launched)) != HART_OK || launched)
    return st;
  if ((st = be->ops->graph_begin(be, key)) != HART_OK)
    return st;
  st = run_blocks(g, r, n, L, attn_scale);
  st_end = be->ops->graph_end(be, key, st == HART_OK);
  return st != HART_OK ? st : st_end;
}

hart_status hart_gen_run(hart_gen *g, const hart_gen_request *r, hart_gen_times *times_out,
                         hart_error *err)
{
  hart_backend *be = g->be;
  hart_model *m = g->m;
  hart_transformer *tf = m->tf;
  hart_error *saved = be->err;
  hart_gen_times times;
  int64_t C = g->C, ct = g->ct, L = 0;
  float attn_scale = hart_transformer_attn_scale(&m->llm);
  double t_start = now_s();
  scale_params p = { 0 };
  hart_status st = HART_OK;
  char name[64];

  memset(&times, 0, sizeof times);
  be->err = err;
  TRY(upload_context(g, r));
  {
    int64_t s_cn[3] = { g->G, ct, g->cd }, s_c[3] = { g->G, ct, C }, s_l[2] = { g->SN, C };
    TRY(hart_transformer_cond(tf, g->cond, g->cn, g->ctx, g->G, NULL));
    TRY(dump_dev(g, r, "ctx_norm_out", g->cn, 3, s_cn));
    TRY(dump_dev(g, r, "cond_BD", g->cond, 3, s_c));
    TRY(hart_transformer_lvl_table(tf, g->lvl, g->lvl_scratch));
    TRY(dump_dev(g, r, "lvl_table", g->lvl, 2, s_l));
  }
  TRY(hart_transformer_head_cond(tf, g->ss, g->cond, g->G, g->pool));
  if (!m->llm.disable_aln) {
    /* the mask is only read by the per-block adaLN pooling; reuse pool for it */
    float *mask = g->hs;
    TRY(be->ops->upload(be, mask, g->h_mask, (size_t)(g->G * ct) * sizeof(float)));
    TRY(hart_transformer_block_cond(tf, g->ada, g->cond, mask, g->G, g->pool));
  }
  TRY(be->ops->fill(be, g->fhat, 0.0f, g->B * g->Cv * g->P * g->P));

  for (int si = 0; si < g->SN; si++) {
    double ts = now_s();
    int64_t pn = m->llm.patch_nums[si], n = si == 0 ? ct : pn * pn, n_s = si == 0 ? 1 : n;
    int64_t s_x[3] = { g->G, n, C };
    const float *xh;

    if (si == 0)
      TRY(be->ops->add_row(be, g->x, g->cond, g->lvl, g->G * ct, C));
    stage_name(name, sizeof name, si, "x_in");
    TRY(dump_dev(g, r, name, g->x, 3, s_x));
    TRY(upload_rope(g, si, n));
    if (cancelled(r)) {
      st = HART_CANCELLED;
      goto out;
    }
    TRY(scale_blocks(g, r, si, n, L, attn_scale));
    L += n;
    stage_name(name, sizeof name, si, "hidden");
    TRY(dump_dev(g, r, name, g->x, 3, s_x));
    if (cancelled(r)) {
      st = HART_CANCELLED;
      goto out;
    }
    /* Stage 0 predicts the 1x1 token from the last context position only (§3.10). */
    xh = g->x;
    if (si == 0) {
      for (int64_t gi = 0; gi < g->G; gi++)
        TRY(be->ops->copy(be, g->xh + gi * C, g->x + (gi * ct + ct - 1) * C,
                          (size_t)C * sizeof(float)));
      xh = g->xh;
    }
    TRY(hart_transformer_head(tf, g->logits, xh, g->ss, g->G, n_s, g->hs));
    p = params_for(g, r, si);
    TRY(sample_stage(g, r, si, n_s, &p));
    if (si < g->SN - 1) {
      TRY(latent_update(g, r, si));
      if (r->on_scale && r->on_scale(r->ud, si, (int)g->SN, g->fhat)) {
        st = HART_CANCELLED;
        goto out;
      }
      TRY(next_input(g, si));
      TRY(be->ops->sync(be)); /* asynchronous backends (CUDA): time the finished work */
      times.t_scale[si] = now_s() - ts;
    } else {
      TRY(be->ops->sync(be));
      times.t_scale[si] = now_s() - ts;
      TRY(last_stage(g, r, &p, &times));
      if (r->on_scale && r->on_scale(r->ud, si, (int)g->SN, g->fhat)) {
        st = HART_CANCELLED;
        goto out;
      }
    }
  }
  if (cancelled(r)) {
    st = HART_CANCELLED;
    goto out;
  }
  TRY(decode(g, r, &times));
  times.t_total = now_s() - t_start;
  g->runs_done++;
out:
  be->err = saved;
  if (times_out)
    *times_out = times;
  if (st == HART_CANCELLED)
    hart_fail(err, HART_CANCELLED, "cancelled");
  return st;
}
