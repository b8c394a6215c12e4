/* test-convert.c: hart convert on shared/golden/tiny (every torch.save checkpoint becomes a
 * safetensors file with identical tensors), its failure modes, and the hart inspect / convert
 * commands of the CLI on every golden folder. */
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "model_convert.h"
#include "model_files.h"

static hart_tensor_set *open_any(const char *path)
{
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  if (hart_tensor_set_open_file(path, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  return set;
}

static void assert_identical(const hart_tensor_set *got, const hart_tensor_set *want)
{
  g_assert_cmpuint(hart_tensor_set_count(got), ==, hart_tensor_set_count(want));
  for (size_t i = 0; i < hart_tensor_set_count(want); i++) {
    const hart_tensor *w = hart_tensor_set_at(want, i), *g = hart_tensor_set_get(got, w->name);
    if (g == NULL)
      g_error("%s missing", w->name);
    g_assert_cmpint(g->dtype, ==, w->dtype);
    g_assert_cmpint(g->ndim, ==, w->ndim);
    g_assert_true(memcmp(g->shape, w->shape, sizeof w->shape) == 0);
    g_assert_cmpuint(g->nbytes, ==, w->nbytes);
    if (memcmp(g->data, w->data, w->nbytes) != 0)
      g_error("%s: bytes differ", w->name);
  }
}

static void assert_same_file(const char *a, const char *b)
{
  gchar *x = NULL, *y = NULL;
  gsize lx, ly;
  g_assert_true(g_file_get_contents(a, &x, &lx, NULL));
  g_assert_true(g_file_get_contents(b, &y, &ly, NULL));
  g_assert_cmpuint(lx, ==, ly);
  g_assert_true(memcmp(x, y, lx) == 0);
  g_free(x);
  g_free(y);
}

static void log_line(const char *line, void *user)
{
  g_test_message("%s", line);
  (*(int *)user)++;
}

static void test_convert_tiny(void)
{
  static const char *const bins[] = { "llm/ema_model", "pickles/bf16", "pickles/fp16",
                                      "pickles/views" };
  static const char *const copies[] = { "llm/config.json",       "llm/model.safetensors",
                                        "tokenizer/config.json", "case.json",
                                        "pickles/legacy.bin",    "pickles/contents.json",
                                        "run_smooth0_b0.png" };
  char *src, *tmp, *dst;
  hart_convert_report rep;
  hart_error err = { 0 };
  int lines = 0;

  if (!ht_require_shared("golden/tiny/llm/ema_model.bin"))
    return;
  src = ht_shared_path("golden/tiny");
  tmp = g_dir_make_tmp("hart-convert-XXXXXX", NULL);
  dst = g_build_filename(tmp, "tiny-converted", NULL);
  if (hart_convert_folder(src, dst, log_line, &lines, &rep, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_cmpint(rep.n_converted, ==, 4);
  g_assert_cmpint(rep.n_legacy, ==, 1);
  g_assert_cmpint(lines, ==, 5);
  for (size_t i = 0; i < G_N_ELEMENTS(bins); i++) {
    char *bin = g_strdup_printf("%s/%s.bin", src, bins[i]);
    char *st = g_strdup_printf("%s/%s.safetensors", dst, bins[i]);
    char *gone = g_strdup_printf("%s/%s.bin", dst, bins[i]);
    hart_tensor_set *a = open_any(bin), *b = NULL;
    if (hart_tensor_set_open_safetensors(st, &b, &err) != HART_OK)
      g_error("%s", err.msg);
    assert_identical(b, a);
    g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
    hart_tensor_set_free(a);
    hart_tensor_set_free(b);
    g_free(bin);
    g_free(st);
    g_free(gone);
  }
  /* The converted EMA weights equal the original safetensors file, and the folder loader now
   * picks them without reading a pickle. */
  {
    char *llm = g_build_filename(dst, "llm", NULL);
    hart_tensor_set *conv = NULL, *orig = ht_open_st("golden/tiny/llm/model.safetensors");
    if (hart_tensor_set_open_dir(llm, &conv, &err) != HART_OK)
      g_error("%s", err.msg);
    g_assert_true(g_str_has_suffix(hart_tensor_set_origin(conv), "/ema_model.safetensors"));
    assert_identical(conv, orig);
    hart_tensor_set_free(conv);
    hart_tensor_set_free(orig);
    g_free(llm);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(copies); i++) {
    char *a = g_build_filename(src, copies[i], NULL), *b = g_build_filename(dst, copies[i], NULL);
    assert_same_file(a, b);
    g_free(a);
    g_free(b);
  }
  /* A second convert into the same (now non-empty) destination is refused. */
  g_assert_cmpint(hart_convert_folder(src, dst, NULL, NULL, &rep, &err), ==,
                  HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(err.msg, dst));
  ht_rm_tree(tmp);
  g_free(dst);
  g_free(tmp);
  g_free(src);
}

/* A corrupt checkpoint fails the whole convert and leaves neither dst nor a partial folder. */
static void test_convert_failure_leaves_nothing(void)
{
  char *tmp = g_dir_make_tmp("hart-convert-XXXXXX", NULL);
  char *src = g_build_filename(tmp, "src", NULL), *dst = g_build_filename(tmp, "dst", NULL);
  char *bad = g_build_filename(src, "pytorch_model.bin", NULL);
  char *ok = g_build_filename(src, "config.json", NULL);
  hart_error err = { 0 };
  GDir *d;
  const char *n;
  int entries = 0;

  g_assert_cmpint(g_mkdir(src, 0755), ==, 0);
  /* A zip local header and nothing else: sniffed as a checkpoint, unreadable. */
  g_assert_true(g_file_set_contents(bad, "PK\x03\x04truncated", 14, NULL));
  g_assert_true(g_file_set_contents(ok, "{}", -1, NULL));
  g_assert_cmpint(hart_convert_folder(src, dst, NULL, NULL, NULL, &err), ==, HART_ERR_FORMAT);
  g_test_message("%s", err.msg);
  g_assert_nonnull(strstr(err.msg, "pytorch_model.bin"));
  g_assert_false(g_file_test(dst, G_FILE_TEST_EXISTS));
  d = g_dir_open(tmp, 0, NULL);
  while ((n = g_dir_read_name(d)) != NULL)
    entries++;
  g_dir_close(d);
  g_assert_cmpint(entries, ==, 1); /* only src */
  /* A destination inside the source would copy itself. */
  g_unlink(bad);
  {
    char *inner = g_build_filename(src, "converted", NULL);
    g_assert_cmpint(hart_convert_folder(src, inner, NULL, NULL, NULL, &err), ==,
                    HART_ERR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(err.msg, "inside"));
    g_assert_false(g_file_test(inner, G_FILE_TEST_EXISTS));
    g_free(inner);
  }
  ht_rm_tree(tmp);
  g_free(bad);
  g_free(ok);
  g_free(src);
  g_free(dst);
  g_free(tmp);
}

static int run_cli(const char *const *args, char **out, char **errout)
{
  const char *cli = g_getenv("HART_CLI");
  GPtrArray *argv = g_ptr_array_new();
  GError *gerr = NULL;
  int status = -1;

  g_ptr_array_add(argv, (gpointer)cli);
  for (size_t i = 0; args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, errout,
                    &status, &gerr))
    g_error("%s", gerr->message);
  g_ptr_array_unref(argv);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli_inspect(void)
{
  static const char *const dirs[] = { "golden/tiny", "golden/small", "golden/tiny-aln",
                                      "text/qwen2-tiny" };
  if (g_getenv("HART_CLI") == NULL || !ht_require_shared("golden/tiny")) {
    g_test_skip("HART_CLI not set");
    return;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
    char *dir = ht_shared_path(dirs[i]), *out = NULL, *eo = NULL;
    const char *args[] = { "inspect", "--json", dir, NULL };
    JsonParser *p = json_parser_new();
    JsonObject *root, *part;
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 0);
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    root = json_node_get_object(json_parser_get_root(p));
    part = json_object_get_object_member(root, i < 3 ? "llm" : "model");
    g_assert_nonnull(part);
    g_assert_cmpint(json_object_get_int_member(part, "tensors"), >, 0);
    g_assert_cmpint(json_object_get_int_member(part, "parameters"), >, 0);
    if (i < 3)
      g_assert_nonnull(json_object_get_object_member(root, "tokenizer"));
    g_object_unref(p);
    g_free(out);
    g_free(eo);
    args[1] = dir;
    args[2] = NULL;
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 0);
    g_assert_nonnull(strstr(out, "parameters:"));
    g_assert_nonnull(strstr(out, "bytes by dtype:"));
    g_free(out);
    g_free(eo);
    g_free(dir);
  }
  {
    char *out = NULL, *eo = NULL, *dir = ht_shared_path("golden/tiny");
    const char *args[] = { "inspect", dir, NULL };
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 0);
    /* The reference's own count (case.json llm_parameters.total for tiny). */
    g_assert_nonnull(strstr(out, "parameters: 512352 (used)"));
    g_assert_nonnull(strstr(out, "ema_model.bin"));
    g_free(out);
    g_free(eo);
    g_free(dir);
  }
  {
    char *out = NULL, *eo = NULL, *dir = ht_shared_path("golden");
    const char *args[] = { "inspect", dir, NULL };
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 1);
    g_assert_nonnull(strstr(eo, "neither a HART folder"));
    g_free(out);
    g_free(eo);
    g_free(dir);
  }
}

