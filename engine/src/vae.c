/* vae.c: codebook, phi convolutions and the decoder of the hybrid tokenizer (hart-spec §2.8,
 * §2.9). All compute goes through the backend's op table; activations are fp32 NCHW. */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weight_check.h"

#define VAE_MAX_PHI 8
#define VAE_RES_PER_LEVEL 3 /* num_res_blocks + 1 in the taming decoder */
#define VAE_GROUPS 32
#define VAE_GN_EPS 1e-6f

typedef struct {
  hart_bw *w, *b;
} conv_w;

typedef struct {
  hart_bw *w, *b;
} norm_w;

typedef struct {
  int cin, cout;
  norm_w norm1, norm2;
  conv_w conv1, conv2, nin; /* nin.w NULL when cin == cout */
} resblock_w;

typedef struct {
  int c;
  norm_w norm;
  conv_w qkv, proj;
} attn_w;

typedef struct {
  resblock_w block[VAE_RES_PER_LEVEL];
  attn_w attn[VAE_RES_PER_LEVEL];
  int has_attn;
  conv_w upsample; /* w NULL at level 0 */
} level_w;

struct hart_vae {
  hart_backend *be;
  hart_vae_config cfg;
  hart_bw *codebook;
  conv_w phi[VAE_MAX_PHI];
  int n_phi;
  conv_w post_quant;
  int post_quant_k;
  conv_w conv_in;
  resblock_w mid1, mid2;
  attn_w mid_attn;
  level_w level[HART_MAX_CH_MULT];
  norm_w norm_out;
  conv_w conv_out;
};

/* ---- loading ---- */

typedef struct {
  hart_backend *be;
  const hart_tensor_set *set;
  hart_error *err;
} loader;

static hart_bw *load_w(loader *L, const char *name, int ndim, const int64_t *shape, hart_wuse use)
{
  const hart_tensor *t = hart_tensor_set_expect(L->set, name, ndim, shape, L->err);
  if (t == NULL || hart_tensor_check_finite(t, L->err) != HART_OK)
    return NULL;
  return hart_bw_from_tensor(L->be, t, use, L->err);
}

