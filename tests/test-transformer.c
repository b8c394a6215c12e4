/* test-transformer.c: the transformer block, attention, RoPE and KV cache against the golden
 * single-module vectors (modules.safetensors: blk.*, blk_aln.*, blk_l2.*, rope1d/2d), and the
 * sampler's top-k/top-p filter against filt.*. The golden data is fp32 PyTorch on the CPU, so
 * the CPU backend is expected to agree to float rounding: 2e-5 relative to each tensor's max. */
#include "test-util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "transformer.h"

#define TOL 2e-5

typedef struct {
  const char *casename;
  const char *prefix;    /* blk, blk_aln, blk_l2 */
  int with_ada, with_l2; /* -1: from the case config */
} blk_case;

static gint64 scalar_i64(const hart_tensor_set *set, const char *name)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);
  int64_t v = 0;
  hart_error err = { 0 };
  g_assert_nonnull(t);
  g_assert_cmpint(hart_tensor_to_i64(t, &v, &err), ==, HART_OK);
  return v;
}

static int64_t *tensor_i64(const hart_tensor_set *set, const char *name)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);
  int64_t *v;
  hart_error err = { 0 };
  g_assert_nonnull(t);
  v = g_new(int64_t, hart_tensor_numel(t));
  g_assert_cmpint(hart_tensor_to_i64(t, v, &err), ==, HART_OK);
  return v;
}

static void load_cfg(const char *casename, hart_llm_config *cfg)
{
  char *rel = g_strdup_printf("golden/%s/llm/config.json", casename);
  char *p = ht_shared_path(rel);
  hart_error err = { 0 };
  if (hart_llm_config_load(p, cfg, &err) != HART_OK)
    g_error("%s: %s", p, err.msg);
  g_free(p);
  g_free(rel);
}

