/* qwen2.c: loading the Qwen2 text encoder's weights and running it on the op table. */
#include "qwen2.h"

#include "model_part.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  hart_bw *in_norm, *post_norm;
  hart_bw *wq, *bq, *wk, *bk, *wv, *bv, *wo;
  hart_bw *wg, *wu, *wd;
} qwen2_layer;

struct hart_qwen2 {
  hart_backend *be;
  hart_qwen2_config cfg;
  hart_tensor_set *set; /* keeps the embedding's mapping alive (NULL for random models) */
  const void *embed;    /* [vocab, hidden] in embed_dt, read by rows on the host */
  hart_dtype embed_dt;
  int64_t embed_rows;
  uint16_t *embed_own; /* bf16 table of a random model */
  qwen2_layer *layers;
  hart_bw *norm;
};

/* Activation buffers of one forward pass (backend memory). */
typedef struct {
  float *x, *h, *q, *k, *v, *o, *g, *u, *cos, *sin, *mask;
} qwen2_work;

const hart_qwen2_config *hart_qwen2_get_config(const hart_qwen2 *m)
{
  return &m->cfg;
}

/* Copies the backend's error record into the caller's (ops record failures in be->err). */
static hart_status be_status(hart_backend *be, hart_status st, hart_error *err)
{
  if (st != HART_OK && err != NULL && be->err != NULL && err != be->err)
    *err = *be->err;
  return st;
}

/* ---- loading ---- */

typedef struct {
  hart_qwen2 *m;
  const char *config_path;
  hart_error *err;
} qwen2_loader;

/* The tensor `model.<name>` (or `<name>` for a bare Qwen2Model save) with the shape the config
 * implies, uploaded for `use`; NULL with a message naming tensor and config otherwise. */
static hart_bw *load_weight(qwen2_loader *L, const char *name, int ndim, int64_t d0, int64_t d1,
                            hart_wuse use)
{
  char full[160];
  int64_t shape[2] = { d0, d1 };
  const hart_tensor *t;

  snprintf(full, sizeof full, "model.%s", name);
  if (hart_tensor_set_get(L->m->set, full) == NULL && hart_tensor_set_get(L->m->set, name))
    snprintf(full, sizeof full, "%s", name);
  t = hart_tensor_set_expect(L->m->set, full, ndim, shape, L->err);
  if (t == NULL) {
    size_t len = L->err ? strlen(L->err->msg) : 0;
    if (L->err != NULL && len + 40 < sizeof L->err->msg)
      snprintf(L->err->msg + len, sizeof L->err->msg - len, " (as %s implies)", L->config_path);
    return NULL;
  }
  return hart_bw_from_tensor(L->m->be, t, use, L->err);
}

static hart_status load_layer(qwen2_loader *L, int l, qwen2_layer *ly)
{
  const hart_qwen2_config *c = &L->m->cfg;
  int64_t C = c->hidden_size, Q = (int64_t)c->num_heads * c->head_dim;
  int64_t KV = (int64_t)c->num_kv_heads * c->head_dim, I = c->intermediate_size;
  char name[128];

#define W(field, suffix, nd, a, b, use)                                                            \
  do {                                                                                             \
    snprintf(name, sizeof name, "layers.%d.%s", l, suffix);                                        \
    if ((ly->field = load_weight(L, name, nd, a, b, use)) == NULL)                                 \
      return L->err ? L->err->code : HART_ERR_FORMAT;                                              \
  } while (0)
  W(in_norm, "input_layernorm.weight", 1, C, 0, HART_WUSE_VECTOR);
  W(post_norm, "post_attention_layernorm.weight", 1, C, 0, HART_WUSE_VECTOR);
  W(wq, "self_attn.q_proj.weight", 2, Q, C, HART_WUSE_GEMM);
  W(bq, "self_attn.q_proj.bias", 1, Q, 0, HART_WUSE_VECTOR);
  W(wk, "self_attn.k_proj.weight", 2, KV, C, HART_WUSE_GEMM);
  W(bk, "self_attn.k_proj.bias", 1, KV, 0, HART_WUSE_VECTOR);
  W(wv, "self_attn.v_proj.weight", 2, KV, C, HART_WUSE_GEMM);
  W(bv, "self_attn.v_proj.bias", 1, KV, 0, HART_WUSE_VECTOR);
  W(wo, "self_attn.o_proj.weight", 2, C, Q, HART_WUSE_GEMM);
  W(wg, "mlp.gate_proj.weight", 2, I, C, HART_WUSE_GEMM);
  W(wu, "mlp.up_proj.weight", 2, I, C, HART_WUSE_GEMM);
  W(wd, "mlp.down_proj.weight", 2, C, I, HART_WUSE_GEMM);
#undef W
  return HART_OK;
}

