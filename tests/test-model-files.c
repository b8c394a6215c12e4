/* test-model-files.c: the folder loader (weight file preference, sharded checkpoints) and the
 * safetensors writer, checked bit for bit against the golden safetensors files. */
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

#include "model_files.h"
#include "safetensors_write.h"

/* Asserts that two sets hold the same names with identical dtype, shape and bytes. */
static void assert_sets_equal(const hart_tensor_set *got, const hart_tensor_set *want)
{
  g_assert_cmpuint(hart_tensor_set_count(got), ==, hart_tensor_set_count(want));
  for (size_t i = 0; i < hart_tensor_set_count(want); i++) {
    const hart_tensor *w = hart_tensor_set_at(want, i);
    const hart_tensor *g = hart_tensor_set_get(got, w->name);
    if (g == NULL)
      g_error("tensor %s missing", w->name);
    g_assert_cmpint(g->dtype, ==, w->dtype);
    g_assert_cmpint(g->ndim, ==, w->ndim);
    for (int d = 0; d < w->ndim; d++)
      g_assert_cmpint(g->shape[d], ==, w->shape[d]);
    g_assert_cmpuint(g->nbytes, ==, w->nbytes);
    if (memcmp(g->data, w->data, w->nbytes) != 0)
      g_error("tensor %s: bytes differ", w->name);
  }
}

static char *make_tmpdir(void)
{
  GError *gerr = NULL;
  char *dir = g_dir_make_tmp("hart-model-files-XXXXXX", &gerr);
  g_assert_no_error(gerr);
  return dir;
}

static void test_writer_roundtrip(void)
{
  hart_tensor_set *src, *back = NULL;
  char *dir, *path, *orig;
  hart_error err = { 0 };
  gchar *a = NULL, *b = NULL;
  gsize la, lb;

  if (!ht_require_shared("golden/tiny/llm/model.safetensors"))
    return;
  src = ht_open_st("golden/tiny/llm/model.safetensors");
  dir = make_tmpdir();
  path = g_build_filename(dir, "out.safetensors", NULL);
  if (hart_safetensors_write_set(path, src, &err) != HART_OK)
    g_error("%s", err.msg);
  if (hart_tensor_set_open_safetensors(path, &back, &err) != HART_OK)
    g_error("%s", err.msg);
  assert_sets_equal(back, src);
  /* The golden files use the same canonical layout (sorted, packed, header padded to 8), so
   * the writer reproduces them byte for byte. */
  orig = ht_shared_path("golden/tiny/llm/model.safetensors");
  g_assert_true(g_file_get_contents(orig, &a, &la, NULL));
  g_assert_true(g_file_get_contents(path, &b, &lb, NULL));
  g_assert_cmpuint(la, ==, lb);
  g_assert_true(memcmp(a, b, la) == 0);
  g_free(a);
  g_free(b);
  g_free(orig);
  hart_tensor_set_free(back);
  hart_tensor_set_free(src);
  ht_rm_tree(dir);
  g_free(path);
  g_free(dir);
}

static void test_writer_refuses(void)
{
  float v[2] = { 1, 2 };
  hart_tensor t[2] = { { "a", HART_DT_F32, 1, { 2 }, v, 8 }, { "a", HART_DT_F32, 1, { 2 }, v, 8 } };
  hart_error err = { 0 };
  char *dir = make_tmpdir();
  char *path = g_build_filename(dir, "x.safetensors", NULL);

  g_assert_cmpint(hart_safetensors_write(path, t, 2, &err), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, "given twice"));
  t[1].name = "b";
  t[1].nbytes = 4; /* does not match shape [2] x F32 */
  g_assert_cmpint(hart_safetensors_write(path, t, 2, &err), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, "tensor b"));
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
  ht_rm_tree(dir);
  g_free(path);
  g_free(dir);
}

