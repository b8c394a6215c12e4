/* transformer.c: HART transformer weights and forward pieces (hart-spec §1.4-1.5, §2.2-2.5).
 * fp32 on the CPU (the golden data is fp32 PyTorch); every product goes through be->ops. */
#include "transformer.h"

#include "tensor_set.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- weight loading ---- */

typedef struct {
  hart_backend *be;
  const hart_tensor_set *set;
  GHashTable *seen; /* names consumed, for the unknown-key check */
  hart_error *err;
} loader;

static hart_bw *load_w(loader *ld, const char *name, int ndim, const int64_t *shape, hart_wuse use)
{
  const hart_tensor *t = hart_tensor_set_expect(ld->set, name, ndim, shape, ld->err);
  hart_bw *w;
  if (t == NULL)
    return NULL;
  w = hart_bw_from_tensor(ld->be, t, use, ld->err);
  if (w && ld->seen)
    g_hash_table_add(ld->seen, g_strdup(name));
  return w;
}

static hart_bw *load_pf(loader *ld, const char *prefix, const char *key, int ndim, int64_t d0,
                        int64_t d1, hart_wuse use)
{
  char name[256];
  int64_t shape[2] = { d0, d1 };
  snprintf(name, sizeof name, "%s%s", prefix, key);
  return load_w(ld, name, ndim, shape, use);
}

/* Host fp32 copy of a tensor, checked shape; NULL on error. */
static float *load_host(loader *ld, const char *name, int ndim, const int64_t *shape)
{
  const hart_tensor *t = hart_tensor_set_expect(ld->set, name, ndim, shape, ld->err);
  float *buf;
  if (t == NULL)
    return NULL;
  buf = malloc((size_t)hart_tensor_numel(t) * sizeof(float) + 1);
  if (buf == NULL) {
    hart_fail(ld->err, HART_ERR_NO_MEMORY, "out of memory reading %s", name);
    return NULL;
  }
  if (hart_tensor_to_f32(t, buf, ld->err) != HART_OK) {
    free(buf);
    return NULL;
  }
  if (ld->seen)
    g_hash_table_add(ld->seen, g_strdup(name));
  return buf;
}