static hart_status load_embedding(qwen2_loader *L)
{
  hart_qwen2 *m = L->m;
  int64_t shape[2] = { m->cfg.vocab_size, m->cfg.hidden_size };
  const hart_tensor *t =
      hart_tensor_set_get(m->set, "model.embed_tokens.weight")
          ? hart_tensor_set_expect(m->set, "model.embed_tokens.weight", 2, shape, L->err)
          : hart_tensor_set_expect(m->set, "embed_tokens.weight", 2, shape, L->err);
  if (t == NULL)
    return L->err ? L->err->code : HART_ERR_FORMAT;
  if (t->dtype != HART_DT_F32 && t->dtype != HART_DT_F16 && t->dtype != HART_DT_BF16)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "tensor %s has dtype %s: F32, F16 or BF16 needed", t->name,
                     hart_dtype_name(t->dtype));
  m->embed = t->data;
  m->embed_dt = t->dtype;
  m->embed_rows = t->shape[0];
  return HART_OK;
}

static hart_qwen2 *qwen2_alloc(hart_backend *be, const hart_qwen2_config *cfg)
{
  hart_qwen2 *m = calloc(1, sizeof *m);
  if (m == NULL)
    return NULL;
  m->be = be;
  m->cfg = *cfg;
  m->layers = calloc((size_t)cfg->num_layers, sizeof *m->layers);
  if (m->layers == NULL) {
    free(m);
    return NULL;
  }
  return m;
}

hart_status hart_qwen2_load(hart_backend *be, const char *dir, hart_qwen2 **out, hart_error *err)
{
  hart_model_part part;
  qwen2_loader L = { 0 };
  hart_status st;

  *out = NULL;
  if (be->ops->rope_inplace == NULL || be->ops->attention_causal == NULL)
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "the %s backend has no rope_inplace/attention_causal ops for the text encoder",
                     be->name);
  /* config.json, the weights (single file or sharded index) and the manifest check: a missing,
   * extra or misshaped tensor is named there. */
  st = hart_model_part_open(dir, HART_PART_QWEN2, &part, err);
  if (st != HART_OK)
    return st;
  L.m = qwen2_alloc(be, &part.qwen2);
  L.config_path = part.config_path;
  L.err = err;
  if (L.m == NULL) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
    goto out;
  }
  L.m->set = part.set; /* the model keeps the mapping: the embedding is read from it */
  part.set = NULL;
  if ((st = load_embedding(&L)) != HART_OK)
    goto out;
  for (int l = 0; l < part.qwen2.num_layers; l++)
    if ((st = load_layer(&L, l, &L.m->layers[l])) != HART_OK)
      goto out;
  L.m->norm = load_weight(&L, "norm.weight", 1, part.qwen2.hidden_size, 0, HART_WUSE_VECTOR);
  if (L.m->norm == NULL)
    st = err ? err->code : HART_ERR_FORMAT;
out:
  if (st != HART_OK)
    hart_qwen2_free(L.m);
  else
    *out = L.m;
  hart_model_part_clear(&part);
  return st;
}

/* ---- random models (benchmarks) ---- */

static uint64_t rng_next(uint64_t *s)
{
  /* xorshift64*: plenty for benchmark weights. */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dULL;
}

static float rng_uniform(uint64_t *s, float a)
{
  return a * (2.0f * (float)(rng_next(s) >> 40) / (float)(1 << 24) - 1.0f);
}

static hart_bw *random_weight(hart_backend *be, uint64_t *s, int ndim, int64_t d0, int64_t d1,
                              float scale, float offset, hart_wuse use)
{
  int64_t shape[2] = { d0, d1 }, n = ndim == 1 ? d0 : d0 * d1;
  float *host = malloc((size_t)n * sizeof *host);
  hart_bw *w;
  if (host == NULL)
    return NULL;
  for (int64_t i = 0; i < n; i++)
    host[i] = offset + rng_uniform(s, scale);
  w = be->ops->weight_new(be, host, ndim, shape, use);
  free(host);
  return w;
}

