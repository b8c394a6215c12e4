/* bench_model.c: see bench_model.h. Values are seeded uniform noise scaled like the golden
 * models (N(0, 1/fan_in)-sized weights, unit norm weights, small biases): only the timing
 * matters, but activations must stay finite. */
#include "bench_model.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_set.h"
#include "vae.h"

/* Tensor names are short; the 256-byte buffers cannot truncate them. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

typedef struct {
  hart_tensor_set *set;
  uint32_t counter;
  int ok;
} builder;

/* A cheap hash of the element index to a uniform in [-1, 1) (splitmix64): the bench model has
 * ~150 M values, too many for Philox at load time. */
static float uniform_pm1(uint64_t x)
{
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return (float)(x >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

/* kind: 0 weight (fan_in = last dims), 1 norm weight (ones), 2 bias (small) */
static void add(builder *b, const char *name, int ndim, const int64_t *shape, int kind)
{
  hart_tensor *t;
  int64_t n = 1, fan_in = 1;
  float *data, a;
  if (!b->ok)
    return;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  for (int i = 1; i < ndim; i++)
    fan_in *= shape[i];
  data = malloc((size_t)n * sizeof(float));
  t = data ? hart_tensor_set_add(b->set, name) : NULL;
  if (t == NULL || hart_tensor_set_keep_buffer(b->set, data) != 0) {
    free(data);
    b->ok = 0;
    return;
  }
  a = kind == 0 ? sqrtf(3.0f / (float)fan_in) : 0.05f;
  b->counter++;
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) {
    float u = uniform_pm1(((uint64_t)b->counter << 40) ^ (uint64_t)i);
    data[i] = kind == 1 ? 1.0f + 0.01f * u : a * u;
  }
  t->dtype = HART_DT_F32;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t->shape[i] = shape[i];
  t->data = data;
  t->nbytes = (size_t)n * sizeof(float);
}

static void add2(builder *b, const char *name, int64_t d0, int64_t d1, int kind)
{
  int64_t s[2] = { d0, d1 };
  add(b, name, d1 ? 2 : 1, s, kind);
}

static void linear(builder *b, const char *prefix, int64_t out, int64_t in, int bias)
{
  char n[256];
  snprintf(n, sizeof n, "%s.weight", prefix);
  add2(b, n, out, in, 0);
  if (bias) {
    snprintf(n, sizeof n, "%s.bias", prefix);
    add2(b, n, out, 0, 2);
  }
}

static void build_llm(builder *b, const hart_llm_config *c, int64_t V, int64_t Cv)
{
  int64_t C = c->embed_dim, W = c->diff_width;
  char n[256];
  linear(b, "word_embed", C, Cv, 1);
  linear(b, "context_embed", C, c->context_dim, 1);
  add2(b, "context_norm.weight", c->context_dim, 0, 1);
  linear(b, "lvl_embed.mlp.0", C, 256, 1);
  linear(b, "lvl_embed.mlp.2", C, C, 1);
  for (int i = 0; i < c->depth; i++) {
    const char *vec[] = { "attn.q_bias", "attn.v_bias", "attn.zero_k_bias" };
    snprintf(n, sizeof n, "blocks.%d.attn.qkv_proj", i);
    linear(b, n, 3 * C, C, 0);
    for (int k = 0; k < 3; k++) {
      snprintf(n, sizeof n, "blocks.%d.%s", i, vec[k]);
      add2(b, n, C, 0, 2);
    }
    snprintf(n, sizeof n, "blocks.%d.attn.proj", i);
    linear(b, n, C, C, 1);
    snprintf(n, sizeof n, "blocks.%d.ffn.gate_proj", i);
    linear(b, n, c->mlp_hidden, C, 0);
    snprintf(n, sizeof n, "blocks.%d.ffn.up_proj", i);
    linear(b, n, c->mlp_hidden, C, 0);
    snprintf(n, sizeof n, "blocks.%d.ffn.down_proj", i);
    linear(b, n, C, c->mlp_hidden, 0);
    snprintf(n, sizeof n, "blocks.%d.ln_wo_grad.weight", i);
    add2(b, n, C, 0, 1);
  }
  add2(b, "head_nm.ln_wo_grad.weight", C, 0, 1);
  linear(b, "head_nm.ada_lin.1", 2 * C, C, 1);
  linear(b, "head", V, C, 1);
  add2(b, "decoder_norm.weight", C, 0, 1);
  linear(b, "diffloss.net.time_embed.mlp.0", W, 256, 1);
  linear(b, "diffloss.net.time_embed.mlp.2", W, W, 1);
  linear(b, "diffloss.net.cond_embed", W, C, 1);
  linear(b, "diffloss.net.input_proj", W, Cv, 1);
  for (int j = 0; j < c->diff_depth; j++) {
    snprintf(n, sizeof n, "diffloss.net.res_blocks.%d.in_ln.weight", j);
    add2(b, n, W, 0, 1);
    snprintf(n, sizeof n, "diffloss.net.res_blocks.%d.in_ln.bias", j);
    add2(b, n, W, 0, 2);
    snprintf(n, sizeof n, "diffloss.net.res_blocks.%d.mlp.0", j);
    linear(b, n, W, W, 1);
    snprintf(n, sizeof n, "diffloss.net.res_blocks.%d.mlp.2", j);
    linear(b, n, W, W, 1);
    snprintf(n, sizeof n, "diffloss.net.res_blocks.%d.adaLN_modulation.1", j);
    linear(b, n, 3 * W, W, 1);
  }
  linear(b, "diffloss.net.final_layer.linear", 2 * Cv, W, 1);
  linear(b, "diffloss.net.final_layer.adaLN_modulation.1", 2 * W, W, 1);
}

hart_status bench_model_new(hart_backend *be, int depth, hart_model **out, hart_error *err)
{
  static const int pns[] = { 1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64 };
  hart_llm_config c;
  hart_vae_config v;
  builder bl = { hart_tensor_set_new("release-shapes llm"), 0, 1 };
  hart_tensor_set *tok = NULL;
  hart_status st;

  memset(&c, 0, sizeof c);
  c.context_token = 300;
  c.context_dim = 1536;
  c.embed_dim = 1536;
  c.depth = depth;
  c.num_heads = 24;
  c.head_dim = 64;
  c.mlp_ratio = 4.0;
  c.mlp_hidden = 4096;
  c.n_scales = 14;
  memcpy(c.patch_nums, pns, sizeof pns);
  c.norm_eps = 1e-6f;
  c.diff_width = 1024;
  c.diff_depth = 6;
  c.num_sampling_steps = 8;
  c.disable_aln = 1;
  memset(&v, 0, sizeof v);
  v.vocab_size = 4096;
  v.z_channels = 32;
  v.ch = 160;
  v.n_ch_mult = 5;
  v.ch_mult[0] = 1;
  v.ch_mult[1] = 1;
  v.ch_mult[2] = 2;
  v.ch_mult[3] = 2;
  v.ch_mult[4] = 4;
  v.num_res_blocks = 2;
  v.quant_resi = 0.5f;
  v.share_quant_resi = 4;
  if (bl.set == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  /* The tokenizer side comes from the VAE's own random-weight builder (same names and shapes
   * as the released folder). */
  st = hart_vae_random_weights(&v, 1000, &tok, err);
  if (st != HART_OK) {
    hart_tensor_set_free(bl.set);
    return st;
  }
  build_llm(&bl, &c, v.vocab_size, v.z_channels);
  if (!bl.ok)
    st = hart_fail(err, HART_ERR_NO_MEMORY, "out of memory building the bench model");
  else
    st = hart_model_load_sets(be, &c, &v, bl.set, tok, out, err);
  hart_tensor_set_free(bl.set);
  hart_tensor_set_free(tok);
  return st;
}
