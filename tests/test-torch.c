/* test-torch.c: the PyTorch checkpoint reader against the authentic torch.save files of
 * shared/golden/tiny (written by PyTorch 1.13) and their safetensors originals. */
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "model_files.h"

static hart_tensor_set *open_file(const char *rel)
{
  char *p = ht_shared_path(rel);
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  if (hart_tensor_set_open_file(p, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_free(p);
  return set;
}

/* ema_model.bin holds the state dict of llm/model.safetensors: same keys, bit-identical. */
static void test_ema_equals_safetensors(void)
{
  hart_tensor_set *bin, *st, *dir_set = NULL;
  hart_error err = { 0 };
  char *dir;
  int n_inf = 0;

  if (!ht_require_shared("golden/tiny/llm/ema_model.bin"))
    return;
  bin = open_file("golden/tiny/llm/ema_model.bin");
  st = ht_open_st("golden/tiny/llm/model.safetensors");
  g_assert_cmpuint(hart_tensor_set_count(bin), ==, 65);
  g_assert_cmpuint(hart_tensor_set_count(st), ==, 65);
  for (size_t i = 0; i < 65; i++) {
    const hart_tensor *w = hart_tensor_set_at(st, i), *g = hart_tensor_set_get(bin, w->name);
    if (g == NULL)
      g_error("%s missing from ema_model.bin", w->name);
    g_assert_cmpint(g->dtype, ==, w->dtype);
    g_assert_cmpint(g->ndim, ==, w->ndim);
    for (int d = 0; d < w->ndim; d++)
      g_assert_cmpint(g->shape[d], ==, w->shape[d]);
    g_assert_cmpuint(g->nbytes, ==, w->nbytes);
    if (memcmp(g->data, w->data, w->nbytes) != 0)
      g_error("%s: values differ", w->name);
  }
  /* The mask buffer really has -inf entries and lvl_1L is I64: both came through. */
  {
    const hart_tensor *m = hart_tensor_set_get(bin, "attn_bias_for_masking");
    float *v = ht_tensor_f32(bin, "attn_bias_for_masking", NULL);
    for (int64_t i = 0; i < hart_tensor_numel(m); i++)
      n_inf += isinf(v[i]) && v[i] < 0;
    g_free(v);
    g_assert_cmpint(n_inf, >, 0);
    g_assert_cmpint(hart_tensor_set_get(bin, "lvl_1L")->dtype, ==, HART_DT_I64);
  }
  /* The folder loader prefers ema_model.bin in tiny/llm. */
  dir = ht_shared_path("golden/tiny/llm");
  if (hart_tensor_set_open_dir(dir, &dir_set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_true(g_str_has_suffix(hart_tensor_set_origin(dir_set), "ema_model.bin"));
  g_assert_cmpuint(hart_tensor_set_count(dir_set), ==, 65);
  g_free(dir);
  hart_tensor_set_free(dir_set);
  hart_tensor_set_free(bin);
  hart_tensor_set_free(st);
}

/* bf16.bin / fp16.bin: every float tensor equals the F32 original rounded to nearest even (our
 * conversion is checked exhaustively in test-safetensors); lvl_1L stays I64. */
static void check_half_file(const char *rel, hart_dtype dt, int want_subnormals)
{
  hart_tensor_set *bin = open_file(rel), *st = ht_open_st("golden/tiny/llm/model.safetensors");
  int subnormals = 0;

  g_assert_cmpuint(hart_tensor_set_count(bin), ==, hart_tensor_set_count(st));
  for (size_t i = 0; i < hart_tensor_set_count(st); i++) {
    const hart_tensor *w = hart_tensor_set_at(st, i), *g = hart_tensor_set_get(bin, w->name);
    int64_t n = hart_tensor_numel(w);
    g_assert_nonnull(g);
    g_assert_cmpint(hart_tensor_numel(g), ==, n);
    if (w->dtype == HART_DT_I64) {
      g_assert_cmpint(g->dtype, ==, HART_DT_I64);
      g_assert_true(memcmp(g->data, w->data, w->nbytes) == 0);
      continue;
    }
    g_assert_cmpint(g->dtype, ==, dt);
    for (int64_t k = 0; k < n; k++) {
      float f;
      uint16_t h, want;
      memcpy(&f, (const char *)w->data + 4 * k, 4);
      memcpy(&h, (const char *)g->data + 2 * k, 2);
      want = dt == HART_DT_F16 ? hart_f32_to_f16(f) : hart_f32_to_bf16(f);
      if (h != want)
        g_error("%s %s[%lld]: 0x%04x, expected 0x%04x", rel, w->name, (long long)k, h, want);
      if (dt == HART_DT_F16 && (h & 0x7c00) == 0 && (h & 0x3ff) != 0)
        subnormals++;
    }
  }
  if (want_subnormals >= 0)
    g_assert_cmpint(subnormals, ==, want_subnormals);
  hart_tensor_set_free(bin);
  hart_tensor_set_free(st);
}

static void test_bf16(void)
{
  if (ht_require_shared("golden/tiny/pickles/bf16.bin"))
    check_half_file("golden/tiny/pickles/bf16.bin", HART_DT_BF16, -1);
}

static void test_fp16(void)
{
  if (ht_require_shared("golden/tiny/pickles/fp16.bin"))
    check_half_file("golden/tiny/pickles/fp16.bin", HART_DT_F16, 206);
}

/* Element (i, j) of the view named `name`, computed from the original tensors by meaning
 * (rows, transposes, odd columns), independently of the strides in the file. */
static float view_expect(hart_tensor_set *st, const char *name, int64_t i, int64_t j)
{
  const hart_tensor *t;
  float f;
  int64_t idx;

  if (strcmp(name, "qkv") == 0 || strcmp(name, "q") == 0 || strcmp(name, "k") == 0 ||
      strcmp(name, "v") == 0 || strcmp(name, "k.T") == 0) {
    int64_t row0 = name[0] == 'k' ? 64 : name[0] == 'v' ? 128 : 0;
    t = hart_tensor_set_get(st, "blocks.0.attn.qkv_proj.weight");
    idx = strcmp(name, "k.T") == 0 ? (row0 + j) * 64 + i : (row0 + i) * 64 + j;
  } else if (strcmp(name, "head.weight.T") == 0) {
    t = hart_tensor_set_get(st, "head.weight");
    idx = j * 64 + i;
  } else if (strcmp(name, "lvl_embed.mlp.0.weight[:, 1::2]") == 0) {
    t = hart_tensor_set_get(st, "lvl_embed.mlp.0.weight");
    idx = i * t->shape[1] + 2 * j + 1;
  } else if (strcmp(name, "context_embed.weight[3]") == 0) {
    t = hart_tensor_set_get(st, "context_embed.weight");
    idx = 3 * t->shape[1] + j;
  } else {
    g_error("unexpected view %s", name);
  }
  memcpy(&f, (const char *)t->data + 4 * idx, 4);
  return f;
}

static void test_views(void)
{
  hart_tensor_set *bin, *st;
  JsonParser *parser;
  JsonObject *views;
  GList *names;
  char *cj;

  if (!ht_require_shared("golden/tiny/pickles/views.bin"))
    return;
  bin = open_file("golden/tiny/pickles/views.bin");
  st = ht_open_st("golden/tiny/llm/model.safetensors");
  cj = ht_shared_path("golden/tiny/pickles/contents.json");
  parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, cj, NULL));
  views = json_object_get_object_member(
      json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                    "pickles/views.bin"),
      "tensors");
  names = json_object_get_members(views);
  g_assert_cmpuint(g_list_length(names), ==, 8);
  g_assert_cmpuint(hart_tensor_set_count(bin), ==, 8);
  for (GList *l = names; l != NULL; l = l->next) {
    JsonObject *o = json_object_get_object_member(views, l->data);
    JsonArray *shape = json_object_get_array_member(o, "shape");
    const hart_tensor *t = hart_tensor_set_get(bin, l->data);
    int64_t rows, cols;
    g_assert_nonnull(t);
    g_assert_cmpstr(json_object_get_string_member(o, "dtype"), ==, "float32");
    g_assert_cmpint(t->dtype, ==, HART_DT_F32);
    g_assert_cmpint(t->ndim, ==, (int)json_array_get_length(shape));
    for (int d = 0; d < t->ndim; d++)
      g_assert_cmpint(t->shape[d], ==, json_array_get_int_element(shape, (guint)d));
    rows = t->ndim == 2 ? t->shape[0] : 1;
    cols = t->shape[t->ndim - 1];
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) {
        float got, want = view_expect(st, l->data, i, j);
        memcpy(&got, (const char *)t->data + 4 * (i * cols + j), 4);
        if (memcmp(&got, &want, 4) != 0)
          g_error("%s[%lld, %lld] = %g, expected %g", (char *)l->data, (long long)i, (long long)j,
                  got, want);
      }
  }
  g_list_free(names);
  g_object_unref(parser);
  g_free(cj);
  hart_tensor_set_free(bin);
  hart_tensor_set_free(st);
}

