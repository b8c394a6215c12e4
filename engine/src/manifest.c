/* manifest.c: expected tensor names and shapes per model part, and the check of a set against
 * them. */
#include "manifest.h"

#include "tensor_set.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  char *name;
  int ndim;
  int64_t shape[4];
  gboolean buffer; /* a persistent buffer, not a parameter */
  gboolean seen;
} mf_entry;

typedef struct {
  GArray *entries;   /* mf_entry */
  GHashTable *index; /* name -> entry index + 1 */
} manifest;

/* Decides whether a tensor outside the manifest is a known unused one; may fail on a known one
 * with a wrong shape. */
typedef hart_status (*ignore_fn)(const hart_tensor_set *set, const hart_tensor *t, const void *cfg,
                                 gboolean *ignored, hart_error *err);
/* Explains why an unexpected tensor is unexpected (config switch), or returns NULL. */
typedef const char *(*hint_fn)(const char *name, const void *cfg);

static void mf_init(manifest *m)
{
  m->entries = g_array_new(FALSE, TRUE, sizeof(mf_entry));
  m->index = g_hash_table_new(g_str_hash, g_str_equal);
}

static void mf_clear(manifest *m)
{
  for (guint i = 0; i < m->entries->len; i++)
    g_free(g_array_index(m->entries, mf_entry, i).name);
  g_array_unref(m->entries);
  g_hash_table_unref(m->index);
}

static void mf_addv(manifest *m, gboolean buffer, int ndim, const int64_t *shape, const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));

static void mf_addv(manifest *m, gboolean buffer, int ndim, const int64_t *shape, const char *fmt,
                    va_list ap)
{
  mf_entry e = { NULL, ndim, { 0 }, buffer, FALSE };

  e.name = g_strdup_vprintf(fmt, ap);
  memcpy(e.shape, shape, (size_t)ndim * sizeof *shape);
  g_array_append_val(m->entries, e);
}

