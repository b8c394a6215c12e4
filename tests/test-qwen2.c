/* test-qwen2.c: the Qwen2 text encoder against shared/text/qwen2-tiny/golden.safetensors
 * (Hugging Face transformers, fp32 eager attention), through the library and through
 * `hart encode`; and configs that do not match their tensors. */
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "safetensors_write.h"
#include "text_encoder.h"

#define TOL 1e-5 /* absolute; values are O(1) (shared/text/README.md) */

static const int cases[] = { 0, 1, 2, 21 }; /* the golden file's __metadata__ "cases" */

/* The prompt of case c of tokens.json (g_free it). */
static char *case_prompt(int c)
{
  char *path = ht_shared_path("text/tokens.json");
  JsonParser *p = json_parser_new();
  JsonArray *arr;
  char *s;

  g_assert_true(json_parser_load_from_file(p, path, NULL));
  arr = json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "cases");
  s = g_strdup(
      json_object_get_string_member(json_array_get_object_element(arr, (guint)c), "prompt"));
  g_object_unref(p);
  g_free(path);
  return s;
}

static gboolean need_data(void)
{
  return ht_require_shared("text/qwen2-tiny/golden.safetensors") &&
         ht_require_shared("text/tokenizer.json") && ht_require_shared("text/tokens.json");
}

static void assert_i64(const char *what, const hart_tensor_set *g, const char *name,
                       const int64_t *got, gint64 n)
{
  gint64 numel;
  float *want = ht_tensor_f32(g, name, &numel);
  g_assert_cmpint(numel, ==, n);
  for (gint64 i = 0; i < n; i++)
    if ((float)got[i] != want[i])
      g_error("%s %s[%" G_GINT64_FORMAT "]: %lld, want %g", what, name, i, (long long)got[i],
              want[i]);
  g_free(want);
}

static void assert_ctx(const char *what, const hart_tensor_set *g, const char *name,
                       const float *got, gint64 n)
{
  gint64 numel;
  float *want = ht_tensor_f32(g, name, &numel);
  double e;

  g_assert_cmpint(numel, ==, n);
  e = ht_max_abs_err(got, want, n);
  g_test_message("%s %s: max abs err %.3g (tol %.0e)", what, name, e, TOL);
  if (!(e <= TOL))
    g_error("%s %s: max abs err %.3g exceeds %.0e", what, name, e, TOL);
  g_free(want);
}

static hart_text_encoder *load_tiny(hart_backend **be, hart_error *err)
{
  char *dir = ht_shared_path("text/qwen2-tiny");
  char *tj = ht_shared_path("text/tokenizer.json");
  hart_text_encoder *enc = NULL;

  g_assert_cmpint(hart_backend_cpu_new(2, err, be), ==, HART_OK);
  (*be)->err = err;
  if (hart_text_encoder_load(*be, dir, tj, &enc, err) != HART_OK)
    g_error("%s", err->msg);
  g_free(dir);
  g_free(tj);
  return enc;
}

/* The library path: ids, masks, positions and hidden states of every golden case. */
static void test_golden_api(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  hart_text_encoder *enc;
  hart_tensor_set *g;

  if (!need_data())
    return;
  enc = load_tiny(&be, &err);
  g = ht_open_st("text/qwen2-tiny/golden.safetensors");
  g_assert_cmpint(hart_text_encoder_hidden(enc), ==, 32);
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *prompt = case_prompt(cases[i]), name[64], what[32];
    float ctx[300 * 32];
    hart_text_input in;
    int64_t wide[439];

    snprintf(what, sizeof what, "case %d", cases[i]);
    g_assert_cmpint(hart_text_input_build(enc, prompt, 1, 300, &in, &err), ==, HART_OK);
    g_assert_cmpint(in.T, ==, 439);
#define NAME(s) (snprintf(name, sizeof name, "case%d.%s", cases[i], s), name)
    for (int t = 0; t < 439; t++)
      wide[t] = in.ids[t];
    assert_i64(what, g, NAME("input_ids"), wide, 439);
    for (int t = 0; t < 439; t++)
      wide[t] = in.attn[t];
    assert_i64(what, g, NAME("attention_mask"), wide, 439);
    for (int t = 0; t < 300; t++)
      wide[t] = in.mask[t];
    assert_i64(what, g, NAME("context_mask"), wide, 300);
    assert_i64(what, g, NAME("context_position_ids"), in.pos, 300);
    g_assert_cmpint(hart_text_encoder_run(enc, &in, ctx, &err), ==, HART_OK);
    assert_ctx(what, g, NAME("context_tensor"), ctx, 300 * 32);
    hart_text_input_clear(&in);

    /* Without the system prompt: Qwen sees the 300 ids alone, attention mask = context mask. */
    g_assert_cmpint(hart_text_encode(enc, prompt, 0, 300, ctx, NULL, NULL, &err), ==, HART_OK);
    assert_ctx(what, g, NAME("context_tensor_no_system_prompt"), ctx, 300 * 32);
#undef NAME
    g_free(prompt);
  }
  hart_tensor_set_free(g);
  hart_text_encoder_free(enc);
  be->ops->destroy(be);
}