static void test_legacy_refused(void)
{
  char *p;
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };

  if (!ht_require_shared("golden/tiny/pickles/legacy.bin"))
    return;
  p = ht_shared_path("golden/tiny/pickles/legacy.bin");
  g_assert_cmpint(hart_tensor_set_open_file(p, &set, &err), ==, HART_ERR_UNSUPPORTED);
  g_assert_null(set);
  g_assert_nonnull(strstr(err.msg, "legacy.bin"));
  g_assert_nonnull(strstr(err.msg, "legacy torch.save format is not supported"));
  g_free(p);
}

static void collect_bins(const char *dir, GPtrArray *out)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR))
      collect_bins(p, out);
    else if (g_str_has_suffix(name, ".bin"))
      g_ptr_array_add(out, g_strdup(p));
    g_free(p);
  }
  if (d != NULL)
    g_dir_close(d);
}

/* Every PyTorch checkpoint under shared/ opens through the generic file entry point (the
 * legacy one is refused), and its tensors have the shapes and dtypes of llm/model.safetensors
 * (views.bin aside, checked above). */
static void test_open_all_bins(void)
{
  GPtrArray *bins = g_ptr_array_new_with_free_func(g_free);
  char *root;
  hart_tensor_set *orig;
  guint opened = 0;

  if (!ht_require_shared("golden/tiny/llm/model.safetensors"))
    return;
  root = ht_shared_path("");
  collect_bins(root, bins);
  orig = ht_open_st("golden/tiny/llm/model.safetensors");
  for (guint i = 0; i < bins->len; i++) {
    const char *p = bins->pdata[i];
    hart_tensor_set *set = NULL;
    hart_error err = { 0 };
    hart_status st = hart_tensor_set_open_file(p, &set, &err);
    if (g_str_has_suffix(p, "/legacy.bin")) {
      g_assert_cmpint(st, ==, HART_ERR_UNSUPPORTED);
      continue;
    }
    if (st != HART_OK)
      g_error("%s", err.msg);
    opened++;
    if (!g_str_has_suffix(p, "/views.bin"))
      for (size_t k = 0; k < hart_tensor_set_count(orig); k++) {
        const hart_tensor *w = hart_tensor_set_at(orig, k), *g = hart_tensor_set_get(set, w->name);
        g_assert_nonnull(g);
        g_assert_cmpint(hart_tensor_numel(g), ==, hart_tensor_numel(w));
        g_assert_true(memcmp(g->shape, w->shape, sizeof w->shape) == 0);
      }
    hart_tensor_set_free(set);
  }
  g_assert_cmpuint(opened, >=, 4);
  hart_tensor_set_free(orig);
  g_ptr_array_unref(bins);
  g_free(root);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/torch/ema-equals-safetensors", test_ema_equals_safetensors);
  g_test_add_func("/torch/bf16", test_bf16);
  g_test_add_func("/torch/fp16-subnormals", test_fp16);
  g_test_add_func("/torch/views", test_views);
  g_test_add_func("/torch/legacy-refused", test_legacy_refused);
  g_test_add_func("/torch/open-all-bins", test_open_all_bins);
  return g_test_run();
}
