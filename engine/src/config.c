/* config.c: reading and validating the config.json files of the transformer (llm/), the hybrid
 * tokenizer (tokenizer/) and the Qwen2 text model, with json-glib. See hart-spec.md §0.4. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

typedef struct {
  const char *path;
  JsonObject *obj;
  hart_error *err;
} cfg_reader;

static hart_status cfg_open(const char *path, JsonParser **parser, cfg_reader *r, hart_error *err)
{
  GError *gerr = NULL;
  JsonNode *root;

  *parser = json_parser_new_immutable();
  if (!json_parser_load_from_mapped_file(*parser, path, &gerr)) {
    hart_status st =
        g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT) || gerr->domain == G_FILE_ERROR
            ? HART_ERR_IO
            : HART_ERR_FORMAT;
    hart_fail(err, st, "%s: %s", path, gerr->message);
    g_error_free(gerr);
    g_object_unref(*parser);
    *parser = NULL;
    return st;
  }
  root = json_parser_get_root(*parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_object_unref(*parser);
    *parser = NULL;
    return hart_fail(err, HART_ERR_FORMAT, "%s: not a JSON object", path);
  }
  r->path = path;
  r->obj = json_node_get_object(root);
  r->err = err;
  return HART_OK;
}

/* Integer key: a JSON integer (a float with an integral value is accepted, as Python writes
 * 1.0 sometimes). Missing: the default. Range-checked. */
static hart_status get_int(cfg_reader *r, const char *key, int def, int lo, int hi, int *out)
{
  JsonNode *n = json_object_get_member(r->obj, key);
  double v;

  if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
    *out = def;
    return HART_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) ||
      (json_node_get_value_type(n) != G_TYPE_INT64 && json_node_get_value_type(n) != G_TYPE_DOUBLE))
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s must be an integer", r->path, key);
  v = json_node_get_value_type(n) == G_TYPE_INT64 ? (double)json_node_get_int(n)
                                                  : json_node_get_double(n);
  if (v != floor(v))
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s = %g must be an integer", r->path, key, v);
  if (v < lo || v > hi)
    return hart_fail(r->err, HART_ERR_UNSUPPORTED, "%s: %s = %g is out of range [%d, %d]", r->path,
                     key, v, lo, hi);
  *out = (int)v;
  return HART_OK;
}

/* An integer key without a default in the reference: missing is an error. */
static hart_status get_int_required(cfg_reader *r, const char *key, int lo, int hi, int *out)
{
  JsonNode *n = json_object_get_member(r->obj, key);

  if (n == NULL || JSON_NODE_HOLDS_NULL(n))
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s is missing", r->path, key);
  return get_int(r, key, lo, lo, hi, out);
}

static hart_status get_double(cfg_reader *r, const char *key, double def, double lo, double hi,
                              double *out)
{
  JsonNode *n = json_object_get_member(r->obj, key);
  double v;

  if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
    *out = def;
    return HART_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) ||
      (json_node_get_value_type(n) != G_TYPE_INT64 && json_node_get_value_type(n) != G_TYPE_DOUBLE))
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s must be a number", r->path, key);
  v = json_node_get_value_type(n) == G_TYPE_INT64 ? (double)json_node_get_int(n)
                                                  : json_node_get_double(n);
  if (!(v >= lo && v <= hi))
    return hart_fail(r->err, HART_ERR_UNSUPPORTED, "%s: %s = %g is out of range [%g, %g]", r->path,
                     key, v, lo, hi);
  *out = v;
  return HART_OK;
}

static hart_status get_bool(cfg_reader *r, const char *key, int def, int *out)
{
  JsonNode *n = json_object_get_member(r->obj, key);

  if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
    *out = def;
    return HART_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s must be true or false", r->path, key);
  *out = json_node_get_boolean(n);
  return HART_OK;
}

/* A string key, returned as a pointer into the parsed document (or def). Any JSON scalar is
 * rendered for messages. */
static hart_status get_string(cfg_reader *r, const char *key, const char *def, const char **out)
{
  JsonNode *n = json_object_get_member(r->obj, key);

  if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
    *out = def;
    return HART_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s must be a string", r->path, key);
  *out = json_node_get_string(n);
  return HART_OK;
}