static void test_cli_convert_and_help(void)
{
  static const char *const cmds[] = { "inspect", "convert" };
  char *tmp, *dst, *src, *out = NULL, *eo = NULL;

  if (g_getenv("HART_CLI") == NULL || !ht_require_shared("golden/small")) {
    g_test_skip("HART_CLI not set");
    return;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(cmds); i++) {
    const char *args[] = { cmds[i], "--help", NULL };
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 0);
    g_assert_nonnull(strstr(out, "Usage: hart"));
    g_free(out);
    g_free(eo);
  }
  tmp = g_dir_make_tmp("hart-convert-XXXXXX", NULL);
  dst = g_build_filename(tmp, "out", NULL);
  src = ht_shared_path("golden/small");
  {
    const char *args[] = { "convert", src, dst, NULL };
    const char *args2[] = { "inspect", dst, NULL };
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 0);
    g_assert_nonnull(strstr(out, "0 checkpoint(s) converted"));
    g_free(out);
    g_free(eo);
    g_assert_cmpint(run_cli(args2, &out, &eo), ==, 0);
    g_assert_nonnull(strstr(out, "status: ok"));
    g_free(out);
    g_free(eo);
    g_assert_cmpint(run_cli(args, &out, &eo), ==, 1); /* dst exists now */
    g_assert_nonnull(strstr(eo, "not an empty folder"));
    g_free(out);
    g_free(eo);
  }
  ht_rm_tree(tmp);
  g_free(src);
  g_free(dst);
  g_free(tmp);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/convert/tiny", test_convert_tiny);
  g_test_add_func("/convert/failure-leaves-nothing", test_convert_failure_leaves_nothing);
  g_test_add_func("/cli/inspect", test_cli_inspect);
  g_test_add_func("/cli/convert-and-help", test_cli_convert_and_help);
  return g_test_run();
}