static void test_block(gconstpointer data)
{
  const blk_case *bc = data;
  char *rel = g_strdup_printf("golden/%s/modules.safetensors", bc->casename);
  char *wrel = g_strdup_printf("golden/%s/llm/model.safetensors", bc->casename);
  hart_llm_config cfg;
  hart_tensor_set *mods, *wset;
  hart_backend *be = NULL;
  hart_error err = { 0 };
  hart_block blk;
  hart_block_scratch s;
  int with_ada, with_l2, is_blk = strcmp(bc->prefix, "blk") == 0;
  int64_t G, ct, C, H, hd, Lmax = 0, L0 = 0, n[3], P;
  float *cond, *mask, *x, *ada = NULL, *pool;
  hart_kv_cache *kv;
  int64_t *pos;
  char name[128], wprefix[64];

  if (!ht_require_shared(rel))
    goto out_free_names;
  load_cfg(bc->casename, &cfg);
  with_ada = bc->with_ada >= 0 ? bc->with_ada : !cfg.disable_aln;
  with_l2 = bc->with_l2 >= 0 ? bc->with_l2 : cfg.attn_l2_norm;
  mods = ht_open_st(rel);
  wset = is_blk ? ht_open_st(wrel) : mods;
  g_assert_cmpint(hart_backend_cpu_new(0, &err, &be), ==, HART_OK);
  C = cfg.embed_dim;
  H = cfg.num_heads;
  hd = C / H;
  P = cfg.patch_nums[cfg.n_scales - 1];
  snprintf(wprefix, sizeof wprefix, "%s", is_blk ? "blocks.0." : "");
  if (!is_blk)
    snprintf(wprefix, sizeof wprefix, "%s.w.", bc->prefix);
  if (hart_block_load(be, wset, wprefix, C, H, cfg.mlp_hidden, with_ada, with_l2, &blk, &err) !=
      HART_OK)
    g_error("block load: %s", err.msg);

  snprintf(name, sizeof name, "%s.cond", bc->prefix);
  cond = ht_tensor_f32(mods, name, NULL);
  G = hart_tensor_set_get(mods, name)->shape[0];
  ct = hart_tensor_set_get(mods, name)->shape[1];
  snprintf(name, sizeof name, "%s.ctx_mask", bc->prefix);
  mask = ht_tensor_f32(mods, name, NULL);
  snprintf(name, sizeof name, "%s.ctx_pos", bc->prefix);
  pos = tensor_i64(mods, name);
  for (int k = 0; k < 3; k++) {
    snprintf(name, sizeof name, "%s.call%d.x", bc->prefix, k);
    n[k] = hart_tensor_set_get(mods, name)->shape[1];
    Lmax += n[k];
  }
  kv = be->ops->kv_cache_new(be, 1, G, H, hd, Lmax);
  g_assert_nonnull(kv);
  g_assert_cmpuint(kv->elem_size, ==, sizeof(float)); /* the CPU cache is the fp32 reference */
  g_assert_cmpint(hart_block_scratch_init(be, &s, G * Lmax, C, cfg.mlp_hidden), ==, HART_OK);
  if (with_ada) {
    /* masked-mean pooling ("avg" in every case), SiLU, ada_lin: the vector of every call */
    pool = g_new(float, G *C);
    ada = g_new(float, G * 6 * C);
    g_assert_cmpint(be->ops->pool_mean_masked(be, pool, cond, mask, G, ct, C), ==, HART_OK);
    g_assert_cmpint(be->ops->silu(be, pool, pool, G * C), ==, HART_OK);
    g_assert_cmpint(be->ops->linear(be, ada, pool, blk.ada_w, blk.ada_b, G, 6 * C, C, 0.0f), ==,
                    HART_OK);
    g_free(pool);
  }

  for (int k = 0; k < 3; k++) {
    int64_t rows = G * n[k], si, L = L0 + n[k];
    float *want, *got_k = g_new(float, G *H *L *hd), *got_v = g_new(float, G *H *L *hd);
    float *cos_t = g_new(float, rows *hd), *sin_t = g_new(float, rows *hd);
    float *d_ai = g_new(float, rows *C), *d_ao = g_new(float, rows *C);
    float *d_fi = g_new(float, rows *C), *d_fo = g_new(float, rows *C);
    hart_block_call call = { 0 };

    snprintf(name, sizeof name, "%s.call%d.si", bc->prefix, k);
    si = scalar_i64(mods, name);
    snprintf(name, sizeof name, "%s.call%d.x", bc->prefix, k);
    x = ht_tensor_f32(mods, name, NULL);
    if (si == 0) {
      g_assert_cmpint(n[k], ==, ct);
      hart_rope1d_tables(pos, G, ct, hd, cos_t, sin_t);
    } else {
      int64_t pn = (int64_t)llround(sqrt((double)n[k]));
      int64_t *off = g_new(int64_t, G);
      float *img_pos = g_new(float, rows * 2), *want_pos;
      g_assert_cmpint(pn * pn, ==, n[k]);
      for (int64_t g = 0; g < G; g++)
        off[g] = pos[g * ct + ct - 1];
      hart_rope2d_tables(pn, P, off, G, hd, cos_t, sin_t, img_pos);
      snprintf(name, sizeof name, "%s.call%d.img_pos", bc->prefix, k);
      want_pos = ht_tensor_f32(mods, name, NULL);
      ht_assert_close(name, img_pos, want_pos, rows * 2, 0.0);
      g_free(want_pos);
      g_free(img_pos);
      g_free(off);
    }
    call.G = G;
    call.n = n[k];
    call.kv = kv;
    call.layer = 0;
    call.L0 = L0;
    call.cos = cos_t;
    call.sin = sin_t;
    call.ada = ada;
    call.attn_scale = with_l2 ? 1.0f : 0.25f / sqrtf((float)hd);
    call.dump_attn_in = d_ai;
    call.dump_attn_out = d_ao;
    call.dump_ffn_in = d_fi;
    call.dump_ffn_out = d_fo;
    if (hart_block_forward(be, &blk, x, &call, &s) != HART_OK)
      g_error("block forward: %s", err.msg);
    {
      const char *what[] = { "attn_in", "attn_out", "ffn_in", "ffn_out", "y" };
      float *got[] = { d_ai, d_ao, d_fi, d_fo, x };
      for (int w = 0; w < 5; w++) {
        snprintf(name, sizeof name, "%s.call%d.%s", bc->prefix, k, what[w]);
        want = ht_tensor_f32(mods, name, NULL);
        ht_assert_close(name, got[w], want, rows * C, TOL);
        g_free(want);
      }
    }
    g_assert_cmpint(be->ops->kv_cache_read(be, kv, 0, L, got_k, got_v), ==, HART_OK);
    snprintf(name, sizeof name, "%s.call%d.cache_k", bc->prefix, k);
    want = ht_tensor_f32(mods, name, NULL);
    ht_assert_close(name, got_k, want, G * H * L * hd, TOL);
    g_free(want);
    snprintf(name, sizeof name, "%s.call%d.cache_v", bc->prefix, k);
    want = ht_tensor_f32(mods, name, NULL);
    ht_assert_close(name, got_v, want, G * H * L * hd, TOL);
    g_free(want);
    L0 = L;
    g_free(x);
    g_free(got_k);
    g_free(got_v);
    g_free(cos_t);
    g_free(sin_t);
    g_free(d_ai);
    g_free(d_ao);
    g_free(d_fi);
    g_free(d_fo);
  }
  hart_block_scratch_free(be, &s);
  hart_block_free(be, &blk);
  be->ops->kv_cache_free(be, kv);
  be->ops->destroy(be);
  g_free(cond);
  g_free(mask);
  g_free(pos);
  g_free(ada);
  if (wset != mods)
    hart_tensor_set_free(wset);
  hart_tensor_set_free(mods);
out_free_names:
  g_free(rel);
  g_free(wrel);
}