hart_status hart_qwen2_new_random(hart_backend *be, const hart_qwen2_config *cfg, uint64_t seed,
                                  hart_qwen2 **out, hart_error *err)
{
  hart_qwen2 *m = qwen2_alloc(be, cfg);
  int64_t C = cfg->hidden_size, Q = (int64_t)cfg->num_heads * cfg->head_dim;
  int64_t KV = (int64_t)cfg->num_kv_heads * cfg->head_dim, I = cfg->intermediate_size;
  int64_t n_embed = (int64_t)cfg->vocab_size * C;
  uint64_t s = seed | 1;

  *out = NULL;
  if (m == NULL || (m->embed_own = malloc((size_t)n_embed * 2)) == NULL) {
    hart_qwen2_free(m);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for a random Qwen2");
  }
  for (int64_t i = 0; i < n_embed; i++)
    m->embed_own[i] = hart_f32_to_bf16(rng_uniform(&s, 0.05f));
  m->embed = m->embed_own;
  m->embed_dt = HART_DT_BF16;
  m->embed_rows = cfg->vocab_size;
  for (int l = 0; l < cfg->num_layers; l++) {
    qwen2_layer *ly = &m->layers[l];
    float aC = 1.0f / sqrtf((float)C), aI = 1.0f / sqrtf((float)I);
    ly->in_norm = random_weight(be, &s, 1, C, 0, 0.1f, 1.0f, HART_WUSE_VECTOR);
    ly->post_norm = random_weight(be, &s, 1, C, 0, 0.1f, 1.0f, HART_WUSE_VECTOR);
    ly->wq = random_weight(be, &s, 2, Q, C, aC, 0.0f, HART_WUSE_GEMM);
    ly->bq = random_weight(be, &s, 1, Q, 0, 0.1f, 0.0f, HART_WUSE_VECTOR);
    ly->wk = random_weight(be, &s, 2, KV, C, aC, 0.0f, HART_WUSE_GEMM);
    ly->bk = random_weight(be, &s, 1, KV, 0, 0.1f, 0.0f, HART_WUSE_VECTOR);
    ly->wv = random_weight(be, &s, 2, KV, C, aC, 0.0f, HART_WUSE_GEMM);
    ly->bv = random_weight(be, &s, 1, KV, 0, 0.1f, 0.0f, HART_WUSE_VECTOR);
    ly->wo = random_weight(be, &s, 2, C, Q, aC, 0.0f, HART_WUSE_GEMM);
    ly->wg = random_weight(be, &s, 2, I, C, aC, 0.0f, HART_WUSE_GEMM);
    ly->wu = random_weight(be, &s, 2, I, C, aC, 0.0f, HART_WUSE_GEMM);
    ly->wd = random_weight(be, &s, 2, C, I, aI, 0.0f, HART_WUSE_GEMM);
    if (!ly->in_norm || !ly->post_norm || !ly->wq || !ly->bq || !ly->wk || !ly->bk || !ly->wv ||
        !ly->bv || !ly->wo || !ly->wg || !ly->wu || !ly->wd) {
      hart_qwen2_free(m);
      return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for random Qwen2 layer %d", l);
    }
  }
  m->norm = random_weight(be, &s, 1, C, 0, 0.1f, 1.0f, HART_WUSE_VECTOR);
  if (m->norm == NULL) {
    hart_qwen2_free(m);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for a random Qwen2");
  }
  *out = m;
  return HART_OK;
}

void hart_qwen2_free(hart_qwen2 *m)
{
  if (m == NULL)
    return;
  for (int l = 0; m->layers != NULL && l < m->cfg.num_layers; l++) {
    hart_bw **w = &m->layers[l].in_norm;
    for (size_t i = 0; i < sizeof(qwen2_layer) / sizeof(hart_bw *); i++)
      m->be->ops->weight_free(m->be, w[i]);
  }
  free(m->layers);
  m->be->ops->weight_free(m->be, m->norm);
  hart_tensor_set_free(m->set);
  free(m->embed_own);
  free(m);
}

/* ---- forward ---- */

