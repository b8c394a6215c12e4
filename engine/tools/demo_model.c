/* demo_model.c: finding the demo model for `hart` (see demo_model.h). */
#include "demo_model.h"

#include <gio/gio.h>

#include "config.h"
#include "model_part.h"

static gboolean engine_error(const char *root, const hart_error *err, GError **error)
{
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", root, err->msg);
  return FALSE;
}

gboolean hart_demo_model_check(const char *root, GError **error)
{
  g_autofree char *hart = g_build_filename(root, HART_DEMO_HART_SUBDIR, NULL);
  g_autofree char *llm_dir = g_build_filename(hart, "llm", NULL);
  g_autofree char *vae_dir = g_build_filename(hart, "tokenizer", NULL);
  g_autofree char *text = g_build_filename(root, HART_DEMO_TEXT_SUBDIR, NULL);
  g_autofree char *tokenizer = g_build_filename(text, "tokenizer.json", NULL);
  hart_model_part llm, vae, qwen;
  hart_error err = { 0 };
  gboolean ok;

  if (!g_file_test(root, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such folder", root);
    return FALSE;
  }
  /* The text encoder's config and weights open without the tokenizer; prompts need it. */
  if (!g_file_test(tokenizer, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: missing", tokenizer);
    return FALSE;
  }
  if (hart_model_part_open(text, HART_PART_QWEN2, &qwen, &err) != HART_OK)
    return engine_error(root, &err, error);
  hart_model_part_clear(&qwen);
  if (hart_model_part_open(llm_dir, HART_PART_LLM, &llm, &err) != HART_OK)
    return engine_error(root, &err, error);
  if (hart_model_part_open(vae_dir, HART_PART_VAE, &vae, &err) != HART_OK) {
    hart_model_part_clear(&llm);
    return engine_error(root, &err, error);
  }
  ok = hart_config_check_pair(&llm.llm, &vae.vae, hart, &err) == HART_OK &&
       hart_model_check_pair(&llm, &vae, &err) == HART_OK;
  hart_model_part_clear(&llm);
  hart_model_part_clear(&vae);
  return ok || engine_error(root, &err, error);
}

gboolean hart_demo_model_find(char **hart_dir, char **text_dir, GError **error)
{
  const char *env = g_getenv(HART_DEMO_MODEL_ENV);
  /* An explicit folder is the only one looked at, so a test or a user can rule the others out. */
  const char *installed[] = { HART_DEMO_MODEL_INSTALL_DIR, HART_DEMO_MODEL_SOURCE_DIR, NULL };
  const char *only_env[] = { env, NULL };
  const char *const *candidates = env != NULL ? only_env : installed;
  g_autoptr(GString) reasons = g_string_new(NULL);

  for (gsize i = 0; candidates[i] != NULL; i++) {
    g_autoptr(GError) local = NULL;

    if (*candidates[i] != '\0' && hart_demo_model_check(candidates[i], &local)) {
      *hart_dir = g_build_filename(candidates[i], HART_DEMO_HART_SUBDIR, NULL);
      *text_dir = g_build_filename(candidates[i], HART_DEMO_TEXT_SUBDIR, NULL);
      return TRUE;
    }
    g_string_append_printf(reasons, "%s%s", reasons->len ? "; " : "",
                           local ? local->message : HART_DEMO_MODEL_ENV " is empty");
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no demo model (%s)", reasons->str);
  return FALSE;
}