/* A bool key whose only supported value is `want`. */
static hart_status require_bool(cfg_reader *r, const char *key, int def, int want)
{
  int v;
  hart_status st = get_bool(r, key, def, &v);
  if (st != HART_OK)
    return st;
  if (v != want)
    return hart_fail(r->err, HART_ERR_UNSUPPORTED, "%s: %s = %s is not supported (supported: %s)",
                     r->path, key, v ? "true" : "false", want ? "true" : "false");
  return HART_OK;
}

static hart_status require_string(cfg_reader *r, const char *key, const char *def, const char *want)
{
  const char *v;
  hart_status st = get_string(r, key, def, &v);
  if (st != HART_OK)
    return st;
  if (v == NULL || strcmp(v, want) != 0)
    return hart_fail(r->err, HART_ERR_UNSUPPORTED,
                     "%s: %s = \"%s\" is not supported (supported: \"%s\")", r->path, key,
                     v ? v : "(missing)", want);
  return HART_OK;
}

static hart_status get_int_list(cfg_reader *r, const char *key, const int *def, int n_def, int max,
                                int lo, int hi, int *out, int *n_out)
{
  JsonNode *n = json_object_get_member(r->obj, key);
  JsonArray *a;
  guint len;

  if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
    memcpy(out, def, (size_t)n_def * sizeof(int));
    *n_out = n_def;
    return HART_OK;
  }
  if (!JSON_NODE_HOLDS_ARRAY(n))
    return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s must be a list of integers", r->path, key);
  a = json_node_get_array(n);
  len = json_array_get_length(a);
  if (len == 0 || len > (guint)max)
    return hart_fail(r->err, HART_ERR_UNSUPPORTED, "%s: %s has %u entries (supported: 1..%d)",
                     r->path, key, len, max);
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element(a, i);
    gint64 v;
    if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64)
      return hart_fail(r->err, HART_ERR_FORMAT, "%s: %s[%u] must be an integer", r->path, key, i);
    v = json_node_get_int(e);
    if (v < lo || v > hi)
      return hart_fail(r->err, HART_ERR_UNSUPPORTED, "%s: %s[%u] = %lld is out of range [%d, %d]",
                       r->path, key, i, (long long)v, lo, hi);
    out[i] = (int)v;
  }
  *n_out = (int)len;
  return HART_OK;
}

#define TRY(x)                                                                                     \
  do {                                                                                             \
    st = (x);                                                                                      \
    if (st != HART_OK)                                                                             \
      goto out;                                                                                    \
  } while (0)