/* Embedding rows for ids, converted to fp32 on the host (the table never leaves the file). */
static hart_status embed_host(const hart_qwen2 *m, const int32_t *ids, int64_t T, float *x,
                              hart_error *err)
{
  int64_t C = m->cfg.hidden_size;
  size_t row_bytes = (size_t)C * hart_dtype_size(m->embed_dt);
  /* A one-row view of the table, so the tensor module's conversions apply. */
  hart_tensor view = { .name = "embed_tokens.weight", .dtype = m->embed_dt, .ndim = 1 };

  view.shape[0] = C;
  view.nbytes = row_bytes;
  for (int64_t t = 0; t < T; t++) {
    if (ids[t] < 0 || ids[t] >= m->embed_rows)
      return hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                       "token id %d at position %lld is outside the vocabulary of %lld", ids[t],
                       (long long)t, (long long)m->embed_rows);
    view.data = (const unsigned char *)m->embed + (size_t)ids[t] * row_bytes;
    if (hart_tensor_to_f32(&view, x + t * C, err) != HART_OK)
      return err ? err->code : HART_ERR_INTERNAL;
  }
  return HART_OK;
}

/* RoPE tables [T, hd] as transformers computes them in fp32: inv_freq[i] = 1 / theta^(2i/hd),
 * angle = fp32(pos * inv_freq), cos/sin of cat(angles, angles). */
static void rope_tables(const hart_qwen2_config *c, int64_t T, float *cos_t, float *sin_t)
{
  int64_t hd = c->head_dim, half = hd / 2;

  for (int64_t i = 0; i < half; i++) {
    float inv = 1.0f / powf((float)c->rope_theta, (float)(2 * i) / (float)hd);
    for (int64_t t = 0; t < T; t++) {
      float a = (float)t * inv;
      cos_t[t * hd + i] = cos_t[t * hd + i + half] = cosf(a);
      sin_t[t * hd + i] = sin_t[t * hd + i + half] = sinf(a);
    }
  }
}

static void work_free(hart_backend *be, qwen2_work *w)
{
  float **p = &w->x;
  for (size_t i = 0; i < sizeof *w / sizeof(float *); i++)
    if (p[i] != NULL)
      be->ops->free(be, p[i]);
}

static hart_status work_alloc(hart_backend *be, const hart_qwen2_config *c, int64_t T,
                              qwen2_work *w, hart_error *err)
{
  size_t C = (size_t)c->hidden_size, Q = (size_t)c->num_heads * (size_t)c->head_dim;
  size_t KV = (size_t)c->num_kv_heads * (size_t)c->head_dim, I = (size_t)c->intermediate_size;
  size_t t = (size_t)T, f = sizeof(float);

  memset(w, 0, sizeof *w);
  if ((w->x = be->ops->alloc(be, t * C * f)) == NULL ||
      (w->h = be->ops->alloc(be, t * C * f)) == NULL ||
      (w->q = be->ops->alloc(be, t * Q * f)) == NULL ||
      (w->k = be->ops->alloc(be, t * KV * f)) == NULL ||
      (w->v = be->ops->alloc(be, t * KV * f)) == NULL ||
      (w->o = be->ops->alloc(be, t * Q * f)) == NULL ||
      (w->g = be->ops->alloc(be, t * I * f)) == NULL ||
      (w->u = be->ops->alloc(be, t * I * f)) == NULL ||
      (w->cos = be->ops->alloc(be, t * (size_t)c->head_dim * f)) == NULL ||
      (w->sin = be->ops->alloc(be, t * (size_t)c->head_dim * f)) == NULL ||
      (w->mask = be->ops->alloc(be, t * f)) == NULL) {
    work_free(be, w);
    return be_status(be, be->err ? be->err->code : HART_ERR_NO_MEMORY, err);
  }
  return HART_OK;
}

/* Uploads the embeddings, RoPE tables and key mask of one pass. */
static hart_status upload_inputs(hart_qwen2 *m, const int32_t *ids, const uint8_t *attn, int64_t T,
                                 qwen2_work *w, hart_error *err)
{
  hart_backend *be = m->be;
  int64_t C = m->cfg.hidden_size, hd = m->cfg.head_dim;
  float *x = malloc((size_t)(T * C) * sizeof *x);
  float *cs = malloc((size_t)(2 * T * hd) * sizeof *cs);
  float *mask = malloc((size_t)T * sizeof *mask);
  hart_status st = HART_OK;

  if (x == NULL || cs == NULL || mask == NULL) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for %lld tokens", (long long)T);
    goto out;
  }
  if ((st = embed_host(m, ids, T, x, err)) != HART_OK)
    goto out;
  rope_tables(&m->cfg, T, cs, cs + T * hd);
  for (int64_t t = 0; t < T; t++)
    mask[t] = attn == NULL || attn[t] ? 1.0f : 0.0f;
  if ((st = be->ops->upload(be, w->x, x, (size_t)(T * C) * sizeof *x)) != HART_OK ||
      (st = be->ops->upload(be, w->cos, cs, (size_t)(T * hd) * sizeof *cs)) != HART_OK ||
      (st = be->ops->upload(be, w->sin, cs + T * hd, (size_t)(T * hd) * sizeof *cs)) != HART_OK ||
      (st = be->ops->upload(be, w->mask, mask, (size_t)T * sizeof *mask)) != HART_OK ||
      (st = be->ops->sync(be)) != HART_OK)
    st = be_status(be, st, err);
