/* test-manifest.c: the tensor manifests accept every golden model part (and count its
 * parameters as the reference does), and name the tensor when one is missing, extra or
 * misshaped. */
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "manifest.h"
#include "model_files.h"
#include "tensor_set.h"

static hart_tensor_set *open_dir(const char *rel)
{
  char *p = ht_shared_path(rel);
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  if (hart_tensor_set_open_dir(p, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_free(p);
  return set;
}

static void load_llm_cfg(const char *case_name, hart_llm_config *c)
{
  char *rel = g_strdup_printf("golden/%s/llm/config.json", case_name), *p = ht_shared_path(rel);
  hart_error err = { 0 };
  if (hart_llm_config_load(p, c, &err) != HART_OK)
    g_error("%s", err.msg);
  g_free(p);
  g_free(rel);
}

static void load_vae_cfg(const char *case_name, hart_vae_config *c)
{
  char *rel = g_strdup_printf("golden/%s/tokenizer/config.json", case_name),
       *p = ht_shared_path(rel);
  hart_error err = { 0 };
  if (hart_vae_config_load(p, c, &err) != HART_OK)
    g_error("%s", err.msg);
  g_free(p);
  g_free(rel);
}

/* case.json -> llm_parameters.total: the reference's own parameter count. */
static gint64 case_llm_params(const char *case_name)
{
  char *rel = g_strdup_printf("golden/%s/case.json", case_name), *p = ht_shared_path(rel);
  JsonParser *parser = json_parser_new();
  gint64 n;
  g_assert_true(json_parser_load_from_file(parser, p, NULL));
  n = json_object_get_int_member(
      json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                    "llm_parameters"),
      "total");
  g_object_unref(parser);
  g_free(p);
  g_free(rel);
  return n;
}

static void check_case(gconstpointer data)
{
  const char *name = data;
  char *llm_rel = g_strdup_printf("golden/%s/llm", name);
  char *tok_rel = g_strdup_printf("golden/%s/tokenizer", name);
  hart_llm_config lc;
  hart_vae_config vc;
  hart_tensor_set *llm, *tok;
  hart_manifest_stats s;
  hart_error err = { 0 };

  if (!ht_require_shared(llm_rel))
    return;
  load_llm_cfg(name, &lc);
  load_vae_cfg(name, &vc);
  llm = open_dir(llm_rel);
  tok = open_dir(tok_rel);
  if (hart_manifest_check_llm_stats(llm, &lc, &s, &err) != HART_OK)
    g_error("%s", err.msg);
  g_test_message("%s llm: %zu tensors, %zu expected, %zu ignored, %lld parameters", name,
                 s.n_tensors, s.n_expected, s.n_ignored, (long long)s.n_params);
  g_assert_cmpint(s.n_params, ==, case_llm_params(name));
  g_assert_cmpint(s.vocab_size, ==, vc.vocab_size);
  g_assert_cmpint(s.vae_channels, ==, vc.z_channels);
  g_assert_cmpuint(s.n_expected + s.n_ignored, ==, s.n_tensors);
  if (hart_manifest_check_llm_vae(llm, &vc, &err) != HART_OK)
    g_error("%s", err.msg);
  if (hart_manifest_check_vae_stats(tok, &vc, &s, &err) != HART_OK)
    g_error("%s", err.msg);
  g_test_message("%s tokenizer: %zu tensors, %zu expected, %zu ignored, %lld parameters", name,
                 s.n_tensors, s.n_expected, s.n_ignored, (long long)s.n_params);
  g_assert_cmpuint(s.n_expected + s.n_ignored, ==, s.n_tensors);
  g_assert_cmpuint(s.n_expected, >, 50);
  hart_tensor_set_free(llm);
  hart_tensor_set_free(tok);
  g_free(llm_rel);
  g_free(tok_rel);
}

static void test_qwen2(void)
{
  hart_qwen2_config qc;
  hart_tensor_set *set;
  hart_manifest_stats s;
  hart_error err = { 0 };
  char *p;

  if (!ht_require_shared("text/qwen2-tiny"))
    return;
  p = ht_shared_path("text/qwen2-tiny/config.json");
  if (hart_qwen2_config_load(p, &qc, &err) != HART_OK)
    g_error("%s", err.msg);
  g_free(p);
  set = open_dir("text/qwen2-tiny");
  if (hart_manifest_check_qwen2_stats(set, &qc, &s, &err) != HART_OK)
    g_error("%s", err.msg);
  /* 26 tensors: embeddings, 2 layers x 12, final norm; no lm_head (tied). */
  g_assert_cmpuint(s.n_expected, ==, 26);
  g_assert_cmpuint(s.bytes_by_dtype[HART_DT_BF16], ==, s.n_bytes);
  hart_tensor_set_free(set);
}

/* A copy of src (views into the same data) with one tensor dropped, renamed, reshaped or
 * retyped, and optionally one extra tensor. */
typedef struct {
  const char *drop;
  const char *reshape;               /* its first dim + 1 */
  const char *retype;                /* F32 -> I32 (same size) */
  const char *add;                   /* a copy of word_embed.bias under this name */
  const hart_tensor_set *extra_from; /* add every tensor of this set missing from src */
} mutation;

static hart_tensor_set *mutate(const hart_tensor_set *src, const mutation *m)
{
  hart_tensor_set *set = hart_tensor_set_new("mutated.safetensors");
  for (size_t i = 0; i < src->n; i++) {
    const hart_tensor *t = &src->tensors[i];
    hart_tensor *c;
    if (m->drop && strcmp(t->name, m->drop) == 0)
      continue;
    c = hart_tensor_set_add(set, t->name);
    c->dtype = t->dtype;
    c->ndim = t->ndim;
    memcpy(c->shape, t->shape, sizeof c->shape);
    c->data = t->data;
    c->nbytes = t->nbytes;
    if (m->reshape && strcmp(t->name, m->reshape) == 0)
      c->shape[0]++;
    if (m->retype && strcmp(t->name, m->retype) == 0)
      c->dtype = HART_DT_I32;
  }
  if (m->add) {
    const hart_tensor *t = hart_tensor_set_get(src, src->n > 0 ? src->tensors[0].name : "");
    hart_tensor *c = hart_tensor_set_add(set, m->add);
    *c = (hart_tensor){ c->name, t->dtype, t->ndim, { 0 }, t->data, t->nbytes };
    memcpy(c->shape, t->shape, sizeof c->shape);
  }
  if (m->extra_from)
    for (size_t i = 0; i < m->extra_from->n; i++) {
      const hart_tensor *t = &m->extra_from->tensors[i];
      hart_tensor *c;
      if (hart_tensor_set_get(set, t->name) != NULL)
        continue;
      c = hart_tensor_set_add(set, t->name);
      *c = (hart_tensor){ c->name, t->dtype, t->ndim, { 0 }, t->data, t->nbytes };
      memcpy(c->shape, t->shape, sizeof c->shape);
    }
  return set;
}

static void expect_llm_error(const hart_tensor_set *set, const hart_llm_config *c,
                             const char *needle1, const char *needle2)
{
  hart_error err = { 0 };
  g_assert_cmpint(hart_manifest_check_llm(set, c, &err), ==, HART_ERR_FORMAT);
  g_test_message("%s", err.msg);
  if (!strstr(err.msg, "mutated.safetensors") || !strstr(err.msg, needle1) ||
      (needle2 && !strstr(err.msg, needle2)))
    g_error("message \"%s\" lacks the file, \"%s\" or \"%s\"", err.msg, needle1,
            needle2 ? needle2 : "");
}

static void test_llm_errors(void)
{
  hart_llm_config lc, alc;
  hart_vae_config vc;
  hart_tensor_set *tiny, *aln, *set;
  hart_error err = { 0 };

  if (!ht_require_shared("golden/tiny-aln/llm"))
    return;
  load_llm_cfg("tiny", &lc);
  load_llm_cfg("tiny-aln", &alc);
  load_vae_cfg("small", &vc);
  tiny = ht_open_st("golden/tiny/llm/model.safetensors");
  aln = ht_open_st("golden/tiny-aln/llm/model.safetensors");

  set = mutate(tiny, &(mutation){ .drop = "blocks.1.ffn.up_proj.weight" });
  expect_llm_error(set, &lc, "missing tensor blocks.1.ffn.up_proj.weight", "[256, 64]");
  hart_tensor_set_free(set);
  set = mutate(tiny, &(mutation){ .reshape = "diffloss.net.res_blocks.1.mlp.2.weight" });
  expect_llm_error(set, &lc, "diffloss.net.res_blocks.1.mlp.2.weight has shape [65, 64]",
                   "expected [64, 64]");
  hart_tensor_set_free(set);
  set = mutate(tiny, &(mutation){ .add = "blocks.0.attn.mystery" });
  expect_llm_error(set, &lc, "unexpected tensor blocks.0.attn.mystery", NULL);
  hart_tensor_set_free(set);
  set = mutate(tiny, &(mutation){ .retype = "head.bias" });
  expect_llm_error(set, &lc, "head.bias has dtype I32", NULL);
  hart_tensor_set_free(set);
  /* adaLN weights with disable_aln = true, and the reverse. */
  set = mutate(tiny, &(mutation){ .extra_from = aln });
  expect_llm_error(set, &lc, "blocks.0.ada_lin.1", "disable_aln = true");
  hart_tensor_set_free(set);
  set = mutate(tiny, &(mutation){ 0 });
  expect_llm_error(set, &alc, "missing tensor blocks.0.ada_lin.1.weight", NULL);
  hart_tensor_set_free(set);
  /* l2-norm scale without attn_l2_norm (tiny-aln weights with adaLN on but l2 off). */
  alc.attn_l2_norm = 0;
  set = mutate(aln, &(mutation){ 0 });
  expect_llm_error(set, &alc, "scale_mul_1H11", "attn_l2_norm = false");
  hart_tensor_set_free(set);
  /* lvl_1L is ignored only with the right shape. */
  lc.patch_nums[3] = 5;
  set = mutate(tiny, &(mutation){ 0 });
  expect_llm_error(set, &lc, "lvl_1L", "[1, 54]");
  hart_tensor_set_free(set);
  load_llm_cfg("tiny", &lc);
  /* The tokenizer's vocabulary must match the head. */
  vc.vocab_size = 1024;
  g_assert_cmpint(hart_manifest_check_llm_vae(tiny, &vc, &err), ==, HART_ERR_FORMAT);
  g_assert_nonnull(strstr(err.msg, "vocab_size is 1024"));
  /* Training-only buffers may be absent. */
  set = mutate(tiny, &(mutation){ .drop = "attn_bias_for_masking" });
  if (hart_manifest_check_llm(set, &lc, &err) != HART_OK)
    g_error("%s", err.msg);
  hart_tensor_set_free(set);
  hart_tensor_set_free(tiny);
  hart_tensor_set_free(aln);
}

static void test_vae_errors(void)
{
  hart_vae_config vc;
  hart_tensor_set *tok, *set;
  hart_error err = { 0 };

  if (!ht_require_shared("golden/small/tokenizer/model.safetensors"))
    return;
  load_vae_cfg("small", &vc);
  tok = ht_open_st("golden/small/tokenizer/model.safetensors");
  set = mutate(tok, &(mutation){ .drop = "vae.decoder.up.3.block.0.nin_shortcut.weight" });
  g_assert_cmpint(hart_manifest_check_vae(set, &vc, &err), ==, HART_ERR_FORMAT);
  g_assert_nonnull(strstr(err.msg, "missing tensor vae.decoder.up.3.block.0.nin_shortcut.weight"));
  hart_tensor_set_free(set);
  /* A config with other channel multipliers no longer matches the weights. */
  vc.ch_mult[1] = 2;
  g_assert_cmpint(hart_manifest_check_vae(tok, &vc, &err), ==, HART_ERR_FORMAT);
  g_test_message("%s", err.msg);
  g_assert_nonnull(strstr(err.msg, "vae.decoder.up."));
  load_vae_cfg("small", &vc);
  /* Encoder and discriminator weights are ignored. */
  set = mutate(tok, &(mutation){ .add = "disc.whatever.weight" });
  if (hart_manifest_check_vae(set, &vc, &err) != HART_OK)
    g_error("%s", err.msg);
  hart_tensor_set_free(set);
  hart_tensor_set_free(tok);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_data_func("/manifest/tiny", "tiny", check_case);
  g_test_add_data_func("/manifest/small", "small", check_case);
  g_test_add_data_func("/manifest/tiny-aln", "tiny-aln", check_case);
  g_test_add_func("/manifest/qwen2-tiny", test_qwen2);
  g_test_add_func("/manifest/llm-errors", test_llm_errors);
  g_test_add_func("/manifest/vae-errors", test_vae_errors);
  return g_test_run();
}