hart_status hart_llm_config_load(const char *path, hart_llm_config *c, hart_error *err)
{
  /* Defaults of the reference configuration class (not the release values, §0.1). */
  static const int default_pns[] = { 1, 2, 3, 4, 5, 6, 8, 10, 13, 16 };
  JsonParser *parser;
  cfg_reader r;
  hart_status st = cfg_open(path, &parser, &r, err);
  const char *steps = NULL, *pool = NULL;
  double eps;

  if (st != HART_OK)
    return st;
  memset(c, 0, sizeof *c);
  TRY(require_string(&r, "model_type", "hart_transformer_t2i", "hart_transformer_t2i"));
  TRY(get_int(&r, "context_token", 300, 1, 4096, &c->context_token));
  TRY(get_int(&r, "context_dim", 1536, 1, 65536, &c->context_dim));
  TRY(get_int(&r, "embed_dim", 1024, 1, 65536, &c->embed_dim));
  TRY(get_int(&r, "depth", 16, 1, 1024, &c->depth));
  TRY(get_int(&r, "num_heads", 16, 1, 1024, &c->num_heads));
  TRY(get_double(&r, "mlp_ratio", 4.0, 0.01, 64.0, &c->mlp_ratio));
  TRY(get_int_list(&r, "patch_nums", default_pns, 10, HART_MAX_SCALES, 1, 1024, c->patch_nums,
                   &c->n_scales));
  TRY(get_double(&r, "norm_eps", 1e-6, 0.0, 1.0, &eps));
  c->norm_eps = (float)eps;
  TRY(get_int(&r, "diff_width", 1024, 1, 65536, &c->diff_width));
  TRY(get_int(&r, "diff_depth", 6, 1, 1024, &c->diff_depth));
  TRY(get_string(&r, "num_sampling_steps", "8", &steps));
  if (steps == NULL || strcmp(steps, "8") != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: num_sampling_steps = \"%s\" is not supported (supported: \"8\")", path,
                   steps ? steps : "");
    goto out;
  }
  c->num_sampling_steps = 8;
  TRY(require_string(&r, "sampler", "iddpm", "iddpm"));
  TRY(require_string(&r, "mlp_type", "gpt2", "llama"));
  TRY(require_string(&r, "attn_type", "gpt2", "llama"));
  TRY(require_bool(&r, "use_timestep_embed", 0, 1));
  TRY(require_bool(&r, "use_context_norm", 0, 1));
  TRY(require_bool(&r, "shared_aln", 0, 0));
  TRY(require_bool(&r, "use_cross_attn", 0, 0));
  TRY(get_bool(&r, "disable_aln", 0, &c->disable_aln));
  TRY(get_bool(&r, "attn_l2_norm", 0, &c->attn_l2_norm));
  TRY(get_string(&r, "sep_aln_pooling_mode", "max", &pool));
  if (pool == NULL || (strcmp(pool, "avg") != 0 && strcmp(pool, "max") != 0)) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: sep_aln_pooling_mode = \"%s\" is not supported (supported: \"avg\", "
                   "\"max\")",
                   path, pool ? pool : "");
    goto out;
  }
  c->pool_avg = strcmp(pool, "avg") == 0;

  /* Constraints the reference relies on (§0.4). */
  if (c->embed_dim % c->num_heads != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: embed_dim = %d is not a multiple of num_heads = %d", path, c->embed_dim,
                   c->num_heads);
    goto out;
  }
  c->head_dim = c->embed_dim / c->num_heads;
  if (c->head_dim % 4 != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: head dimension %d (embed_dim / num_heads) must be divisible by 4", path,
                   c->head_dim);
    goto out;
  }
  if (c->patch_nums[0] != 1) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED, "%s: patch_nums[0] = %d is not supported (must be 1)",
                   path, c->patch_nums[0]);
    goto out;
  }
  for (int i = 1; i < c->n_scales; i++)
    if (c->patch_nums[i] <= c->patch_nums[i - 1]) {
      st = hart_fail(err, HART_ERR_UNSUPPORTED, "%s: patch_nums must increase (entry %d)", path, i);
      goto out;
    }
  if (c->n_scales < 2) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED, "%s: patch_nums needs at least 2 scales", path);
    goto out;
  }
  if (!c->disable_aln && c->context_token < 2) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: context_token = %d: per-block adaLN pooling needs at least 2", path,
                   c->context_token);
    goto out;
  }
  c->mlp_hidden = (int)((int64_t)(c->embed_dim * c->mlp_ratio * 2.0 / 3.0 + 255) / 256 * 256);
out:
  g_object_unref(parser);
  return st;
}

hart_status hart_vae_config_load(const char *path, hart_vae_config *c, hart_error *err)
{
  static const int default_mult[] = { 1, 1, 2, 2, 4 };
  JsonParser *parser;
  cfg_reader r;
  hart_status st = cfg_open(path, &parser, &r, err);
  double qr;

  if (st != HART_OK)
    return st;
  memset(c, 0, sizeof *c);
  TRY(require_string(&r, "model_type", "hart_autoencoder_with_disc", "hart_autoencoder_with_disc"));
  TRY(require_string(&r, "quantizer_type", "var_hybrid", "var_hybrid"));
  TRY(get_int(&r, "vocab_size", 4096, 1, 1 << 20, &c->vocab_size));
  TRY(get_int(&r, "z_channels", 32, 1, 4096, &c->z_channels));
  TRY(get_int(&r, "ch", 160, 1, 8192, &c->ch));
  TRY(get_int_list(&r, "ch_mult", default_mult, 5, HART_MAX_CH_MULT, 1, 64, c->ch_mult,
                   &c->n_ch_mult));
  TRY(get_double(&r, "quant_resi", 0.5, -1.0, 1.0, &qr));
  c->quant_resi = (float)qr;
  TRY(get_int(&r, "share_quant_resi", 4, 1, 64, &c->share_quant_resi));
  TRY(get_int(&r, "quant_conv_ks", 3, 3, 3, &(int){ 0 }));
  c->num_res_blocks = 2;
  for (int i = 0; i < c->n_ch_mult; i++)
    if ((c->ch * c->ch_mult[i]) % 32 != 0) {
      st = hart_fail(err, HART_ERR_UNSUPPORTED,
                     "%s: ch * ch_mult[%d] = %d is not a multiple of 32 (GroupNorm groups)", path,
                     i, c->ch * c->ch_mult[i]);
      goto out;
    }
  if (c->ch % 32 != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED, "%s: ch = %d is not a multiple of 32", path, c->ch);
    goto out;
  }