/* The `hart encode` path: the file it writes has the golden names, dtypes and values. */
static void run_encode(int c, gboolean no_system, const hart_tensor_set *g)
{
  char *dir = ht_shared_path("text/qwen2-tiny"), *tj = ht_shared_path("text/tokenizer.json");
  char *tmp = g_dir_make_tmp("hart-encode-XXXXXX", NULL);
  char *out = g_build_filename(tmp, "out.safetensors", NULL), *prompt = case_prompt(c);
  const char *argv[] = { g_getenv("HART_CLI"),
                         "encode",
                         "--text-model",
                         dir,
                         "--tokenizer",
                         tj,
                         "--prompt",
                         prompt,
                         "--out",
                         out,
                         no_system ? "--no-system-prompt" : NULL,
                         NULL };
  int status;
  GError *gerr = NULL;
  hart_tensor_set *got;
  hart_error err = { 0 };
  char want[64], what[48];
  gint64 n;
  float *ctx;

  g_assert_nonnull(argv[0]);
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                    &status, &gerr))
    g_error("%s", gerr->message);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  g_assert_cmpint(hart_tensor_set_open_safetensors(out, &got, &err), ==, HART_OK);
  snprintf(what, sizeof what, "hart encode case %d%s", c, no_system ? " (no system)" : "");
  ctx = ht_tensor_f32(got, "context_tensor", &n);
  g_assert_cmpint(hart_tensor_set_get(got, "context_tensor")->dtype, ==, HART_DT_F32);
  g_assert_cmpint(hart_tensor_set_get(got, "input_ids")->dtype, ==, HART_DT_I64);
  g_assert_cmpint(hart_tensor_set_get(got, "context_position_ids")->dtype, ==, HART_DT_I64);
  g_assert_cmpint(hart_tensor_set_get(got, "context_mask")->dtype, ==, HART_DT_BOOL);
  g_assert_cmpint(hart_tensor_set_get(got, "attention_mask")->dtype, ==, HART_DT_BOOL);
  g_assert_cmpint(hart_tensor_set_get(got, "input_ids")->shape[1], ==, no_system ? 300 : 439);
  snprintf(want, sizeof want, "case%d.%s", c,
           no_system ? "context_tensor_no_system_prompt" : "context_tensor");
  assert_ctx(what, g, want, ctx, n);
  for (guint k = 0; k < 2; k++) {
    const char *key = k ? "context_position_ids" : "context_mask";
    const hart_tensor *t = hart_tensor_set_get(got, key);
    int64_t v[300];
    g_assert_cmpint(hart_tensor_to_i64(t, v, &err), ==, HART_OK);
    snprintf(want, sizeof want, "case%d.%s", c, key);
    assert_i64(what, g, want, v, 300);
  }
  g_free(ctx);
  hart_tensor_set_free(got);
  g_unlink(out);
  g_rmdir(tmp);
  g_free(out);
  g_free(tmp);
  g_free(prompt);
  g_free(dir);
  g_free(tj);
}

static void test_golden_cli(void)
{
  hart_tensor_set *g;

  if (!need_data())
    return;
  g = ht_open_st("text/qwen2-tiny/golden.safetensors");
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    run_encode(cases[i], FALSE, g);
    run_encode(cases[i], TRUE, g);
  }
  hart_tensor_set_free(g);
}

