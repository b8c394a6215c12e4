/* hs-demo-model.c: finding the demo model (see the header). */
#include "hs-demo-model.h"

#include <gio/gio.h>

#include "hs-model-validate.h"

GStrv hs_demo_model_candidates(void)
{
  const char *env = g_getenv(HS_ENV_DEMO_MODEL_DIR);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

  /* An explicit folder is the only one looked at, so tests (and users) can rule the others out:
   * set but empty, there is no demo model at all. */
  if (env != NULL) {
    if (*env != '\0')
      g_strv_builder_add(builder, env);
  } else {
    g_strv_builder_add(builder, HART_DEMO_MODEL_INSTALL_DIR);
    g_strv_builder_add(builder, HART_DEMO_MODEL_SOURCE_DIR);
  }
  return g_strv_builder_end(builder);
}

gboolean hs_demo_model_check(const char *root, GError **error)
{
  g_autofree char *hart = g_build_filename(root, HS_DEMO_HART_SUBDIR, NULL);
  g_autofree char *text = g_build_filename(root, HS_DEMO_TEXT_SUBDIR, NULL);
  g_autofree char *tokenizer = g_build_filename(text, "tokenizer.json", NULL);
  g_autoptr(GError) local = NULL;

  if (!g_file_test(root, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such folder", root);
    return FALSE;
  }
  /* The encoder's weights validate without the tokenizer, but prompts need it. */
  if (!g_file_test(tokenizer, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: missing", tokenizer);
    return FALSE;
  }
  if (!hs_model_validate_dir(hart, HS_MODEL_PART_HART, &local) ||
      !hs_model_validate_dir(text, HS_MODEL_PART_TEXT, &local)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", root, local->message);
    return FALSE;
  }
  return TRUE;
}

char *hs_demo_model_find(char **hart_dir, char **text_dir, GError **error)
{
  g_auto(GStrv) candidates = hs_demo_model_candidates();
  g_autoptr(GString) reasons = g_string_new(NULL);

  for (guint i = 0; candidates[i] != NULL; i++) {
    g_autoptr(GError) local = NULL;

    if (hs_demo_model_check(candidates[i], &local)) {
      if (hart_dir != NULL)
        *hart_dir = g_build_filename(candidates[i], HS_DEMO_HART_SUBDIR, NULL);
      if (text_dir != NULL)
        *text_dir = g_build_filename(candidates[i], HS_DEMO_TEXT_SUBDIR, NULL);
      return g_strdup(candidates[i]);
    }
    g_string_append_printf(reasons, "%s%s", reasons->len ? "; " : "", local->message);
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no demo model (%s)",
              reasons->len ? reasons->str : HS_ENV_DEMO_MODEL_DIR " is empty");
  return NULL;
}