out:
  g_object_unref(parser);
  return st;
}

hart_status hart_qwen2_config_load(const char *path, hart_qwen2_config *c, hart_error *err)
{
  JsonParser *parser;
  cfg_reader r;
  hart_status st = cfg_open(path, &parser, &r, err);
  JsonNode *rp;
  double eps;

  if (st != HART_OK)
    return st;
  memset(c, 0, sizeof *c);
  TRY(require_string(&r, "model_type", NULL, "qwen2"));
  TRY(get_int_required(&r, "hidden_size", 1, 65536, &c->hidden_size));
  TRY(get_int_required(&r, "num_hidden_layers", 1, 1024, &c->num_layers));
  TRY(get_int_required(&r, "num_attention_heads", 1, 1024, &c->num_heads));
  TRY(get_int(&r, "num_key_value_heads", c->num_heads, 1, 1024, &c->num_kv_heads));
  TRY(get_int_required(&r, "intermediate_size", 1, 1 << 20, &c->intermediate_size));
  TRY(get_int(&r, "vocab_size", 151936, 1, 1 << 24, &c->vocab_size));
  TRY(get_double(&r, "rms_norm_eps", 1e-6, 0.0, 1.0, &eps));
  c->rms_norm_eps = (float)eps;
  TRY(require_string(&r, "hidden_act", "silu", "silu"));
  /* rope_theta at the top level (release) or under rope_parameters (newer transformers). */
  rp = json_object_get_member(r.obj, "rope_parameters");
  if (json_object_get_member(r.obj, "rope_theta") == NULL && rp != NULL &&
      JSON_NODE_HOLDS_OBJECT(rp)) {
    cfg_reader sub = r;
    sub.obj = json_node_get_object(rp);
    TRY(get_double(&sub, "rope_theta", 1e6, 1.0, 1e12, &c->rope_theta));
  } else {
    TRY(get_double(&r, "rope_theta", 1e6, 1.0, 1e12, &c->rope_theta));
  }
  if (c->hidden_size % c->num_heads != 0 || c->num_heads % c->num_kv_heads != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED,
                   "%s: hidden_size %d, num_attention_heads %d, num_key_value_heads %d do not "
                   "divide evenly",
                   path, c->hidden_size, c->num_heads, c->num_kv_heads);
    goto out;
  }
  c->head_dim = c->hidden_size / c->num_heads;
  if (c->head_dim % 2 != 0) {
    st = hart_fail(err, HART_ERR_UNSUPPORTED, "%s: head dimension %d must be even", path,
                   c->head_dim);
    goto out;
  }
out:
  g_object_unref(parser);
  return st;
}

hart_status hart_config_check_pair(const hart_llm_config *llm, const hart_vae_config *vae,
                                   const char *where, hart_error *err)
{
  if (vae->vocab_size < 600)
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "%s: vocab_size = %d: top-k 600 sampling needs at least 600 codes", where,
                     vae->vocab_size);
  (void)llm;
  return HART_OK;
}

int hart_phi_index(int si, int n_scales, int n_phi)
{
  /* ticks = linspace(1/(3K), 1 - 1/(3K), K) for K phi convs; argmin |tick - si/(SN-1)|, first
   * index on ties. Computed in double like NumPy. */
  double x = (double)si / (double)(n_scales - 1), best = 1e300;
  int arg = 0;
  for (int k = 0; k < n_phi; k++) {
    double lo = 1.0 / (3.0 * n_phi), hi = 1.0 - 1.0 / (3.0 * n_phi);
    /* numpy.linspace: k * step + start, with the last entry set to stop exactly. */
    double tick = n_phi == 1 ? lo : (k == n_phi - 1 ? hi : k * ((hi - lo) / (n_phi - 1)) + lo);
    double d = fabs(tick - x);
    if (d < best) {
      best = d;
      arg = k;
    }
  }
  return arg;
}
