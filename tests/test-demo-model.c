/* test-demo-model.c: where the app (hs-demo-model.c) and `hart` (engine/tools/demo_model.c) look
 * for the demo model: the environment override alone when set, else the installed folder, else
 * the source tree's; folders that are missing or do not validate are passed over with a reason;
 * and `hart generate` without --model draws with the demo model it finds. The demo folders are
 * made from the tiny reference model in ../shared (skipped when it is missing). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"
#include "demo_model.h"
#include "hs-demo-model.h"

static char *shared_path(const char *rel)
{
  const char *shared = g_getenv("HART_SHARED");
  return g_build_filename(shared ? shared : "../shared", rel, NULL);
}

static void link_file(const char *target_rel, const char *dir, const char *name)
{
  g_autofree char *target = shared_path(target_rel);
  g_autofree char *link = g_build_filename(dir, name, NULL);

  g_assert_no_errno(g_mkdir_with_parents(dir, 0755));
  g_assert_no_errno(symlink(target, link));
}

/* <tmp>/hart-demo-64px/{llm,tokenizer} and <tmp>/qwen2-demo/ from the tiny reference model, the
 * layout data/demo-model/ has. NULL (test skipped) without ../shared. */
static char *make_demo_dir(void)
{
  g_autofree char *probe = shared_path("golden/tiny/llm/model.safetensors");
  g_autofree char *text_probe = shared_path("text/qwen2-tiny/model.safetensors");
  char *root;
  g_autofree char *llm = NULL, *vae = NULL, *text = NULL;

  if (!g_file_test(probe, G_FILE_TEST_EXISTS) || !g_file_test(text_probe, G_FILE_TEST_EXISTS)) {
    g_test_skip("../shared (golden/tiny, text/qwen2-tiny) is missing");
    return NULL;
  }
  root = g_dir_make_tmp("hs-demo-model-XXXXXX", NULL);
  llm = g_build_filename(root, HS_DEMO_HART_SUBDIR, "llm", NULL);
  vae = g_build_filename(root, HS_DEMO_HART_SUBDIR, "tokenizer", NULL);
  text = g_build_filename(root, HS_DEMO_TEXT_SUBDIR, NULL);
  link_file("golden/tiny/llm/config.json", llm, "config.json");
  link_file("golden/tiny/llm/model.safetensors", llm, "model.safetensors");
  link_file("golden/tiny/tokenizer/config.json", vae, "config.json");
  link_file("golden/tiny/tokenizer/model.safetensors", vae, "model.safetensors");
  link_file("text/qwen2-tiny/config.json", text, "config.json");
  link_file("text/qwen2-tiny/model.safetensors", text, "model.safetensors");
  link_file("text/tokenizer.json", text, "tokenizer.json");
  return root;
}

/* Both lookups with HART_STUDIO_DEMO_MODEL_DIR and HART_DEMO_MODEL_DIR set to value (NULL:
 * unset): the app's result (root or NULL) and whether `hart`'s agrees. */
static char *find_both(const char *value, char **app_error)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) cli_error = NULL;
  g_autofree char *hart = NULL, *text = NULL, *cli_hart = NULL, *cli_text = NULL;
  char *root;
  gboolean cli_found;

  if (value != NULL) {
    g_setenv(HS_ENV_DEMO_MODEL_DIR, value, TRUE);
    g_setenv(HART_DEMO_MODEL_ENV, value, TRUE);
  } else {
    g_unsetenv(HS_ENV_DEMO_MODEL_DIR);
    g_unsetenv(HART_DEMO_MODEL_ENV);
  }
  root = hs_demo_model_find(&hart, &text, &error);
  cli_found = hart_demo_model_find(&cli_hart, &cli_text, &cli_error);
  g_assert_cmpint(cli_found, ==, root != NULL);
  if (root != NULL) {
    g_autofree char *want_hart = g_build_filename(root, HS_DEMO_HART_SUBDIR, NULL);
    g_autofree char *want_text = g_build_filename(root, HS_DEMO_TEXT_SUBDIR, NULL);
    g_assert_no_error(error);
    g_assert_cmpstr(hart, ==, want_hart);
    g_assert_cmpstr(text, ==, want_text);
    g_assert_cmpstr(cli_hart, ==, want_hart);
    g_assert_cmpstr(cli_text, ==, want_text);
  } else {
    g_assert_nonnull(error);
    g_assert_nonnull(cli_error);
    g_test_message("app: %s; hart: %s", error->message, cli_error->message);
    if (app_error != NULL)
      *app_error = g_strdup(error->message);
  }
  return root;
}

static void test_candidates_order(void)
{
  g_auto(GStrv) defaults = NULL;
  g_auto(GStrv) overridden = NULL;
  g_auto(GStrv) disabled = NULL;

  g_unsetenv(HS_ENV_DEMO_MODEL_DIR);
  defaults = hs_demo_model_candidates();
  g_assert_cmpuint(g_strv_length(defaults), ==, 2);
  g_assert_cmpstr(defaults[0], ==, HART_DEMO_MODEL_INSTALL_DIR);
  g_assert_cmpstr(defaults[1], ==, HART_DEMO_MODEL_SOURCE_DIR);
  g_assert_true(g_str_has_suffix(defaults[0], "/hart-studio/demo-model"));
  g_assert_true(g_str_has_suffix(defaults[1], "/data/demo-model"));

  /* The override is the only place looked at; empty means no demo model. */
  g_setenv(HS_ENV_DEMO_MODEL_DIR, "/somewhere/demo", TRUE);
  overridden = hs_demo_model_candidates();
  g_assert_cmpuint(g_strv_length(overridden), ==, 1);
  g_assert_cmpstr(overridden[0], ==, "/somewhere/demo");
  g_setenv(HS_ENV_DEMO_MODEL_DIR, "", TRUE);
  disabled = hs_demo_model_candidates();
  g_assert_cmpuint(g_strv_length(disabled), ==, 0);
  g_unsetenv(HS_ENV_DEMO_MODEL_DIR);
}

