/* test-history-cli.c: hart-studio-history against a real history: list (text and JSON), search,
 * favorites, export (byte-identical PNGs with their settings), reconcile --reindex, bad usage. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "test-history-util.h"

/* Runs the CLI; returns its stdout (g_free) and sets *status. */
static char *run_cli(const char *dir, int *status, const char *arg1, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_autoptr(GError) error = NULL;
  char *out = NULL, *err = NULL;
  const char *a;
  va_list ap;

  g_ptr_array_add(argv, (char *)g_getenv("HS_HISTORY_CLI"));
  g_ptr_array_add(argv, (char *)"--dir");
  g_ptr_array_add(argv, (char *)dir);
  va_start(ap, arg1);
  for (a = arg1; a != NULL; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             &err, status, &error));
  g_assert_no_error(error);
  if (err[0] != '\0')
    g_test_message("stderr: %s", err);
  g_free(err);
  return out;
}

static guint count_lines(const char *s)
{
  guint n = 0;

  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void test_cli(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autofree char *dest = g_build_filename(dir, "export", NULL);
  g_autoptr(GError) error = NULL;
  HsHistory *h;
  HsHistoryItem *a, *b;
  char *out;
  int status = -1;

  if (g_getenv("HS_HISTORY_CLI") == NULL) {
    g_test_skip("HS_HISTORY_CLI is not set (run through meson test)");
    return;
  }
  h = hs_history_new(dir);
  a = th_add(h, "a quiet harbor at dawn", 5, 16, 16, &error);
  b = th_add(h, "a busy market", G_MAXUINT64, 16, 16, &error);
  g_assert_no_error(error);
  g_assert_true(th_favorite(h, a, TRUE, &error));

  out = run_cli(dir, &status, "list", NULL);
  g_assert_cmpint(status, ==, 0);
  g_assert_cmpuint(count_lines(out), ==, 2);
  /* Newest first, with the full 64-bit seed. */
  g_assert_true(strstr(out, "a busy market") < strstr(out, "a quiet harbor"));
  g_assert_nonnull(strstr(out, "seed 18446744073709551615"));
  g_free(out);

  out = run_cli(dir, &status, "search", "harb", NULL);
  g_assert_cmpint(status, ==, 0);
  g_assert_cmpuint(count_lines(out), ==, 1);
  g_assert_nonnull(strstr(out, "a quiet harbor at dawn"));
  g_free(out);

  out = run_cli(dir, &status, "list", "--favorites", "--json", NULL);
  g_assert_cmpint(status, ==, 0);
  g_assert_cmpuint(count_lines(out), ==, 1);
  {
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    g_assert_true(json_parser_load_from_data(parser, out, -1, &error));
    o = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(o, "prompt"), ==, "a quiet harbor at dawn");
    g_assert_cmpstr(json_object_get_string_member(o, "seed"), ==, "5");
    g_assert_true(json_object_get_boolean_member(o, "favorite"));
    g_assert_cmpstr(json_object_get_string_member(o, "path"), ==,
                    hs_history_item_get_image_path(a));
  }
  g_free(out);

  out = run_cli(dir, &status, "export", dest, "--query", "market", NULL);
  g_assert_cmpint(status, ==, 0);
  g_free(out);
  g_assert_cmpuint(th_count_files(dest, ""), ==, 1);
  {
    g_autofree char *name = g_path_get_basename(hs_history_item_get_image_path(b));
    g_autofree char *copy = g_build_filename(dest, name, NULL);
    g_autoptr(GBytes) x = th_file_bytes(hs_history_item_get_image_path(b));
    g_autoptr(GBytes) y = th_file_bytes(copy);
    g_autoptr(HsGenParams) p = NULL;
    g_assert_true(g_bytes_equal(x, y));
    g_assert_true(hs_png_meta_read(copy, &p, &error));
    g_assert_cmpstr(p->prompt, ==, "a busy market");
    /* Exporting again never overwrites. */
    out = run_cli(dir, &status, "export", dest, NULL);
    g_assert_cmpint(status, !=, 0);
    g_free(out);
  }

  /* An orphan (a crash between rename and commit): reported, then restored. */
  g_assert_true(th_delete(h, b, &error));
  g_object_unref(a);
  g_object_unref(b);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(h);
  {
    g_autoptr(HsGenParams) p = th_params("an orphan", 9);
    g_autofree guint8 *rgb = th_pattern(8, 8, 9);
    g_autoptr(GBytes) png = hs_png_meta_encode(rgb, 8, 8, p, &error);
    g_autofree char *path = g_build_filename(dir, "images", "orphan.png", NULL);
    g_assert_true(g_file_set_contents(path, g_bytes_get_data(png, NULL),
                                      (gssize)g_bytes_get_size(png), NULL));
  }
  out = run_cli(dir, &status, "reconcile", "--reindex", NULL);
  g_assert_cmpint(status, ==, 0);
  g_assert_nonnull(strstr(out, "pending deletes finished: 1"));
  g_assert_nonnull(strstr(out, "orphan images: 1"));
  g_assert_nonnull(strstr(out, "restored:"));
  g_free(out);
  out = run_cli(dir, &status, "search", "orphan", NULL);
  g_assert_cmpuint(count_lines(out), ==, 1);
  g_free(out);

  out = run_cli(dir, &status, "frobnicate", NULL);
  g_assert_cmpint(status, !=, 0);
  g_free(out);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history/cli", test_cli);
  return g_test_run();
}