/* A parameter of 1 to 4 dims; unused trailing dims are 0 and ndim says how many count. */
static void mf_param(manifest *m, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void mf_param(manifest *m, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const char *fmt, ...)
{
  int64_t shape[4] = { d0, d1, d2, d3 };
  va_list ap;
  va_start(ap, fmt);
  mf_addv(m, FALSE, ndim, shape, fmt, ap);
  va_end(ap);
}

static void mf_buffer1(manifest *m, int64_t d0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mf_buffer1(manifest *m, int64_t d0, const char *fmt, ...)
{
  int64_t shape[4] = { d0, 0, 0, 0 };
  va_list ap;
  va_start(ap, fmt);
  mf_addv(m, TRUE, 1, shape, fmt, ap);
  va_end(ap);
}

/* prefix.weight [out, in] and, if bias, prefix.bias [out]. */
static void mf_linear(manifest *m, const char *prefix, int64_t out, int64_t in, gboolean bias)
{
  mf_param(m, 2, out, in, 0, 0, "%s.weight", prefix);
  if (bias)
    mf_param(m, 1, out, 0, 0, 0, "%s.bias", prefix);
}

static void mf_conv(manifest *m, const char *prefix, int64_t out, int64_t in, int64_t k)
{
  mf_param(m, 4, out, in, k, k, "%s.weight", prefix);
  mf_param(m, 1, out, 0, 0, 0, "%s.bias", prefix);
}

static void mf_norm(manifest *m, const char *prefix, int64_t c, gboolean bias)
{
  mf_param(m, 1, c, 0, 0, 0, "%s.weight", prefix);
  if (bias)
    mf_param(m, 1, c, 0, 0, 0, "%s.bias", prefix);
}

static void mf_index(manifest *m)
{
  for (guint i = 0; i < m->entries->len; i++)
    g_hash_table_insert(m->index, g_array_index(m->entries, mf_entry, i).name,
                        GUINT_TO_POINTER(i + 1));
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
  size_t l = 0;
  buf[0] = '\0';
  l += (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && l < n; i++)
    l += (size_t)snprintf(buf + l, n - l, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (l < n)
    snprintf(buf + l, n - l, "]");
}

static gboolean is_float(hart_dtype dt)
{
  return dt == HART_DT_F32 || dt == HART_DT_F16 || dt == HART_DT_BF16;
}

void hart_tensor_set_stats(const hart_tensor_set *set, hart_manifest_stats *stats)
{
  memset(stats, 0, sizeof *stats);
  stats->n_tensors = set->n;
  for (size_t i = 0; i < set->n; i++) {
    const hart_tensor *t = &set->tensors[i];
    int64_t n = hart_tensor_numel(t);
    stats->n_elements += n;
    stats->n_bytes += t->nbytes;
    stats->elements_by_dtype[t->dtype] += n;
    stats->bytes_by_dtype[t->dtype] += t->nbytes;
  }
}

static hart_status mf_check(const manifest *m, const hart_tensor_set *set, const void *cfg,
                            ignore_fn ignore, hint_fn hint, hart_manifest_stats *stats,
                            hart_error *err)
{
  hart_manifest_stats local = { 0 };
  hart_manifest_stats *s = stats ? stats : &local;
  int64_t vocab = s->vocab_size, vch = s->vae_channels;

  hart_tensor_set_stats(set, s);
  s->vocab_size = vocab;
  s->vae_channels = vch;
  for (size_t i = 0; i < set->n; i++) {
    const hart_tensor *t = &set->tensors[i];
    guint k = GPOINTER_TO_UINT(g_hash_table_lookup(m->index, t->name));
    mf_entry *e;
    gboolean ok;
    if (k == 0) {
      gboolean ignored = FALSE;
      hart_status st = ignore(set, t, cfg, &ignored, err);
      const char *why;
      if (st != HART_OK)
        return st;
      if (ignored) {
        s->n_ignored++;
        continue;
      }
      why = hint ? hint(t->name, cfg) : NULL;
      return hart_fail(err, HART_ERR_FORMAT, "%s: unexpected tensor %s%s%s", set->origin, t->name,
                       why ? ": " : " (not part of the model for this configuration)",
                       why ? why : "");
    }
    e = &g_array_index(m->entries, mf_entry, k - 1);
    ok = t->ndim == e->ndim;
    for (int d = 0; ok && d < e->ndim; d++)
      ok = t->shape[d] == e->shape[d];
    if (!ok) {
      char got[96], want[96];
      shape_str(got, sizeof got, t->ndim, t->shape);
      shape_str(want, sizeof want, e->ndim, e->shape);
      return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s has shape %s, expected %s", set->origin,
                       t->name, got, want);
    }
    if (!is_float(t->dtype))
      return hart_fail(err, HART_ERR_FORMAT,
                       "%s: tensor %s has dtype %s, expected a floating type (F32, F16, BF16)",
                       set->origin, t->name, hart_dtype_name(t->dtype));
    e->seen = TRUE;
    s->n_expected++;
    if (!e->buffer)
      s->n_params += hart_tensor_numel(t);
  }
  for (guint i = 0; i < m->entries->len; i++) {
    const mf_entry *e = &g_array_index(m->entries, mf_entry, i);
    if (!e->seen) {
      char want[96];
      shape_str(want, sizeof want, e->ndim, e->shape);
      return hart_fail(err, HART_ERR_FORMAT, "%s: missing tensor %s %s", set->origin, e->name,
                       want);
    }
  }
  return HART_OK;
}

/* ---- transformer ---- */

static int64_t llm_seq_len(const hart_llm_config *c)
{
  int64_t L = c->context_token;
  for (int k = 1; k < c->n_scales; k++)
    L += (int64_t)c->patch_nums[k] * c->patch_nums[k];
  return L;
}

static hart_status llm_ignore(const hart_tensor_set *set, const hart_tensor *t, const void *cfg,
                              gboolean *ignored, hart_error *err)
{
  const hart_llm_config *c = cfg;

  *ignored = FALSE;
  if (strcmp(t->name, "attn_bias_for_masking") == 0) {
    *ignored = TRUE; /* the 380 MB training mask */
  } else if (strcmp(t->name, "lvl_1L") == 0) {
    int64_t L = llm_seq_len(c);
    if (t->ndim != 2 || t->shape[0] != 1 || t->shape[1] != L || t->dtype != HART_DT_I64)
      return hart_fail(err, HART_ERR_FORMAT,
                       "%s: tensor lvl_1L must be I64 [1, %lld] (context_token + patch tokens)",
                       set->origin, (long long)L);
    *ignored = TRUE;
  }
  return HART_OK;
}

static const char *llm_hint(const char *name, const void *cfg)
{
  const hart_llm_config *c = cfg;
  if (strstr(name, ".ada_lin.") != NULL && g_str_has_prefix(name, "blocks.") && c->disable_aln)
    return "per-block adaLN weights, but config disable_aln = true";
  if (strstr(name, "scale_mul_1H11") != NULL && !c->attn_l2_norm)
    return "attention l2-norm scale, but config attn_l2_norm = false";
  if (strstr(name, "scale_shift_table") != NULL)
    return "shared adaLN table (shared_aln), which the engine does not support";
  if (strstr(name, "cross_attn") != NULL)
    return "cross-attention weights (use_cross_attn), which the engine does not support";
  return NULL;
}

static void llm_manifest(manifest *m, const hart_llm_config *c, int64_t V, int64_t Cv)
{
  int64_t C = c->embed_dim, Hm = c->mlp_hidden, W = c->diff_width;
  char p[96];

  mf_linear(m, "word_embed", C, Cv, TRUE);
  mf_linear(m, "context_embed", C, c->context_dim, TRUE);
  mf_norm(m, "context_norm", c->context_dim, FALSE);
  mf_linear(m, "lvl_embed.mlp.0", C, 256, TRUE);
  mf_linear(m, "lvl_embed.mlp.2", C, C, TRUE);
  for (int i = 0; i < c->depth; i++) {
    snprintf(p, sizeof p, "blocks.%d.attn.qkv_proj", i);
    mf_linear(m, p, 3 * C, C, FALSE);
    mf_param(m, 1, C, 0, 0, 0, "blocks.%d.attn.q_bias", i);
    mf_param(m, 1, C, 0, 0, 0, "blocks.%d.attn.v_bias", i);
    mf_buffer1(m, C, "blocks.%d.attn.zero_k_bias", i);
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i);
    mf_linear(m, p, C, C, TRUE);
    snprintf(p, sizeof p, "blocks.%d.ffn.gate_proj", i);
    mf_linear(m, p, Hm, C, FALSE);
    snprintf(p, sizeof p, "blocks.%d.ffn.up_proj", i);
    mf_linear(m, p, Hm, C, FALSE);
    snprintf(p, sizeof p, "blocks.%d.ffn.down_proj", i);
    mf_linear(m, p, C, Hm, FALSE);
    snprintf(p, sizeof p, "blocks.%d.ln_wo_grad", i);
    mf_norm(m, p, C, FALSE);
    if (!c->disable_aln) {
      snprintf(p, sizeof p, "blocks.%d.ada_lin.1", i);
      mf_linear(m, p, 6 * C, C, TRUE);
    }
    if (c->attn_l2_norm)
      mf_param(m, 4, 1, c->num_heads, 1, 1, "blocks.%d.attn.scale_mul_1H11", i);
  }
  mf_norm(m, "head_nm.ln_wo_grad", C, FALSE);
  mf_linear(m, "head_nm.ada_lin.1", 2 * C, C, TRUE);
  mf_linear(m, "head", V, C, TRUE);
  mf_norm(m, "decoder_norm", C, FALSE);
  /* The diffusion MLP (SimpleMLPAdaLN), §2.6. */
  mf_linear(m, "diffloss.net.input_proj", W, Cv, TRUE);
  mf_linear(m, "diffloss.net.time_embed.mlp.0", W, 256, TRUE);
  mf_linear(m, "diffloss.net.time_embed.mlp.2", W, W, TRUE);
  mf_linear(m, "diffloss.net.cond_embed", W, C, TRUE);
  for (int j = 0; j < c->diff_depth; j++) {
    snprintf(p, sizeof p, "diffloss.net.res_blocks.%d.in_ln", j);
    mf_norm(m, p, W, TRUE);
    snprintf(p, sizeof p, "diffloss.net.res_blocks.%d.mlp.0", j);
    mf_linear(m, p, W, W, TRUE);
    snprintf(p, sizeof p, "diffloss.net.res_blocks.%d.mlp.2", j);
    mf_linear(m, p, W, W, TRUE);
    snprintf(p, sizeof p, "diffloss.net.res_blocks.%d.adaLN_modulation.1", j);
    mf_linear(m, p, 3 * W, W, TRUE);
  }
  mf_linear(m, "diffloss.net.final_layer.linear", 2 * Cv, W, TRUE);
  mf_linear(m, "diffloss.net.final_layer.adaLN_modulation.1", 2 * W, W, TRUE);
  mf_index(m);
}

hart_status hart_manifest_check_llm_stats(const hart_tensor_set *set, const hart_llm_config *cfg,
                                          hart_manifest_stats *stats, hart_error *err)
{
  hart_manifest_stats local = { 0 };
  hart_manifest_stats *s = stats ? stats : &local;
  /* V and Cv are not in llm/config.json (they belong to the tokenizer): read them from the
   * tensors that define them; every other tensor must then agree. */
  const hart_tensor *head = hart_tensor_set_get(set, "head.weight");
  const hart_tensor *we = hart_tensor_set_get(set, "word_embed.weight");
  manifest m;
  hart_status st;

  if (head == NULL || we == NULL)
    return hart_fail(err, HART_ERR_FORMAT, "%s: missing tensor %s", set->origin,
                     head == NULL ? "head.weight" : "word_embed.weight");
  if (head->ndim != 2 || we->ndim != 2 || head->shape[0] < 1 || we->shape[1] < 1)
    return hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s is not a 2-D matrix", set->origin,
                     head->ndim != 2 || head->shape[0] < 1 ? "head.weight" : "word_embed.weight");
  memset(s, 0, sizeof *s);
  s->vocab_size = head->shape[0];
  s->vae_channels = we->shape[1];
  mf_init(&m);
  llm_manifest(&m, cfg, s->vocab_size, s->vae_channels);
  st = mf_check(&m, set, cfg, llm_ignore, llm_hint, s, err);
  mf_clear(&m);
  return st;
}