/* Loads "<prefix>.weight" [cout, cin, k, k] and "<prefix>.bias" [cout]. */
static hart_status load_conv(loader *L, conv_w *c, const char *prefix, int cout, int cin, int k)
{
  char name[256];
  int64_t ws[4] = { cout, cin, k, k }, bs[1] = { cout };
  snprintf(name, sizeof name, "%s.weight", prefix);
  if ((c->w = load_w(L, name, 4, ws, HART_WUSE_CONV)) == NULL)
    return L->err->code;
  snprintf(name, sizeof name, "%s.bias", prefix);
  if ((c->b = load_w(L, name, 1, bs, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  return HART_OK;
}

static hart_status load_norm(loader *L, norm_w *n, const char *prefix, int c)
{
  char name[256];
  int64_t s[1] = { c };
  snprintf(name, sizeof name, "%s.weight", prefix);
  if ((n->w = load_w(L, name, 1, s, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  snprintf(name, sizeof name, "%s.bias", prefix);
  if ((n->b = load_w(L, name, 1, s, HART_WUSE_VECTOR)) == NULL)
    return L->err->code;
  return HART_OK;
}

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    hart_status st_ = (expr);                                                                      \
    if (st_ != HART_OK)                                                                            \
      return st_;                                                                                  \
  } while (0)

static hart_status load_resblock(loader *L, resblock_w *r, const char *prefix, int cin, int cout)
{
  char name[256];
  r->cin = cin;
  r->cout = cout;
  snprintf(name, sizeof name, "%s.norm1", prefix);
  TRY(load_norm(L, &r->norm1, name, cin));
  snprintf(name, sizeof name, "%s.conv1", prefix);
  TRY(load_conv(L, &r->conv1, name, cout, cin, 3));
  snprintf(name, sizeof name, "%s.norm2", prefix);
  TRY(load_norm(L, &r->norm2, name, cout));
  snprintf(name, sizeof name, "%s.conv2", prefix);
  TRY(load_conv(L, &r->conv2, name, cout, cout, 3));
  if (cin != cout) {
    snprintf(name, sizeof name, "%s.nin_shortcut", prefix);
    TRY(load_conv(L, &r->nin, name, cout, cin, 1));
  }
  return HART_OK;
}

static hart_status load_attn(loader *L, attn_w *a, const char *prefix, int c)
{
  char name[256];
  a->c = c;
  snprintf(name, sizeof name, "%s.norm", prefix);
  TRY(load_norm(L, &a->norm, name, c));
  snprintf(name, sizeof name, "%s.qkv", prefix);
  TRY(load_conv(L, &a->qkv, name, 3 * c, c, 1));
  snprintf(name, sizeof name, "%s.proj_out", prefix);
  TRY(load_conv(L, &a->proj, name, c, c, 1));
  return HART_OK;
}

static hart_status load_all(loader *L, hart_vae *v)
{
  const hart_vae_config *cfg = &v->cfg;
  int n = cfg->n_ch_mult, Cv = cfg->z_channels, V = cfg->vocab_size;
  int64_t cb_shape[2] = { V, Cv };
  const hart_tensor *pq;
  int block_in;
  char name[256];

  if ((v->codebook = load_w(L, "vae.quantize.embedding.weight", 2, cb_shape, HART_WUSE_TABLE)) ==
      NULL)
    return L->err->code;
  v->n_phi = cfg->share_quant_resi;
  if (v->n_phi < 1 || v->n_phi > VAE_MAX_PHI)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED, "tokenizer: share_quant_resi %d not supported",
                     v->n_phi);
  for (int j = 0; j < v->n_phi; j++) {
    snprintf(name, sizeof name, "vae.quantize.quant_resi.qresi_ls.%d", j);
    TRY(load_conv(L, &v->phi[j], name, Cv, Cv, 3));
  }
  /* post_quant_conv's kernel size (quant_conv_ks) is taken from the file: 1 or 3. */
  pq = hart_tensor_set_get(L->set, "vae.post_quant_conv.weight");
  v->post_quant_k = pq && pq->ndim == 4 ? (int)pq->shape[3] : 3;
  if (v->post_quant_k != 1 && v->post_quant_k != 3)
    v->post_quant_k = 3; /* the expect() below then reports the shape */
  TRY(load_conv(L, &v->post_quant, "vae.post_quant_conv", Cv, Cv, v->post_quant_k));

  block_in = cfg->ch * cfg->ch_mult[n - 1];
  TRY(load_conv(L, &v->conv_in, "vae.decoder.conv_in", block_in, Cv, 3));
  TRY(load_resblock(L, &v->mid1, "vae.decoder.mid.block_1", block_in, block_in));
  TRY(load_attn(L, &v->mid_attn, "vae.decoder.mid.attn_1", block_in));
  TRY(load_resblock(L, &v->mid2, "vae.decoder.mid.block_2", block_in, block_in));
  for (int lv = n - 1; lv >= 0; lv--) {
    level_w *l = &v->level[lv];
    int block_out = cfg->ch * cfg->ch_mult[lv];
    /* Attention follows each resblock at the top (lowest-resolution) level only. */
    l->has_attn = lv == n - 1;
    for (int i = 0; i < VAE_RES_PER_LEVEL; i++) {
      snprintf(name, sizeof name, "vae.decoder.up.%d.block.%d", lv, i);
      TRY(load_resblock(L, &l->block[i], name, block_in, block_out));
      block_in = block_out;
      if (l->has_attn) {
        snprintf(name, sizeof name, "vae.decoder.up.%d.attn.%d", lv, i);
        TRY(load_attn(L, &l->attn[i], name, block_in));
      }
    }
    if (lv > 0) {
      snprintf(name, sizeof name, "vae.decoder.up.%d.upsample.conv", lv);
      TRY(load_conv(L, &l->upsample, name, block_in, block_in, 3));
    }
  }
  TRY(load_norm(L, &v->norm_out, "vae.decoder.norm_out", block_in));
  TRY(load_conv(L, &v->conv_out, "vae.decoder.conv_out", 3, block_in, 3));
  return HART_OK;
}

hart_status hart_vae_load(hart_backend *be, const hart_tensor_set *tok, const hart_vae_config *cfg,
                          hart_vae **out, hart_error *err)
{
  hart_vae *v;
  loader L = { be, tok, err };
  hart_status st;

  *out = NULL;
  if (cfg->n_ch_mult < 1 || cfg->n_ch_mult > HART_MAX_CH_MULT)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "tokenizer: %d ch_mult entries", cfg->n_ch_mult);
  v = calloc(1, sizeof *v);
  if (v == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory loading the tokenizer");
  v->be = be;
  v->cfg = *cfg;
  st = load_all(&L, v);
  if (st != HART_OK) {
    hart_vae_free(v);
    return st;
  }
  *out = v;
  return HART_OK;
}

static void free_pair(hart_backend *be, hart_bw *a, hart_bw *b)
{
  if (a)
    be->ops->weight_free(be, a);
  if (b)
    be->ops->weight_free(be, b);
}

static void free_resblock(hart_backend *be, resblock_w *r)
{
  free_pair(be, r->norm1.w, r->norm1.b);
  free_pair(be, r->norm2.w, r->norm2.b);
  free_pair(be, r->conv1.w, r->conv1.b);
  free_pair(be, r->conv2.w, r->conv2.b);
  free_pair(be, r->nin.w, r->nin.b);
}

static void free_attn(hart_backend *be, attn_w *a)
{
  free_pair(be, a->norm.w, a->norm.b);
  free_pair(be, a->qkv.w, a->qkv.b);
  free_pair(be, a->proj.w, a->proj.b);
}

void hart_vae_free(hart_vae *vae)
{
  hart_backend *be;
  if (vae == NULL)
    return;
  be = vae->be;
  free_pair(be, vae->codebook, NULL);
  for (int j = 0; j < VAE_MAX_PHI; j++)
    free_pair(be, vae->phi[j].w, vae->phi[j].b);
  free_pair(be, vae->post_quant.w, vae->post_quant.b);
  free_pair(be, vae->conv_in.w, vae->conv_in.b);
  free_resblock(be, &vae->mid1);
  free_resblock(be, &vae->mid2);
  free_attn(be, &vae->mid_attn);
  for (int lv = 0; lv < HART_MAX_CH_MULT; lv++) {
    for (int i = 0; i < VAE_RES_PER_LEVEL; i++) {
      free_resblock(be, &vae->level[lv].block[i]);
      free_attn(be, &vae->level[lv].attn[i]);
    }
    free_pair(be, vae->level[lv].upsample.w, vae->level[lv].upsample.b);
  }
  free_pair(be, vae->norm_out.w, vae->norm_out.b);
  free_pair(be, vae->conv_out.w, vae->conv_out.b);
  free(vae);
}

const hart_bw *hart_vae_codebook(const hart_vae *vae)
{
  return vae->codebook;
}

int hart_vae_upscale(const hart_vae *vae)
{
  return 1 << (vae->cfg.n_ch_mult - 1);
}

int hart_vae_n_phi(const hart_vae *vae)
{
  return vae->n_phi;
}

/* ---- phi ---- */

hart_status hart_vae_phi(hart_vae *vae, int j, float *y, const float *x, int64_t B, int64_t S)
{
  hart_backend *be = vae->be;
  float q = fabsf(vae->cfg.quant_resi);
  int64_t Cv = vae->cfg.z_channels;
  hart_status st;

  if (j < 0 || j >= vae->n_phi)
    return hart_fail(be->err, HART_ERR_INTERNAL, "phi index %d out of range [0, %d)", j,
                     vae->n_phi);
  st = be->ops->conv2d(be, y, x, vae->phi[j].w, vae->phi[j].b, B, Cv, S, S, Cv, 3);
  if (st != HART_OK)
    return st;
  return be->ops->axpby(be, y, 1.0f - q, x, q, y, B * Cv * S * S);
}

/* ---- decoder ---- */

/* Three scratch buffers of `cap` floats each rotate through the decoder: `x` holds the current
 * activation, `g` the normalised input of a conv, `h` a conv output. */
typedef struct {
  hart_vae *vae;
  float *x, *g, *h, *w; /* w: attention scores [HW, HW] */
  int64_t C, H, W;      /* shape of x (one image) */
  hart_vae_trace_fn trace;
  void *user;
} dec_state;

static void dec_swap_xh(dec_state *d)
{
  float *t = d->x;
  d->x = d->h;
  d->h = t;
}

static void dec_trace(dec_state *d, const char *name)
{
  if (d->trace)
    d->trace(name, d->x, d->C, d->H, d->W, d->user);
}

static hart_status dec_resblock(dec_state *d, const resblock_w *r)
{
  hart_backend *be = d->vae->be;
  int64_t HW = d->H * d->W;
  hart_status st;

  if ((st = be->ops->groupnorm(be, d->g, d->x, r->norm1.w, r->norm1.b, 1, r->cin, HW, VAE_GROUPS,
                               VAE_GN_EPS, 1)) != HART_OK ||
      (st = be->ops->conv2d(be, d->h, d->g, r->conv1.w, r->conv1.b, 1, r->cin, d->H, d->W, r->cout,
                            3)) != HART_OK ||
      (st = be->ops->groupnorm(be, d->g, d->h, r->norm2.w, r->norm2.b, 1, r->cout, HW, VAE_GROUPS,
                               VAE_GN_EPS, 1)) != HART_OK ||
      (st = be->ops->conv2d(be, d->h, d->g, r->conv2.w, r->conv2.b, 1, r->cout, d->H, d->W, r->cout,
                            3)) != HART_OK)
    return st;
  if (r->nin.w) {
    /* g is free again: it takes the 1x1 shortcut of x. */
    if ((st = be->ops->conv2d(be, d->g, d->x, r->nin.w, r->nin.b, 1, r->cin, d->H, d->W, r->cout,
                              1)) != HART_OK)
      return st;
    st = be->ops->axpby(be, d->h, 1.0f, d->h, 1.0f, d->g, r->cout * HW);
  } else {
    st = be->ops->axpby(be, d->h, 1.0f, d->h, 1.0f, d->x, r->cout * HW);
  }
  if (st != HART_OK)
    return st;
  dec_swap_xh(d);
  d->C = r->cout;
  return HART_OK;
}

/* x + proj_out(attention(GroupNorm(x))) with one head of width C over the H*W pixels. */
static hart_status dec_attn(dec_state *d, const attn_w *a)
{
  hart_backend *be = d->vae->be;
  int64_t C = a->c, HW = d->H * d->W;
  float *q, *k, *v;
  hart_status st;

  if ((st = be->ops->groupnorm(be, d->g, d->x, a->norm.w, a->norm.b, 1, C, HW, VAE_GROUPS,
                               VAE_GN_EPS, 0)) != HART_OK ||
      (st = be->ops->conv2d(be, d->h, d->g, a->qkv.w, a->qkv.b, 1, C, d->H, d->W, 3 * C, 1)) !=
          HART_OK)
    return st;
  q = d->h;
  k = d->h + C * HW;
  v = d->h + 2 * C * HW;
  /* w[i, j] = C^-1/2 * sum_c q[c, i] k[c, j]; softmax over j; o[c, i] = sum_j v[c, j] w[i, j]. */
  if ((st = be->ops->bmm(be, d->w, q, k, 1, HW, HW, C, 1, 0, 1.0f / sqrtf((float)C))) != HART_OK ||
      (st = be->ops->softmax_rows(be, d->w, d->w, HW, HW)) != HART_OK ||
      (st = be->ops->bmm(be, d->g, v, d->w, 1, C, HW, HW, 0, 1, 1.0f)) != HART_OK ||
      (st = be->ops->conv2d(be, d->h, d->g, a->proj.w, a->proj.b, 1, C, d->H, d->W, C, 1)) !=
          HART_OK ||
      (st = be->ops->axpby(be, d->h, 1.0f, d->h, 1.0f, d->x, C * HW)) != HART_OK)
    return st;
  dec_swap_xh(d);
  return HART_OK;
}

static hart_status dec_upsample(dec_state *d, const conv_w *c)
{
  hart_backend *be = d->vae->be;
  hart_status st;

  if ((st = be->ops->upsample2x(be, d->g, d->x, d->C, d->H, d->W)) != HART_OK)
    return st;
  d->H *= 2;
  d->W *= 2;
  if ((st = be->ops->conv2d(be, d->h, d->g, c->w, c->b, 1, d->C, d->H, d->W, d->C, 3)) != HART_OK)
    return st;
  dec_swap_xh(d);
  return HART_OK;
}

/* The largest per-image activation of the decoder at latent size S (in floats), counting the
 * [3C, HW] qkv of the attention blocks. */
static int64_t dec_capacity(const hart_vae *vae, int64_t S)
{
  const hart_vae_config *cfg = &vae->cfg;
  int n = cfg->n_ch_mult;
  int64_t side = S, cap, ctop = (int64_t)cfg->ch * cfg->ch_mult[n - 1];

  cap = 3 * ctop * S * S;
  if ((int64_t)cfg->z_channels * S * S > cap)
    cap = (int64_t)cfg->z_channels * S * S;
  for (int lv = n - 1; lv >= 0; lv--) {
    int64_t cin = lv == n - 1 ? ctop : (int64_t)cfg->ch * cfg->ch_mult[lv + 1];
    int64_t c = (int64_t)cfg->ch * cfg->ch_mult[lv];
    int64_t m = (cin > c ? cin : c) * side * side;
    if (m > cap)
      cap = m;
    if (lv > 0) {
      side *= 2;
      if (c * side * side > cap)
        cap = c * side * side;
    }
  }
  return cap;
}

static hart_status dec_run(dec_state *d, float *img, const float *fhat)
{
  hart_vae *vae = d->vae;
  hart_backend *be = vae->be;
  int n = vae->cfg.n_ch_mult;
  int64_t Cv = vae->cfg.z_channels;
  hart_status st;
  char name[32];

  if ((st = be->ops->conv2d(be, d->x, fhat, vae->post_quant.w, vae->post_quant.b, 1, Cv, d->H, d->W,
                            Cv, vae->post_quant_k)) != HART_OK)
    return st;
  d->C = Cv;
  dec_trace(d, "pq");
  if ((st = be->ops->conv2d(be, d->h, d->x, vae->conv_in.w, vae->conv_in.b, 1, Cv, d->H, d->W,
                            vae->conv_in.w->shape[0], 3)) != HART_OK)
    return st;
  dec_swap_xh(d);
  d->C = vae->conv_in.w->shape[0];
  dec_trace(d, "conv_in");
  if ((st = dec_resblock(d, &vae->mid1)) != HART_OK ||
      (st = dec_attn(d, &vae->mid_attn)) != HART_OK ||
      (st = dec_resblock(d, &vae->mid2)) != HART_OK)
    return st;
  dec_trace(d, "mid");
  for (int lv = n - 1; lv >= 0; lv--) {
    const level_w *l = &vae->level[lv];
    for (int i = 0; i < VAE_RES_PER_LEVEL; i++) {
      if ((st = dec_resblock(d, &l->block[i])) != HART_OK)
        return st;
      if (l->has_attn && (st = dec_attn(d, &l->attn[i])) != HART_OK)
        return st;
    }
    if (lv > 0 && (st = dec_upsample(d, &l->upsample)) != HART_OK)
      return st;
    snprintf(name, sizeof name, "up%d", lv);
    dec_trace(d, name);
  }
  if ((st = be->ops->groupnorm(be, d->g, d->x, vae->norm_out.w, vae->norm_out.b, 1, d->C,
                               d->H * d->W, VAE_GROUPS, VAE_GN_EPS, 1)) != HART_OK ||
      (st = be->ops->conv2d(be, img, d->g, vae->conv_out.w, vae->conv_out.b, 1, d->C, d->H, d->W, 3,
                            3)) != HART_OK)
    return st;
  if (d->trace)
    d->trace("preclamp", img, 3, d->H, d->W, d->user);
  return be->ops->clamp(be, img, img, 3 * d->H * d->W, -1.0f, 1.0f);
}

/* Buffer floats of the decoder at latent size S: x, g, h of dec_capacity each, then the attention
 * scores [S*S, S*S], each part rounded up to 64 floats. */
static int64_t dec_al64(int64_t n)
{
  return (n + 63) & ~(int64_t)63;
}

size_t hart_vae_decode_workspace_bytes(const hart_vae *vae, int64_t S)
{
  return (size_t)(3 * dec_al64(dec_capacity(vae, S)) + dec_al64(S * S * S * S)) * sizeof(float);
}

static hart_status decode_impl(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S,
                               void *ws, size_t ws_bytes, hart_vae_trace_fn trace, void *user)
{
  hart_backend *be = vae->be;
  int64_t cap, f = hart_vae_upscale(vae);
  int64_t Cv = vae->cfg.z_channels;
  float *own = NULL;
  dec_state d = { 0 };
  hart_status st = HART_OK;

  if (S < 1 || B < 1)
    return hart_fail(be->err, HART_ERR_INTERNAL, "decode: latent size %lld, batch %lld",
                     (long long)S, (long long)B);
  cap = dec_al64(dec_capacity(vae, S));
  d.vae = vae;
  d.trace = trace;
  d.user = user;
  /* One block for the four buffers: the caller's workspace when it is large enough (the
   * generation driver lends its KV cache, dead by now), else our own allocation. */
  if (ws == NULL || ws_bytes < hart_vae_decode_workspace_bytes(vae, S)) {
    own = be->ops->alloc(be, hart_vae_decode_workspace_bytes(vae, S));
    if (own == NULL)
      return be->err && be->err->code ? be->err->code : HART_ERR_NO_MEMORY;
    ws = own;
  }
  d.x = (float *)ws;
  d.g = d.x + cap;
  d.h = d.g + cap;
  d.w = d.h + cap;
  for (int64_t b = 0; b < B && st == HART_OK; b++) {
    d.C = Cv;
    d.H = d.W = S;
    st = dec_run(&d, img + b * 3 * (S * f) * (S * f), fhat + b * Cv * S * S);
  }
  if (own)
    be->ops->free(be, own);
  return st;
}

hart_status hart_vae_decode_trace(hart_vae *vae, float *img, const float *fhat, int64_t B,
                                  int64_t S, hart_vae_trace_fn trace, void *user)
{
  return decode_impl(vae, img, fhat, B, S, NULL, 0, trace, user);
}

hart_status hart_vae_decode(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S)
{
  return decode_impl(vae, img, fhat, B, S, NULL, 0, NULL, NULL);
}

hart_status hart_vae_decode_in(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S,
                               void *ws, size_t ws_bytes)
{
  return decode_impl(vae, img, fhat, B, S, ws, ws_bytes, NULL, NULL);
}
