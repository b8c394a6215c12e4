/* test-safetensors.c: every .safetensors file of shared/ opens, and values convert. */
#include "test-util.h"

#include <string.h>

static void collect(const char *dir, GPtrArray *out)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  if (d == NULL)
    return;
  while ((name = g_dir_read_name(d)) != NULL) {
    char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR))
      collect(p, out);
    if (g_str_has_suffix(name, ".safetensors"))
      g_ptr_array_add(out, g_strdup(p));
    g_free(p);
  }
  g_dir_close(d);
}

static void test_open_all(void)
{
  char *root;
  GPtrArray *files = g_ptr_array_new_with_free_func(g_free);

  if (!ht_require_shared("golden"))
    return;
  root = ht_shared_path("");
  collect(root, files);
  g_assert_cmpuint(files->len, >=, 10);
  for (guint i = 0; i < files->len; i++) {
    hart_tensor_set *set = NULL;
    hart_error err = { 0 };
    hart_status st = hart_tensor_set_open_safetensors(files->pdata[i], &set, &err);
    if (st != HART_OK)
      g_error("%s: %s", (char *)files->pdata[i], err.msg);
    g_assert_cmpuint(hart_tensor_set_count(set), >, 0);
    hart_tensor_set_free(set);
  }
  g_ptr_array_unref(files);
  g_free(root);
}

static void test_values(void)
{
  hart_tensor_set *set;
  const hart_tensor *t;
  float *w;
  gint64 n;

  if (!ht_require_shared("golden/tiny/llm/model.safetensors"))
    return;
  set = ht_open_st("golden/tiny/llm/model.safetensors");
  t = hart_tensor_set_get(set, "word_embed.weight");
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, HART_DT_F32);
  g_assert_cmpint(t->ndim, ==, 2);
  g_assert_cmpint(t->shape[0], ==, 64);
  g_assert_cmpint(t->shape[1], ==, 32);
  w = ht_tensor_f32(set, "word_embed.weight", &n);
  g_assert_cmpint(n, ==, 64 * 32);
  {
    float first;
    memcpy(&first, t->data, 4);
    g_assert_cmpfloat(w[0], ==, first);
  }
  g_free(w);
  hart_tensor_set_free(set);
}

static void test_f16_roundtrip(void)
{
  /* Every half value survives f16 -> f32 -> f16 (NaN payloads aside). */
  for (guint32 h = 0; h < 65536; h++) {
    float f = hart_f16_to_f32((guint16)h);
    if (f != f)
      continue;
    g_assert_cmpuint(hart_f32_to_f16(f), ==, h);
  }
  g_assert_cmpfloat(hart_f16_to_f32(0x0001), ==, 5.9604644775390625e-8f);
  g_assert_cmpuint(hart_f32_to_f16(65520.0f), ==, 0x7c00);           /* rounds up to inf */
  g_assert_cmpuint(hart_f32_to_f16(1.0f + 1.0f / 2048), ==, 0x3c00); /* tie to even */
  g_assert_cmpuint(hart_f32_to_bf16(1.0f + 1.0f / 256), ==, 0x3f80);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/open-all", test_open_all);
  g_test_add_func("/safetensors/values", test_values);
  g_test_add_func("/tensor/f16-roundtrip", test_f16_roundtrip);
  return g_test_run();
}