hart_status hart_manifest_check_llm(const hart_tensor_set *set, const hart_llm_config *cfg,
                                    hart_error *err)
{
  return hart_manifest_check_llm_stats(set, cfg, NULL, err);
}

hart_status hart_manifest_check_llm_vae(const hart_tensor_set *llm, const hart_vae_config *vae,
                                        hart_error *err)
{
  const hart_tensor *head = hart_tensor_set_get(llm, "head.weight");
  const hart_tensor *we = hart_tensor_set_get(llm, "word_embed.weight");

  if (head == NULL || we == NULL || head->ndim != 2 || we->ndim != 2)
    return hart_fail(err, HART_ERR_FORMAT, "%s: head.weight or word_embed.weight is missing",
                     llm->origin);
  if (head->shape[0] != vae->vocab_size)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: head.weight has %lld rows but the tokenizer's vocab_size is %d",
                     llm->origin, (long long)head->shape[0], vae->vocab_size);
  if (we->shape[1] != vae->z_channels)
    return hart_fail(err, HART_ERR_FORMAT,
                     "%s: word_embed.weight has %lld columns but the tokenizer's z_channels is %d",
                     llm->origin, (long long)we->shape[1], vae->z_channels);
  return HART_OK;
}

/* ---- tokenizer (VAE) ---- */