out:
  free(x);
  free(cs);
  free(mask);
  return st;
}

/* One decoder layer on w->x in place. */
static hart_status run_layer(hart_qwen2 *m, const qwen2_layer *ly, int64_t T, qwen2_work *w)
{
  hart_backend *be = m->be;
  const hart_backend_ops *op = be->ops;
  const hart_qwen2_config *c = &m->cfg;
  int64_t C = c->hidden_size, H = c->num_heads, KVH = c->num_kv_heads, hd = c->head_dim;
  int64_t Q = H * hd, KV = KVH * hd, I = c->intermediate_size;
  float eps = c->rms_norm_eps, scale = 1.0f / sqrtf((float)hd);
  hart_status st;

#define OP(call)                                                                                   \
  do {                                                                                             \
    if ((st = (call)) != HART_OK)                                                                  \
      return st;                                                                                   \
  } while (0)
  OP(op->rmsnorm(be, w->h, w->x, ly->in_norm, T, C, eps));
  OP(op->linear(be, w->q, w->h, ly->wq, ly->bq, T, Q, C, 0.0f));
  OP(op->linear(be, w->k, w->h, ly->wk, ly->bk, T, KV, C, 0.0f));
  OP(op->linear(be, w->v, w->h, ly->wv, ly->bv, T, KV, C, 0.0f));
  OP(op->rope_inplace(be, w->q, w->cos, w->sin, 1, T, H, hd));
  OP(op->rope_inplace(be, w->k, w->cos, w->sin, 1, T, KVH, hd));
  OP(op->attention_causal(be, w->o, w->q, w->k, w->v, w->mask, 1, T, H, KVH, hd, scale));
  /* x += o_proj(o): the residual is the GEMM's accumulator (beta = 1). */
  OP(op->linear(be, w->x, w->o, ly->wo, NULL, T, C, Q, 1.0f));
  OP(op->rmsnorm(be, w->h, w->x, ly->post_norm, T, C, eps));
  OP(op->linear(be, w->g, w->h, ly->wg, NULL, T, I, C, 0.0f));
  OP(op->linear(be, w->u, w->h, ly->wu, NULL, T, I, C, 0.0f));
  OP(op->silu_mul(be, w->g, w->g, w->u, T * I));
  OP(op->linear(be, w->x, w->g, ly->wd, NULL, T, C, I, 1.0f));
#undef OP
  return HART_OK;
}

hart_status hart_qwen2_forward(hart_qwen2 *m, const int32_t *ids, const uint8_t *attn, int64_t T,
                               int64_t row0, int64_t n_out, float *out_host, hart_error *err)
{
  hart_backend *be = m->be;
  int64_t C = m->cfg.hidden_size;
  qwen2_work w;
  hart_status st;

  if (T <= 0 || row0 < 0 || n_out < 0 || row0 + n_out > T)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "qwen2: rows [%lld, %lld) of %lld tokens",
                     (long long)row0, (long long)(row0 + n_out), (long long)T);
  if ((st = work_alloc(be, &m->cfg, T, &w, err)) != HART_OK)
    return st;
  st = upload_inputs(m, ids, attn, T, &w, err);
  for (int l = 0; st == HART_OK && l < m->cfg.num_layers; l++)
    st = be_status(be, run_layer(m, &m->layers[l], T, &w), err);
  /* Only the requested rows go through the final norm and back to the host. */
  if (st == HART_OK)
    st = be_status(
        be, be->ops->rmsnorm(be, w.h, w.x + row0 * C, m->norm, n_out, C, m->cfg.rms_norm_eps), err);
  if (st == HART_OK)
    st = be_status(be, be->ops->download(be, out_host, w.h, (size_t)(n_out * C) * sizeof(float)),
                   err);
  if (st == HART_OK)
    st = be_status(be, be->ops->sync(be), err);
  work_free(be, &w);
  return st;
}