static void test_bad_prompts(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  hart_text_encoder *enc;
  float ctx[300 * 32];

  if (!need_data())
    return;
  enc = load_tiny(&be, &err);
  g_assert_cmpint(hart_text_encode(enc, "", 1, 300, ctx, NULL, NULL, &err), ==,
                  HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, "empty"));
  g_assert_cmpint(
      hart_text_encode(enc, "<|endoftext|><|endoftext|>", 1, 300, ctx, NULL, NULL, &err), ==,
      HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, "padding"));
  g_assert_cmpint(hart_text_encode(enc, "bad \xff utf-8", 1, 300, ctx, NULL, NULL, &err), ==,
                  HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, "UTF-8"));
  hart_text_encoder_free(enc);
  be->ops->destroy(be);
}

/* A copy of the tiny model's folder whose config.json has `key` set to `value`. */
static char *folder_with_config(const char *key, gint64 value)
{
  char *src = ht_shared_path("text/qwen2-tiny/config.json");
  char *model = ht_shared_path("text/qwen2-tiny/model.safetensors");
  char *tmp = g_dir_make_tmp("hart-qwen2-XXXXXX", NULL);
  char *cfg = g_build_filename(tmp, "config.json", NULL);
  char *link = g_build_filename(tmp, "model.safetensors", NULL);
  JsonParser *p = json_parser_new();
  JsonGenerator *gen = json_generator_new();

  g_assert_true(json_parser_load_from_file(p, src, NULL));
  json_object_set_int_member(json_node_get_object(json_parser_get_root(p)), key, value);
  json_generator_set_root(gen, json_parser_get_root(p));
  g_assert_true(json_generator_to_file(gen, cfg, NULL));
  g_assert_cmpint(symlink(model, link), ==, 0);
  g_object_unref(gen);
  g_object_unref(p);
  g_free(src);
  g_free(model);
  g_free(cfg);
  g_free(link);
  return tmp;
}

static void remove_folder(char *dir)
{
  char *a = g_build_filename(dir, "config.json", NULL);
  char *b = g_build_filename(dir, "model.safetensors", NULL);
  g_unlink(a);
  g_unlink(b);
  g_rmdir(dir);
  g_free(a);
  g_free(b);
  g_free(dir);
}

static void test_config_mismatch(void)
{
  static const struct {
    const char *key;
    gint64 value;
    const char *tensor;
  } bad[] = {
    /* The message names the file and a tensor of the mismatched kind. */
    { "intermediate_size", 128, "model.layers.0.mlp." },
    { "num_key_value_heads", 4, "model.layers.0.self_attn." },
    { "num_hidden_layers", 3, "model.layers.2." },
    { "vocab_size", 1000, "model.embed_tokens.weight" },
  };
  hart_error err = { 0 };
  hart_backend *be;

  if (!need_data())
    return;
  g_assert_cmpint(hart_backend_cpu_new(1, &err, &be), ==, HART_OK);
  be->err = &err;
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *dir = folder_with_config(bad[i].key, bad[i].value);
    hart_qwen2 *m = NULL;
    hart_error_clear(&err);
    g_assert_cmpint(hart_qwen2_load(be, dir, &m, &err), ==, HART_ERR_FORMAT);
    g_assert_null(m);
    g_test_message("%s = %" G_GINT64_FORMAT ": %s", bad[i].key, bad[i].value, err.msg);
    g_assert_nonnull(strstr(err.msg, bad[i].tensor));
    g_assert_nonnull(strstr(err.msg, "model.safetensors"));
    remove_folder(dir);
  }
  be->ops->destroy(be);
}

/* The released layout: the weights split over two shards with model.safetensors.index.json, and
 * visual.* / lm_head.* tensors that must be ignored. The outputs stay the golden ones. */