static void test_rope_tables(gconstpointer data)
{
  const char *casename = data;
  char *rel = g_strdup_printf("golden/%s/modules.safetensors", casename);
  hart_tensor_set *mods;
  const hart_tensor *t;
  int64_t *pos, rows, hd;
  float *cos_t, *sin_t, *want;

  if (!ht_require_shared(rel)) {
    g_free(rel);
    return;
  }
  mods = ht_open_st(rel);
  t = hart_tensor_set_get(mods, "rope1d.cos");
  rows = t->shape[0] * t->shape[1];
  hd = t->shape[2];
  pos = tensor_i64(mods, "rope1d.pos");
  cos_t = g_new(float, rows *hd);
  sin_t = g_new(float, rows *hd);
  hart_rope1d_tables(pos, 1, rows, hd, cos_t, sin_t);
  want = ht_tensor_f32(mods, "rope1d.cos", NULL);
  ht_assert_close("rope1d.cos", cos_t, want, rows * hd, 1e-6);
  g_free(want);
  want = ht_tensor_f32(mods, "rope1d.sin", NULL);
  ht_assert_close("rope1d.sin", sin_t, want, rows * hd, 1e-6);
  g_free(want);
  g_free(pos);
  g_free(cos_t);
  g_free(sin_t);
  t = hart_tensor_set_get(mods, "rope2d.cos");
  if (t != NULL) {
    float *p2 = ht_tensor_f32(mods, "rope2d.pos", NULL);
    rows = t->shape[0] * t->shape[1];
    hd = t->shape[2];
    cos_t = g_new(float, rows *hd);
    sin_t = g_new(float, rows *hd);
    hart_rope2d_tables_from_pos(p2, rows, hd, cos_t, sin_t);
    /* angles reach ~80 rad here: 1e-5 absolute is a few ulp of the angle */
    want = ht_tensor_f32(mods, "rope2d.cos", NULL);
    ht_assert_close("rope2d.cos", cos_t, want, rows * hd, 1e-5);
    g_free(want);
    want = ht_tensor_f32(mods, "rope2d.sin", NULL);
    ht_assert_close("rope2d.sin", sin_t, want, rows * hd, 1e-5);
    g_free(want);
    g_free(p2);
    g_free(cos_t);
    g_free(sin_t);
  }
  hart_tensor_set_free(mods);
  g_free(rel);
}