static void test_dir_preference(void)
{
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  char *dir;

  if (!ht_require_shared("golden/small/llm"))
    return;
  dir = ht_shared_path("golden/small/llm");
  if (hart_tensor_set_open_dir(dir, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_true(g_str_has_suffix(hart_tensor_set_origin(set), "/model.safetensors"));
  hart_tensor_set_free(set);
  g_free(dir);
  /* tiny/llm has both: ema_model.bin is preferred, as the official code loads it by default. */
  dir = ht_shared_path("golden/tiny/llm");
  {
    char *p = hart_model_weights_path(dir, &err);
    g_assert_nonnull(p);
    g_assert_true(g_str_has_suffix(p, "/ema_model.bin"));
    free(p);
  }
  g_free(dir);
  dir = make_tmpdir();
  g_assert_cmpint(hart_tensor_set_open_dir(dir, &set, &err), ==, HART_ERR_IO);
  g_assert_nonnull(strstr(err.msg, dir));
  g_assert_null(set);
  ht_rm_tree(dir);
  g_free(dir);
}

/* Splits tiny/llm/model.safetensors into two shards plus an index in dir. extra_index_entry adds
 * one line to the weight map (to build broken indexes). */
static void write_sharded(const char *dir, const hart_tensor_set *src, const char *extra)
{
  size_t n = hart_tensor_set_count(src), half = n / 2;
  hart_tensor *a = g_new(hart_tensor, n);
  GString *idx = g_string_new("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  hart_error err = { 0 };
  char *p1 = g_build_filename(dir, "model-00001-of-00002.safetensors", NULL);
  char *p2 = g_build_filename(dir, "model-00002-of-00002.safetensors", NULL);
  char *pi = g_build_filename(dir, "model.safetensors.index.json", NULL);

  for (size_t i = 0; i < n; i++) {
    a[i] = *hart_tensor_set_at(src, i);
    g_string_append_printf(idx, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                           a[i].name, i < half ? 1 : 2);
  }
  if (extra != NULL)
    g_string_append_printf(idx, ", %s", extra);
  g_string_append(idx, "}}");
  if (hart_safetensors_write(p1, a, half, &err) != HART_OK ||
      hart_safetensors_write(p2, a + half, n - half, &err) != HART_OK ||
      hart_write_file_atomic(pi, idx->str, idx->len, &err) != HART_OK)
    g_error("%s", err.msg);
  g_string_free(idx, TRUE);
  g_free(a);
  g_free(p1);
  g_free(p2);
  g_free(pi);
}

static void expect_dir_error(const char *dir, hart_status code, const char *needle)
{
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  g_assert_cmpint(hart_tensor_set_open_dir(dir, &set, &err), ==, code);
  g_test_message("%s", err.msg);
  if (strstr(err.msg, needle) == NULL || strstr(err.msg, "model.safetensors.index.json") == NULL)
    g_error("message \"%s\" does not name %s and the index", err.msg, needle);
  g_assert_null(set);
}

static void test_sharded(void)
{
  hart_tensor_set *src, *set = NULL;
  hart_error err = { 0 };
  char *dir, *p;

  if (!ht_require_shared("golden/tiny/llm/model.safetensors"))
    return;
  src = ht_open_st("golden/tiny/llm/model.safetensors");
  dir = make_tmpdir();
  write_sharded(dir, src, NULL);
  if (hart_tensor_set_open_dir(dir, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_true(g_str_has_suffix(hart_tensor_set_origin(set), "model.safetensors.index.json"));
  assert_sets_equal(set, src);
  hart_tensor_set_free(set);

  /* A name listed but in no shard. */
  write_sharded(dir, src, "\"ghost.weight\": \"model-00001-of-00002.safetensors\"");
  expect_dir_error(dir, HART_ERR_FORMAT, "ghost.weight");
  /* An index pointing to a shard that is not there. */
  write_sharded(dir, src, "\"ghost.weight\": \"model-00003-of-00003.safetensors\"");
  expect_dir_error(dir, HART_ERR_IO, "model-00003-of-00003.safetensors");
  /* A shard name leading out of the folder. */
  write_sharded(dir, src, "\"ghost.weight\": \"../model.safetensors\"");
  expect_dir_error(dir, HART_ERR_FORMAT, "../model.safetensors");
  /* The same name in two shards: shard 2 also gets word_embed.weight (from shard 1). */
  write_sharded(dir, src, NULL);
  {
    size_t n = hart_tensor_set_count(src), half = n / 2;
    hart_tensor *a = g_new(hart_tensor, n - half + 1);
    for (size_t i = half; i < n; i++)
      a[i - half] = *hart_tensor_set_at(src, i);
    a[n - half] = *hart_tensor_set_at(src, 0);
    p = g_build_filename(dir, "model-00002-of-00002.safetensors", NULL);
    if (hart_safetensors_write(p, a, n - half + 1, &err) != HART_OK)
      g_error("%s", err.msg);
    expect_dir_error(dir, HART_ERR_FORMAT, hart_tensor_set_at(src, 0)->name);
    g_free(p);
    g_free(a);
  }
  /* Not an object. */
  p = g_build_filename(dir, "model.safetensors.index.json", NULL);
  g_assert_true(g_file_set_contents(p, "[1, 2]", -1, NULL));
  expect_dir_error(dir, HART_ERR_FORMAT, "not a JSON object");
  g_free(p);
  hart_tensor_set_free(src);
  ht_rm_tree(dir);
  g_free(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/write-roundtrip", test_writer_roundtrip);
  g_test_add_func("/safetensors/write-refuses", test_writer_refuses);
  g_test_add_func("/model-files/dir-preference", test_dir_preference);
  g_test_add_func("/model-files/sharded", test_sharded);
  return g_test_run();
}