static hart_status vae_ignore(const hart_tensor_set *set, const hart_tensor *t, const void *cfg,
                              gboolean *ignored, hart_error *err)
{
  *ignored = g_str_has_prefix(t->name, "disc.") || g_str_has_prefix(t->name, "vae.encoder.") ||
             g_str_has_prefix(t->name, "vae.quant_conv.") ||
             strcmp(t->name, "vae.quantize.ema_vocab_hit_SV") == 0;
  return HART_OK;
}

static void vae_resblock(manifest *m, const char *p, int64_t cin, int64_t cout)
{
  char q[128];
  snprintf(q, sizeof q, "%s.norm1", p);
  mf_norm(m, q, cin, TRUE);
  snprintf(q, sizeof q, "%s.conv1", p);
  mf_conv(m, q, cout, cin, 3);
  snprintf(q, sizeof q, "%s.norm2", p);
  mf_norm(m, q, cout, TRUE);
  snprintf(q, sizeof q, "%s.conv2", p);
  mf_conv(m, q, cout, cout, 3);
  if (cin != cout) {
    snprintf(q, sizeof q, "%s.nin_shortcut", p);
    mf_conv(m, q, cout, cin, 1);
  }
}

static void vae_attnblock(manifest *m, const char *p, int64_t c)
{
  char q[128];
  snprintf(q, sizeof q, "%s.norm", p);
  mf_norm(m, q, c, TRUE);
  snprintf(q, sizeof q, "%s.qkv", p);
  mf_conv(m, q, 3 * c, c, 1);
  snprintf(q, sizeof q, "%s.proj_out", p);
  mf_conv(m, q, c, c, 1);
}