/* The official top-k 600 + top-p 0.8 filter (filt.*) through the sampler's kept-set output. */
static void test_filter(gconstpointer data)
{
  const char *casename = data;
  char *rel = g_strdup_printf("golden/%s/modules.safetensors", casename);
  hart_tensor_set *mods;
  const hart_tensor *t, *km;
  hart_backend *be = NULL;
  hart_error err = { 0 };
  hart_sample_args a;
  int64_t rows, V, shape[2];
  float *logits, *logits2, *zeros, *h;
  const uint8_t *mask;
  int32_t *keep, *idx;
  hart_bw *cb;

  if (!ht_require_shared(rel)) {
    g_free(rel);
    return;
  }
  mods = ht_open_st(rel);
  t = hart_tensor_set_get(mods, "filt.logits");
  km = hart_tensor_set_get(mods, "filt.keep_k600_p0.8");
  g_assert_nonnull(t);
  g_assert_nonnull(km);
  V = t->shape[t->ndim - 1];
  rows = hart_tensor_numel(t) / V;
  logits = ht_tensor_f32(mods, "filt.logits", NULL);
  logits2 = g_new0(float, 2 * rows * V); /* CFG halves: t = 0 leaves the conditional rows */
  memcpy(logits2, logits, (size_t)(rows * V) * sizeof(float));
  g_assert_cmpint(hart_backend_cpu_new(0, &err, &be), ==, HART_OK);
  zeros = g_new0(float, V * 32);
  shape[0] = V;
  shape[1] = 32;
  cb = be->ops->weight_new(be, zeros, 2, shape, HART_WUSE_TABLE);
  keep = g_new(int32_t, rows * 600);
  idx = g_new(int32_t, rows);
  h = g_new(float, rows * 32);
  memset(&a, 0, sizeof a);
  a.logits = logits2;
  a.B = rows;
  a.n = 1;
  a.V = V;
  a.Cv = 32;
  a.top_k = 600;
  a.top_p = 0.8f;
  a.codebook = cb;
  a.seed = 1;
  a.idx_out = idx;
  a.h_out = h;
  a.keep_idx_host = keep;
  g_assert_cmpint(be->ops->sample(be, &a), ==, HART_OK);
  mask = km->data;
  for (int64_t r = 0; r < rows; r++) {
    int64_t nk = 0;
    for (int64_t v = 0; v < V; v++)
      nk += mask[r * V + v];
    for (int64_t j = 0; j < 600; j++) {
      if (j < nk)
        g_assert_cmpint(mask[r * V + keep[r * 600 + j]], ==, 1);
      else
        g_assert_cmpint(keep[r * 600 + j], ==, -1);
    }
    g_assert_cmpint(mask[r * V + idx[r]], ==, 1); /* the sample comes from the kept set */
  }
  be->ops->weight_free(be, cb);
  be->ops->destroy(be);
  g_free(zeros);
  g_free(keep);
  g_free(idx);
  g_free(h);
  g_free(logits);
  g_free(logits2);
  hart_tensor_set_free(mods);
  g_free(rel);
}

int main(int argc, char **argv)
{
  static const blk_case cases[] = {
    { "tiny", "blk", -1, -1 },       { "small", "blk", -1, -1 },     { "tiny-aln", "blk", -1, -1 },
    { "tiny-aln", "blk_aln", 1, 0 }, { "tiny-aln", "blk_l2", 0, 1 },
  };
  static const char *names[] = { "tiny", "small", "tiny-aln" };
  g_test_init(&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *path = g_strdup_printf("/transformer/block/%s/%s", cases[i].casename, cases[i].prefix);
    g_test_add_data_func(path, &cases[i], test_block);
    g_free(path);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    char *path = g_strdup_printf("/transformer/rope/%s", names[i]);
    g_test_add_data_func(path, names[i], test_rope_tables);
    g_free(path);
    path = g_strdup_printf("/sample/filter/%s", names[i]);
    g_test_add_data_func(path, names[i], test_filter);
    g_free(path);
  }
  return g_test_run();
}