static hart_status block_load(loader *ld, const char *prefix, int64_t C, int64_t H, int64_t hidden,
                              int with_ada, int with_l2, hart_block *blk)
{
  hart_backend *be = ld->be;
  char name[256];
  int64_t sC[1] = { C }, sH[4] = { 1, H, 1, 1 }, s3[1] = { 3 * C };
  float *qb = NULL, *vb = NULL, *kb = NULL, *bias3 = NULL;
  hart_status st = HART_OK;

  memset(blk, 0, sizeof *blk);
  blk->C = C;
  blk->H = H;
  blk->hd = C / H;
  blk->hidden = hidden;
  if (!(blk->ln = load_pf(ld, prefix, "ln_wo_grad.weight", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(blk->qkv_w = load_pf(ld, prefix, "attn.qkv_proj.weight", 2, 3 * C, C, HART_WUSE_GEMM)) ||
      !(blk->proj_w = load_pf(ld, prefix, "attn.proj.weight", 2, C, C, HART_WUSE_GEMM)) ||
      !(blk->proj_b = load_pf(ld, prefix, "attn.proj.bias", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(blk->gate_w = load_pf(ld, prefix, "ffn.gate_proj.weight", 2, hidden, C, HART_WUSE_GEMM)) ||
      !(blk->up_w = load_pf(ld, prefix, "ffn.up_proj.weight", 2, hidden, C, HART_WUSE_GEMM)) ||
      !(blk->down_w = load_pf(ld, prefix, "ffn.down_proj.weight", 2, C, hidden, HART_WUSE_GEMM)))
    return ld->err->code;

  /* The qkv bias is q_bias | zero_k_bias | v_bias (the k part is a zero buffer, §2.2). */
  snprintf(name, sizeof name, "%sattn.q_bias", prefix);
  qb = load_host(ld, name, 1, sC);
  snprintf(name, sizeof name, "%sattn.v_bias", prefix);
  vb = qb ? load_host(ld, name, 1, sC) : NULL;
  snprintf(name, sizeof name, "%sattn.zero_k_bias", prefix);
  if (vb && hart_tensor_set_get(ld->set, name))
    kb = load_host(ld, name, 1, sC);
  bias3 = calloc((size_t)(3 * C), sizeof(float));
  if (!qb || !vb || !bias3 || (hart_tensor_set_get(ld->set, name) && !kb)) {
    st = bias3 ? ld->err->code : hart_fail(ld->err, HART_ERR_NO_MEMORY, "out of memory");
    goto out;
  }
  memcpy(bias3, qb, (size_t)C * sizeof(float));
  if (kb)
    memcpy(bias3 + C, kb, (size_t)C * sizeof(float));
  memcpy(bias3 + 2 * C, vb, (size_t)C * sizeof(float));
  blk->qkv_b = be->ops->weight_new(be, bias3, 1, s3, HART_WUSE_VECTOR);
  if (blk->qkv_b == NULL) {
    st = hart_fail(ld->err, HART_ERR_NO_MEMORY, "out of memory for %sattn bias", prefix);
    goto out;
  }

  snprintf(name, sizeof name, "%sada_lin.1.weight", prefix);
  if (with_ada) {
    if (!(blk->ada_w = load_pf(ld, prefix, "ada_lin.1.weight", 2, 6 * C, C, HART_WUSE_GEMM)) ||
        !(blk->ada_b = load_pf(ld, prefix, "ada_lin.1.bias", 1, 6 * C, 0, HART_WUSE_VECTOR))) {
      st = ld->err->code;
      goto out;
    }
  } else if (hart_tensor_set_get(ld->set, name)) {
    st = hart_fail(ld->err, HART_ERR_FORMAT,
                   "%s: %s present but disable_aln is true (the keys must match the config)",
                   ld->set->origin ? ld->set->origin : "model", name);
    goto out;
  }
  snprintf(name, sizeof name, "%sattn.scale_mul_1H11", prefix);
  if (with_l2) {
    float *sm = load_host(ld, name, 4, sH), mul[1024];
    if (sm == NULL || H > 1024) {
      free(sm);
      st = sm ? hart_fail(ld->err, HART_ERR_UNSUPPORTED, "too many heads") : ld->err->code;
      goto out;
    }
    /* exp(min(s, ln 100)) as VAR clamps the learned multiplier (§2.4). */
    for (int64_t h = 0; h < H; h++)
      mul[h] = expf(fminf(sm[h], (float)log(100.0)));
    free(sm);
    blk->l2_mul = be->ops->weight_new(be, mul, 1, &H, HART_WUSE_VECTOR);
    if (blk->l2_mul == NULL) {
      st = hart_fail(ld->err, HART_ERR_NO_MEMORY, "out of memory");
      goto out;
    }
  } else if (hart_tensor_set_get(ld->set, name)) {
    st = hart_fail(ld->err, HART_ERR_FORMAT,
                   "%s: %s present but attn_l2_norm is false (the keys must match the config)",
                   ld->set->origin ? ld->set->origin : "model", name);
    goto out;
  }
out:
  free(qb);
  free(vb);
  free(kb);
  free(bias3);
  return st;
}

hart_status hart_block_load(hart_backend *be, const hart_tensor_set *set, const char *prefix,
                            int64_t C, int64_t H, int64_t hidden, int with_ada, int with_l2,
                            hart_block *blk, hart_error *err)
{
  loader ld = { be, set, NULL, err };
  hart_status st = block_load(&ld, prefix, C, H, hidden, with_ada, with_l2, blk);
  if (st != HART_OK)
    hart_block_free(be, blk);
  return st;
}

void hart_block_free(hart_backend *be, hart_block *blk)
{
  hart_bw **ws[] = { &blk->ln,     &blk->qkv_w,  &blk->qkv_b, &blk->proj_w,
                     &blk->proj_b, &blk->gate_w, &blk->up_w,  &blk->down_w,
                     &blk->ada_w,  &blk->ada_b,  &blk->l2_mul };
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
    if (*ws[i])
      be->ops->weight_free(be, *ws[i]);
    *ws[i] = NULL;
  }
}

/* ---------------------------------------------------------------- block forward ---- */

/* Offsets inside the shared buffer are rounded up to 64 floats (256 bytes), so every part keeps
 * the alignment of the allocation (the CUDA flash kernel wants 16-byte aligned q and o). */
static int64_t al64(int64_t n)
{
  return (n + 63) & ~(int64_t)63;
}

/* Floats of the shared buffer for `rows` rows: qkv | q | o, or gate | up. */
static int64_t shared_floats(int64_t rows, int64_t C, int64_t hidden)
{
  int64_t attn = al64(rows * 3 * C) + al64(rows * C) + rows * C;
  int64_t ffn = al64(rows * hidden) + rows * hidden;
  return attn > ffn ? attn : ffn;
}

hart_status hart_block_scratch_init(hart_backend *be, hart_block_scratch *s, int64_t max_rows,
                                    int64_t C, int64_t hidden)
{
  size_t rc = (size_t)max_rows * (size_t)C * sizeof(float);
  memset(s, 0, sizeof *s);
  s->max_rows = max_rows;
  s->C = C;
  s->hidden = hidden;
  s->u_floats = shared_floats(max_rows, C, hidden);
  if (!(s->a = be->ops->alloc(be, rc)) || !(s->t = be->ops->alloc(be, rc)) ||
      !(s->u = be->ops->alloc(be, (size_t)s->u_floats * sizeof(float)))) {
    hart_block_scratch_free(be, s);
    return be->err ? be->err->code : HART_ERR_NO_MEMORY;
  }
  return HART_OK;
}

void hart_block_scratch_free(hart_backend *be, hart_block_scratch *s)
{
  float **bufs[] = { &s->a, &s->t, &s->u };
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
    if (*bufs[i])
      be->ops->free(be, *bufs[i]);
    *bufs[i] = NULL;
  }
}

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    hart_status st_ = (expr);                                                                      \
    if (st_ != HART_OK)                                                                            \
      return st_;                                                                                  \
  } while (0)

static hart_status dump(hart_backend *be, float *host, const float *dev, int64_t n)
{
  if (host == NULL)
    return HART_OK;
  return be->ops->download(be, host, dev, (size_t)n * sizeof(float));
}

/* a = rmsnorm(x, ln) [* (1+scale) + shift] for the attention (part 0) or FFN (part 1) branch. */
static hart_status block_norm(hart_backend *be, const hart_block *blk, float *a, const float *x,
                              const hart_block_call *c, int part)
{
  int64_t rows = c->G * c->n, C = blk->C;
  TRY(be->ops->rmsnorm(be, a, x, blk->ln, rows, C, 1e-6f));
  if (blk->ada_w) /* ada = gamma1 gamma2 scale1 scale2 shift1 shift2 (§2.3) */
    TRY(be->ops->modulate(be, a, a, c->ada + (2 + part) * C, c->ada + (4 + part) * C, rows, C, c->n,
                          6 * C));
  return HART_OK;
}

/* x += branch, gated by gamma (part) with adaLN. */
static hart_status block_residual(hart_backend *be, const hart_block *blk, float *x,
                                  const float *branch, const hart_block_call *c, int part)
{
  int64_t rows = c->G * c->n, C = blk->C;
  if (blk->ada_w)
    return be->ops->gated_add(be, x, c->ada + part * C, branch, rows, C, c->n, 6 * C);
  return be->ops->axpby(be, x, 1.0f, x, 1.0f, branch, rows * C);
}

hart_status hart_block_forward(hart_backend *be, const hart_block *blk, float *x,
                               const hart_block_call *c, hart_block_scratch *s)
{
  int64_t rows = c->G * c->n, C = blk->C;
  float *qkv = s->u, *q = qkv + al64(rows * 3 * C), *o = q + al64(rows * C);
  float *gate = s->u, *up = gate + al64(rows * blk->hidden);
  hart_rope_args ra;

  if (rows > s->max_rows || C != s->C || blk->hidden != s->hidden)
    return hart_fail(be->err, HART_ERR_INTERNAL,
                     "block: %lld rows of width %lld (hidden %lld) do not fit the scratch (%lld of "
                     "%lld, %lld)",
                     (long long)rows, (long long)C, (long long)blk->hidden, (long long)s->max_rows,
                     (long long)s->C, (long long)s->hidden);
  if (blk->ada_w && c->ada == NULL)
    return hart_fail(be->err, HART_ERR_INTERNAL, "block: adaLN vectors missing");

  /* attention branch: qkv, q and o share s->u (the FFN's gate and up use it later) */
  TRY(block_norm(be, blk, s->a, x, c, 0));
  TRY(dump(be, c->dump_attn_in, s->a, rows * C));
  TRY(be->ops->linear(be, qkv, s->a, blk->qkv_w, blk->qkv_b, rows, 3 * C, C, 0.0f));
  memset(&ra, 0, sizeof ra);
  ra.qkv = qkv;
  ra.q = q;
  ra.kv = c->kv;
  ra.layer = c->layer;
  ra.cos = c->cos;
  ra.sin = c->sin;
  ra.l2_scale = blk->l2_mul ? blk->l2_mul->data : NULL;
  ra.G = c->G;
  ra.n = c->n;
  ra.H = blk->H;
  ra.hd = blk->hd;
  ra.L0 = c->L0;
  TRY(be->ops->rope_append(be, &ra));
  TRY(be->ops->attention(be, o, q, c->kv, c->layer, c->n, c->L0 + c->n, c->attn_scale));
  TRY(be->ops->linear(be, s->t, o, blk->proj_w, blk->proj_b, rows, C, C, 0.0f));
  TRY(dump(be, c->dump_attn_out, s->t, rows * C));
  TRY(block_residual(be, blk, x, s->t, c, 0));

  /* FFN branch: down(silu(gate(a)) * up(a)) */
  TRY(block_norm(be, blk, s->a, x, c, 1));
  TRY(dump(be, c->dump_ffn_in, s->a, rows * C));
  TRY(be->ops->linear(be, gate, s->a, blk->gate_w, NULL, rows, blk->hidden, C, 0.0f));
  TRY(be->ops->linear(be, up, s->a, blk->up_w, NULL, rows, blk->hidden, C, 0.0f));
  TRY(be->ops->silu_mul(be, gate, gate, up, rows * blk->hidden));
  TRY(be->ops->linear(be, s->t, gate, blk->down_w, NULL, rows, C, blk->hidden, 0.0f));
  TRY(dump(be, c->dump_ffn_out, s->t, rows * C));
  return block_residual(be, blk, x, s->t, c, 1);
}

/* ---------------------------------------------------------------- whole model ---- */

static int known_unused(const char *name)
{
  return strcmp(name, "attn_bias_for_masking") == 0 || strcmp(name, "lvl_1L") == 0 ||
         g_str_has_prefix(name, "diffloss.");
}

hart_status hart_transformer_load(hart_backend *be, const hart_tensor_set *llm,
                                  const hart_llm_config *cfg, int vocab, int z_channels,
                                  hart_transformer **out, hart_error *err)
{
  hart_transformer *tf = calloc(1, sizeof *tf);
  loader ld = { be, llm, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), err };
  int64_t C = cfg->embed_dim, cd = cfg->context_dim, V = vocab, Cv = z_channels;
  const hart_tensor *lw;
  hart_status st = HART_OK;

  *out = NULL;
  if (tf == NULL) {
    g_hash_table_destroy(ld.seen);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  tf->be = be;
  tf->cfg = *cfg;
  tf->V = V;
  tf->Cv = Cv;
  lw = hart_tensor_set_get(llm, "lvl_embed.mlp.0.weight");
  tf->lvl_freq_dim = (lw && lw->ndim == 2) ? lw->shape[1] : 256;
  if (tf->lvl_freq_dim % 2 || tf->lvl_freq_dim < 2) {
    st = hart_fail(err, HART_ERR_FORMAT, "lvl_embed.mlp.0.weight: odd frequency dimension");
    goto fail;
  }
  if (!(tf->word_w = load_pf(&ld, "", "word_embed.weight", 2, C, Cv, HART_WUSE_GEMM)) ||
      !(tf->word_b = load_pf(&ld, "", "word_embed.bias", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(tf->ctx_w = load_pf(&ld, "", "context_embed.weight", 2, C, cd, HART_WUSE_GEMM)) ||
      !(tf->ctx_b = load_pf(&ld, "", "context_embed.bias", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(tf->ctx_norm = load_pf(&ld, "", "context_norm.weight", 1, cd, 0, HART_WUSE_VECTOR)) ||
      !(tf->lvl0_w =
            load_pf(&ld, "", "lvl_embed.mlp.0.weight", 2, C, tf->lvl_freq_dim, HART_WUSE_GEMM)) ||
      !(tf->lvl0_b = load_pf(&ld, "", "lvl_embed.mlp.0.bias", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(tf->lvl2_w = load_pf(&ld, "", "lvl_embed.mlp.2.weight", 2, C, C, HART_WUSE_GEMM)) ||
      !(tf->lvl2_b = load_pf(&ld, "", "lvl_embed.mlp.2.bias", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(tf->head_ln = load_pf(&ld, "", "head_nm.ln_wo_grad.weight", 1, C, 0, HART_WUSE_VECTOR)) ||
      !(tf->head_ada_w =
            load_pf(&ld, "", "head_nm.ada_lin.1.weight", 2, 2 * C, C, HART_WUSE_GEMM)) ||
      !(tf->head_ada_b =
            load_pf(&ld, "", "head_nm.ada_lin.1.bias", 1, 2 * C, 0, HART_WUSE_VECTOR)) ||
      !(tf->head_w = load_pf(&ld, "", "head.weight", 2, V, C, HART_WUSE_GEMM)) ||
      !(tf->head_b = load_pf(&ld, "", "head.bias", 1, V, 0, HART_WUSE_VECTOR)) ||
      !(tf->dec_norm = load_pf(&ld, "", "decoder_norm.weight", 1, C, 0, HART_WUSE_VECTOR))) {
    st = err->code;
    goto fail;
  }
  tf->blocks = calloc((size_t)cfg->depth, sizeof *tf->blocks);
  if (tf->blocks == NULL) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  for (int i = 0; i < cfg->depth; i++) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "blocks.%d.", i);
    st = block_load(&ld, prefix, C, cfg->num_heads, cfg->mlp_hidden, !cfg->disable_aln,
                    cfg->attn_l2_norm, &tf->blocks[i]);
    if (st != HART_OK)
      goto fail;
  }
  /* The reference loads the EMA state dict strictly: unknown keys mean another model. */
  for (size_t i = 0; i < hart_tensor_set_count(llm); i++) {
    const hart_tensor *t = hart_tensor_set_at(llm, i);
    if (!g_hash_table_contains(ld.seen, t->name) && !known_unused(t->name)) {
      st = hart_fail(err, HART_ERR_FORMAT,
                     "%s: unexpected tensor '%s' (not part of this configuration: depth %d, "
                     "disable_aln %d, attn_l2_norm %d)",
                     llm->origin ? llm->origin : "llm", t->name, cfg->depth, cfg->disable_aln,
                     cfg->attn_l2_norm);
      goto fail;
    }
  }
  g_hash_table_destroy(ld.seen);
  *out = tf;
  return HART_OK;
fail:
  g_hash_table_destroy(ld.seen);
  hart_transformer_free(tf);
  return st != HART_OK ? st : HART_ERR_INTERNAL;
}

void hart_transformer_free(hart_transformer *tf)
{
  hart_backend *be;
  hart_bw **ws[16];
  size_t n = 0;
  if (tf == NULL)
    return;
  be = tf->be;
  ws[n++] = &tf->word_w;
  ws[n++] = &tf->word_b;
  ws[n++] = &tf->ctx_w;
  ws[n++] = &tf->ctx_b;
  ws[n++] = &tf->ctx_norm;
  ws[n++] = &tf->lvl0_w;
  ws[n++] = &tf->lvl0_b;
  ws[n++] = &tf->lvl2_w;
  ws[n++] = &tf->lvl2_b;
  ws[n++] = &tf->head_ln;
  ws[n++] = &tf->head_ada_w;
  ws[n++] = &tf->head_ada_b;
  ws[n++] = &tf->head_w;
  ws[n++] = &tf->head_b;
  ws[n++] = &tf->dec_norm;
  for (size_t i = 0; i < n; i++)
    if (*ws[i])
      be->ops->weight_free(be, *ws[i]);
  if (tf->blocks)
    for (int i = 0; i < tf->cfg.depth; i++)
      hart_block_free(be, &tf->blocks[i]);
  free(tf->blocks);
  free(tf);
}

hart_status hart_transformer_cond(hart_transformer *tf, float *cond, float *norm_out,
                                  const float *ctx, int64_t G, float *scratch)
{
  hart_backend *be = tf->be;
  int64_t rows = G * tf->cfg.context_token, cd = tf->cfg.context_dim;
  float *cn = norm_out ? norm_out : scratch;
  TRY(be->ops->rmsnorm(be, cn, ctx, tf->ctx_norm, rows, cd, tf->cfg.norm_eps));
  return be->ops->linear(be, cond, cn, tf->ctx_w, tf->ctx_b, rows, tf->cfg.embed_dim, cd, 0.0f);
}

hart_status hart_transformer_lvl_table(hart_transformer *tf, float *table, float *scratch)
{
  hart_backend *be = tf->be;
  int64_t SN = tf->cfg.n_scales, F = tf->lvl_freq_dim, half = F / 2, C = tf->cfg.embed_dim;
  float *host = malloc((size_t)(SN * F) * sizeof(float));
  float *e = scratch, *h1 = scratch + SN * F;
  hart_status st;

  if (host == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory");
  /* TimestepEmbedder: freqs = exp(-ln(10000) * arange(half) / half) in fp32; [cos | sin]. */
  for (int64_t l = 0; l < SN; l++)
    for (int64_t i = 0; i < half; i++) {
      float f = expf((float)-log(10000.0) * (float)i / (float)half);
      float arg = (float)l * f;
      host[l * F + i] = cosf(arg);
      host[l * F + half + i] = sinf(arg);
    }
  st = be->ops->upload(be, e, host, (size_t)(SN * F) * sizeof(float));
  free(host);
  TRY(st);
  TRY(be->ops->linear(be, h1, e, tf->lvl0_w, tf->lvl0_b, SN, C, F, 0.0f));
  TRY(be->ops->silu(be, h1, h1, SN * C));
  return be->ops->linear(be, table, h1, tf->lvl2_w, tf->lvl2_b, SN, C, C, 0.0f);
}

hart_status hart_transformer_head_cond(hart_transformer *tf, float *ss, const float *cond,
                                       int64_t G, float *scratch)
{
  hart_backend *be = tf->be;
  int64_t C = tf->cfg.embed_dim;
  /* The head always max-pools the conditioning, mask ignored (§2.5). */
  TRY(be->ops->pool_max(be, scratch, cond, G, tf->cfg.context_token, C));
  TRY(be->ops->silu(be, scratch, scratch, G * C));
  return be->ops->linear(be, ss, scratch, tf->head_ada_w, tf->head_ada_b, G, 2 * C, C, 0.0f);
}

hart_status hart_transformer_block_cond(hart_transformer *tf, float **ada, const float *cond,
                                        const float *mask, int64_t G, float *scratch)
{
  hart_backend *be = tf->be;
  int64_t C = tf->cfg.embed_dim, ct = tf->cfg.context_token;
  if (tf->cfg.disable_aln)
    return HART_OK;
  if (tf->cfg.pool_avg)
    TRY(be->ops->pool_mean_masked(be, scratch, cond, mask, G, ct, C));
  else
    TRY(be->ops->pool_max(be, scratch, cond, G, ct, C));
  TRY(be->ops->silu(be, scratch, scratch, G * C));
  for (int i = 0; i < tf->cfg.depth; i++)
    TRY(be->ops->linear(be, ada[i], scratch, tf->blocks[i].ada_w, tf->blocks[i].ada_b, G, 6 * C, C,
                        0.0f));
  return HART_OK;
}

hart_status hart_transformer_head(hart_transformer *tf, float *logits, const float *x,
                                  const float *ss, int64_t G, int64_t n, float *scratch)
{
  hart_backend *be = tf->be;
  int64_t C = tf->cfg.embed_dim, rows = G * n;
  TRY(be->ops->rmsnorm(be, scratch, x, tf->head_ln, rows, C, tf->cfg.norm_eps));
  TRY(be->ops->modulate(be, scratch, scratch, ss, ss + C, rows, C, n, 2 * C));
  return be->ops->linear(be, logits, scratch, tf->head_w, tf->head_b, rows, tf->V, C, 0.0f);
}

/* ---------------------------------------------------------------- RoPE tables ---- */

/* 1/(10000^(i*step/hd)) in fp32, as torch computes inv_freq: base ** (arange/dim). */
static float inv_freq(int64_t i, int64_t step, int64_t hd)
{
  return 1.0f / powf(10000.0f, (float)(i * step) / (float)hd);
}

void hart_rope1d_tables(const int64_t *pos, int64_t G, int64_t n, int64_t hd, float *cos_t,
                        float *sin_t)
{
  int64_t h2 = hd / 2;
  for (int64_t r = 0; r < G * n; r++)
    for (int64_t i = 0; i < h2; i++) {
      float a = (float)pos[r] * inv_freq(i, 2, hd);
      cos_t[r * hd + i] = cos_t[r * hd + h2 + i] = cosf(a);
      sin_t[r * hd + i] = sin_t[r * hd + h2 + i] = sinf(a);
    }
}

/* One 2-D table row: first half row angles, second half column angles (§2.4). */
static void rope2d_row(float px, float py, int64_t hd, float *ct, float *st)
{
  int64_t h2 = hd / 2, h4 = hd / 4;
  for (int64_t d = 0; d < h2; d++) {
    float f = inv_freq(d % h4, 4, hd);
    float ax = px * f, ay = py * f;
    ct[d] = cosf(ax);
    st[d] = sinf(ax);
    ct[h2 + d] = cosf(ay);
    st[h2 + d] = sinf(ay);
  }
}

void hart_rope2d_tables_from_pos(const float *pos, int64_t rows, int64_t hd, float *cos_t,
                                 float *sin_t)
{
  for (int64_t r = 0; r < rows; r++)
    rope2d_row(pos[2 * r], pos[2 * r + 1], hd, cos_t + r * hd, sin_t + r * hd);
}

void hart_rope2d_tables(int64_t pn, int64_t P, const int64_t *off, int64_t G, int64_t hd,
                        float *cos_t, float *sin_t, float *pos_out)
{
  int64_t n = pn * pn;
  for (int64_t g = 0; g < G; g++)
    for (int64_t t = 0; t < n; t++) {
      int64_t r = t / pn, c = t % pn;
      /* fp32 division first, then x P, then + the row's last context position (§1.5). */
      float px = ((float)r / (float)pn) * (float)P + (float)off[g];
      float py = ((float)c / (float)pn) * (float)P + (float)off[g];
      if (pos_out) {
        pos_out[(g * n + t) * 2] = px;
        pos_out[(g * n + t) * 2 + 1] = py;
      }
      rope2d_row(px, py, hd, cos_t + (g * n + t) * hd, sin_t + (g * n + t) * hd);
    }
}

float hart_transformer_attn_scale(const hart_llm_config *cfg)
{
  return cfg->attn_l2_norm ? 1.0f : 0.25f / sqrtf((float)cfg->head_dim);
}