/* The VAR/taming decoder (§2.9): attention at the lowest resolution (the last level) and in
 * the middle; num_res_blocks + 1 resblocks per level; upsampling on every level but 0. */
static void vae_manifest(manifest *m, const hart_vae_config *c)
{
  int n = c->n_ch_mult;
  int64_t Cv = c->z_channels, cin = (int64_t)c->ch * c->ch_mult[n - 1];
  char p[96];

  mf_param(m, 2, c->vocab_size, Cv, 0, 0, "vae.quantize.embedding.weight");
  for (int k = 0; k < c->share_quant_resi; k++) {
    snprintf(p, sizeof p, "vae.quantize.quant_resi.qresi_ls.%d", k);
    mf_conv(m, p, Cv, Cv, 3);
  }
  mf_conv(m, "vae.post_quant_conv", Cv, Cv, 3);
  mf_conv(m, "vae.decoder.conv_in", cin, Cv, 3);
  vae_resblock(m, "vae.decoder.mid.block_1", cin, cin);
  vae_attnblock(m, "vae.decoder.mid.attn_1", cin);
  vae_resblock(m, "vae.decoder.mid.block_2", cin, cin);
  for (int lvl = n - 1; lvl >= 0; lvl--) {
    int64_t cout = (int64_t)c->ch * c->ch_mult[lvl];
    for (int b = 0; b <= c->num_res_blocks; b++) {
      snprintf(p, sizeof p, "vae.decoder.up.%d.block.%d", lvl, b);
      vae_resblock(m, p, cin, cout);
      cin = cout;
      if (lvl == n - 1) {
        snprintf(p, sizeof p, "vae.decoder.up.%d.attn.%d", lvl, b);
        vae_attnblock(m, p, cin);
      }
    }
    if (lvl != 0) {
      snprintf(p, sizeof p, "vae.decoder.up.%d.upsample.conv", lvl);
      mf_conv(m, p, cin, cin, 3);
    }
  }
  mf_norm(m, "vae.decoder.norm_out", cin, TRUE);
  mf_conv(m, "vae.decoder.conv_out", 3, cin, 3);
  mf_index(m);
}