static void test_env_override(void)
{
  g_autofree char *root = make_demo_dir();
  g_autofree char *found = NULL;

  if (root == NULL)
    return;
  found = find_both(root, NULL);
  g_assert_cmpstr(found, ==, root);
  ht_rm_tree(root);
}

static void test_missing_and_disabled(void)
{
  g_autofree char *error = NULL;
  g_autofree char *empty_error = NULL;
  g_autofree char *found = NULL;
  g_autofree char *none = NULL;

  /* An override to a missing folder rules out the installed and source folders too. */
  found = find_both("/nonexistent/hart-demo", &error);
  g_assert_null(found);
  g_assert_nonnull(strstr(error, "/nonexistent/hart-demo: no such folder"));
  none = find_both("", &empty_error);
  g_assert_null(none);
  g_assert_nonnull(strstr(empty_error, HS_ENV_DEMO_MODEL_DIR " is empty"));
}

static void test_invalid_folders(void)
{
  g_autofree char *root = make_demo_dir();
  g_autofree char *config = NULL, *tokenizer = NULL, *weights = NULL;

  if (root == NULL)
    return;
  config = g_build_filename(root, HS_DEMO_HART_SUBDIR, "llm", "config.json", NULL);
  tokenizer = g_build_filename(root, HS_DEMO_TEXT_SUBDIR, "tokenizer.json", NULL);
  weights = g_build_filename(root, HS_DEMO_HART_SUBDIR, "tokenizer", "model.safetensors", NULL);

  /* No tokenizer.json beside the text encoder: prompts could not be read. */
  {
    g_autofree char *error = NULL;
    g_autofree char *found = NULL;
    g_autofree char *text_dir = g_path_get_dirname(tokenizer);
    g_assert_no_errno(g_unlink(tokenizer));
    found = find_both(root, &error);
    g_assert_null(found);
    g_assert_nonnull(strstr(error, "tokenizer.json: missing"));
    link_file("text/tokenizer.json", text_dir, "tokenizer.json");
    g_free(find_both(root, NULL));
  }
  /* A config that is not JSON. */
  {
    g_autofree char *error = NULL;
    g_autofree char *found = NULL;
    g_autofree char *llm_dir = g_path_get_dirname(config);
    g_assert_no_errno(g_unlink(config));
    g_assert_true(g_file_set_contents(config, "{ not json", -1, NULL));
    found = find_both(root, &error);
    g_assert_null(found);
    g_assert_nonnull(strstr(error, root));
    g_assert_no_errno(g_unlink(config));
    link_file("golden/tiny/llm/config.json", llm_dir, "config.json");
  }
  /* Weights cut short. */
  {
    g_autofree char *error = NULL;
    g_autofree char *found = NULL;
    g_autofree char *full = shared_path("golden/tiny/tokenizer/model.safetensors");
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(full, &bytes, &len, NULL));
    g_assert_no_errno(g_unlink(weights));
    g_assert_true(g_file_set_contents(weights, bytes, (gssize)(len / 2), NULL));
    found = find_both(root, &error);
    g_assert_null(found);
    g_assert_nonnull(strstr(error, root));
  }
  ht_rm_tree(root);
}

/* `hart generate` with no --model: the demo model, or a clear refusal without one. */
static void test_cli_generate(void)
{
  const char *cli = g_getenv("HART_CLI");
  g_autofree char *root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *out_err = NULL;
  g_autofree char *png = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  const char *argv[] = { cli,      "generate", "--prompt",  "a red circle on the left",
                         "--seed", "3",        "--threads", "1",
                         "--out",  NULL,       NULL };

  if (cli == NULL) {
    g_test_skip("HART_CLI is not set");
    return;
  }
  root = make_demo_dir();
  if (root == NULL)
    return;
  png = g_build_filename(root, "out.png", NULL);
  argv[9] = png;
  g_setenv(HART_DEMO_MODEL_ENV, root, TRUE);
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &out_err,
                             &status, &error));
  g_assert_no_error(error);
  g_test_message("%s", out_err);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(out_err, "using the demo model"));
  g_assert_true(g_file_test(png, G_FILE_TEST_IS_REGULAR));

  g_clear_pointer(&out, g_free);
  g_clear_pointer(&out_err, g_free);
  g_setenv(HART_DEMO_MODEL_ENV, "", TRUE);
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &out_err,
                             &status, &error));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(out_err, "no --model given and no demo model"));
  g_unsetenv(HART_DEMO_MODEL_ENV);
  ht_rm_tree(root);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/demo-model/candidates-order", test_candidates_order);
  g_test_add_func("/demo-model/env-override", test_env_override);
  g_test_add_func("/demo-model/missing-and-disabled", test_missing_and_disabled);
  g_test_add_func("/demo-model/invalid-folders", test_invalid_folders);
  g_test_add_func("/demo-model/cli-generate", test_cli_generate);
  return g_test_run();
}