static void run_sharded(void)
{
  char *src = ht_shared_path("text/qwen2-tiny/model.safetensors");
  char *cfg = ht_shared_path("text/qwen2-tiny/config.json");
  char *tj = ht_shared_path("text/tokenizer.json");
  char *tmp = g_dir_make_tmp("hart-qwen2-shards-XXXXXX", NULL);
  const char *shard_names[2] = { "model-00001-of-00002.safetensors",
                                 "model-00002-of-00002.safetensors" };
  hart_tensor_set *set, *g;
  GPtrArray *shards[2] = { g_ptr_array_new(), g_ptr_array_new() };
  GString *index = g_string_new("{\"metadata\": {}, \"weight_map\": {");
  hart_error err = { 0 };
  hart_backend *be;
  hart_text_encoder *enc = NULL;
  static const float extra[4] = { 1, 2, 3, 4 };
  hart_tensor visual = { "visual.blocks.0.attn.qkv.weight", HART_DT_F32, 2, { 2, 2 }, extra, 16 };
  hart_tensor head = { "lm_head.weight", HART_DT_F32, 2, { 2, 2 }, extra, 16 };
  char *prompt = case_prompt(0), *paths[4];
  float ctx[300 * 32];

  g_assert_cmpint(hart_tensor_set_open_safetensors(src, &set, &err), ==, HART_OK);
  for (size_t i = 0; i < hart_tensor_set_count(set); i++) {
    const hart_tensor *t = hart_tensor_set_at(set, i);
    int k = strstr(t->name, "layers.1.") != NULL || strstr(t->name, "norm.weight") == t->name + 6;
    g_ptr_array_add(shards[k], (gpointer)t);
    g_string_append_printf(index, "%s\"%s\": \"%s\"", index->str[index->len - 1] == '{' ? "" : ", ",
                           t->name, shard_names[k]);
  }
  g_string_append_printf(index, ", \"%s\": \"%s\", \"%s\": \"%s\"}}", visual.name, shard_names[1],
                         head.name, shard_names[1]);
  for (int k = 0; k < 2; k++) {
    hart_tensor *ts = g_new(hart_tensor, shards[k]->len + 2);
    guint n = 0;
    for (guint i = 0; i < shards[k]->len; i++)
      ts[n++] = *(const hart_tensor *)shards[k]->pdata[i];
    if (k == 1) {
      ts[n++] = visual;
      ts[n++] = head;
    }
    paths[k] = g_build_filename(tmp, shard_names[k], NULL);
    g_assert_cmpint(hart_safetensors_write(paths[k], ts, n, &err), ==, HART_OK);
    g_free(ts);
    g_ptr_array_unref(shards[k]);
  }
  paths[2] = g_build_filename(tmp, "model.safetensors.index.json", NULL);
  g_assert_true(g_file_set_contents(paths[2], index->str, -1, NULL));
  paths[3] = g_build_filename(tmp, "config.json", NULL);
  g_assert_cmpint(symlink(cfg, paths[3]), ==, 0);

  g_assert_cmpint(hart_backend_cpu_new(2, &err, &be), ==, HART_OK);
  be->err = &err;
  if (hart_text_encoder_load(be, tmp, tj, &enc, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_cmpint(hart_text_encode(enc, prompt, 1, 300, ctx, NULL, NULL, &err), ==, HART_OK);
  g = ht_open_st("text/qwen2-tiny/golden.safetensors");
  assert_ctx("sharded case 0", g, "case0.context_tensor", ctx, 300 * 32);
  hart_tensor_set_free(g);
  hart_text_encoder_free(enc);
  be->ops->destroy(be);
  hart_tensor_set_free(set);
  for (int i = 0; i < 4; i++) {
    g_unlink(paths[i]);
    g_free(paths[i]);
  }
  g_rmdir(tmp);
  g_string_free(index, TRUE);
  g_free(tmp);
  g_free(src);
  g_free(cfg);
  g_free(tj);
  g_free(prompt);
}

static void test_sharded(void)
{
  if (need_data())
    run_sharded();
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/qwen2/golden-api", test_golden_api);
  g_test_add_func("/qwen2/golden-hart-encode", test_golden_cli);
  g_test_add_func("/qwen2/bad-prompts", test_bad_prompts);
  g_test_add_func("/qwen2/config-mismatch", test_config_mismatch);
  g_test_add_func("/qwen2/sharded-release-layout", test_sharded);
  return g_test_run();
}