hart_status hart_manifest_check_vae_stats(const hart_tensor_set *set, const hart_vae_config *cfg,
                                          hart_manifest_stats *stats, hart_error *err)
{
  manifest m;
  hart_status st;

  if (stats != NULL)
    memset(stats, 0, sizeof *stats);
  mf_init(&m);
  vae_manifest(&m, cfg);
  st = mf_check(&m, set, cfg, vae_ignore, NULL, stats, err);
  mf_clear(&m);
  return st;
}

hart_status hart_manifest_check_vae(const hart_tensor_set *set, const hart_vae_config *cfg,
                                    hart_error *err)
{
  return hart_manifest_check_vae_stats(set, cfg, NULL, err);
}

/* ---- Qwen2 ---- */

static hart_status qwen_ignore(const hart_tensor_set *set, const hart_tensor *t, const void *cfg,
                               gboolean *ignored, hart_error *err)
{
  *ignored = g_str_has_prefix(t->name, "visual.") || g_str_has_prefix(t->name, "lm_head.");
  return HART_OK;
}

static void qwen_manifest(manifest *m, const hart_qwen2_config *c, const char *pre)
{
  int64_t Hd = c->hidden_size, q = (int64_t)c->num_heads * c->head_dim,
          kv = (int64_t)c->num_kv_heads * c->head_dim, I = c->intermediate_size;
  char p[128];

  mf_param(m, 2, c->vocab_size, Hd, 0, 0, "%sembed_tokens.weight", pre);
  for (int l = 0; l < c->num_layers; l++) {
    snprintf(p, sizeof p, "%slayers.%d.input_layernorm", pre, l);
    mf_norm(m, p, Hd, FALSE);
    snprintf(p, sizeof p, "%slayers.%d.post_attention_layernorm", pre, l);
    mf_norm(m, p, Hd, FALSE);
    snprintf(p, sizeof p, "%slayers.%d.self_attn.q_proj", pre, l);
    mf_linear(m, p, q, Hd, TRUE);
    snprintf(p, sizeof p, "%slayers.%d.self_attn.k_proj", pre, l);
    mf_linear(m, p, kv, Hd, TRUE);
    snprintf(p, sizeof p, "%slayers.%d.self_attn.v_proj", pre, l);
    mf_linear(m, p, kv, Hd, TRUE);
    snprintf(p, sizeof p, "%slayers.%d.self_attn.o_proj", pre, l);
    mf_linear(m, p, Hd, q, FALSE);
    snprintf(p, sizeof p, "%slayers.%d.mlp.gate_proj", pre, l);
    mf_linear(m, p, I, Hd, FALSE);
    snprintf(p, sizeof p, "%slayers.%d.mlp.up_proj", pre, l);
    mf_linear(m, p, I, Hd, FALSE);
    snprintf(p, sizeof p, "%slayers.%d.mlp.down_proj", pre, l);
    mf_linear(m, p, Hd, I, FALSE);
  }
  snprintf(p, sizeof p, "%snorm", pre);
  mf_norm(m, p, Hd, FALSE);
  mf_index(m);
}

hart_status hart_manifest_check_qwen2_stats(const hart_tensor_set *set,
                                            const hart_qwen2_config *cfg,
                                            hart_manifest_stats *stats, hart_error *err)
{
  /* Files saved from Qwen2ForCausalLM / Qwen2-VL carry "model."; a bare Qwen2Model has none. */
  const char *pre = hart_tensor_set_get(set, "embed_tokens.weight") != NULL ? "" : "model.";
  manifest m;
  hart_status st;

  if (stats != NULL)
    memset(stats, 0, sizeof *stats);
  mf_init(&m);
  qwen_manifest(&m, cfg, pre);
  st = mf_check(&m, set, cfg, qwen_ignore, NULL, stats, err);
  mf_clear(&m);
  return st;
}

hart_status hart_manifest_check_qwen2(const hart_tensor_set *set, const hart_qwen2_config *cfg,
                                      hart_error *err)
{
  return hart_manifest_check_qwen2_stats(set, cfg, NULL, err);
}
