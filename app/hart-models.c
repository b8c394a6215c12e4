/* hart-models.c: the `hart-models` command-line tool over the model store:
 *   hart-models list | download | import DIR | verify [DIR...] | delete DIR | path
 * The engine's `hart` tool stays free of GLib networking; this tool links the app's store. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "hs-model-store.h"

static char *opt_root = NULL;
static char *opt_base_url = NULL;

static const GOptionEntry entries[] = {
  { "store", 's', 0, G_OPTION_ARG_FILENAME, &opt_root,
    "Model store folder (default: $XDG_DATA_HOME/hart-studio/models)", "DIR" },
  { "hub-url", 'u', 0, G_OPTION_ARG_STRING, &opt_base_url,
    "Hub base URL (default: $HART_STUDIO_HUB_URL, the GSettings key, or huggingface.co)", "URL" },
  { NULL },
};

static const char *const phase_names[] = { "preparing",  "downloading", "copying", "verifying",
                                           "converting", "validating",  "done" };

static void print_progress(const HsModelProgress *p, gpointer user_data)
{
  g_autofree char *done = g_format_size(p->bytes_done);
  g_autofree char *total = g_format_size(p->bytes_total);
  g_autofree char *rate = g_format_size((guint64)p->bytes_per_second);

  if (p->phase == HS_MODEL_PHASE_DOWNLOADING || p->phase == HS_MODEL_PHASE_COPYING) {
    fprintf(stderr, "\r%s %u/%u %s: %s / %s, %s/s", phase_names[p->phase], p->file_index,
            p->n_files, p->path ? p->path : "", done, total, rate);
    if (p->eta_seconds >= 0)
      fprintf(stderr, ", %.0f s left   ", p->eta_seconds);
  } else {
    fprintf(stderr, "\n%s %s", phase_names[p->phase], p->repo_id ? p->repo_id : "");
  }
  if (p->phase == HS_MODEL_PHASE_DONE)
    fputc('\n', stderr);
  fflush(stderr);
}

static int cmd_list(HsModelStore *store)
{
  g_autoptr(GPtrArray) list = hs_model_store_list(store);
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;

  for (guint i = 0; i < list->len; i++) {
    HsModelEntry *e = list->pdata[i];
    g_autofree char *size = g_format_size(hs_model_manifest_size_on_disk(e->manifest));
    printf("%-4s %-36s %-42s %-10s %10s  %s\n", hs_model_part_name(e->manifest->part),
           e->manifest->repo_id, e->manifest->revision, hs_model_state_name(e->manifest->state),
           size, e->dir);
    if (e->manifest->message[0])
      printf("     %s\n", e->manifest->message);
  }
  if (list->len == 0)
    printf("no models in %s\n", hs_model_store_get_root(store));
  if (hs_model_store_find_ready(store, hs_model_release_default(), &hart, &text))
    printf("\nready: --model %s --text-model %s\n", hart, text);
  return 0;
}

static int report(gboolean ok, GError *error)
{
  if (!ok) {
    fprintf(stderr, "\nhart-models: %s\n", error->message);
    g_error_free(error);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
  g_autoptr(HsModelStore) store = NULL;
  GError *error = NULL;
  const char *cmd;

  setlocale(LC_ALL, "");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_set_summary(ctx,
                               "Commands:\n"
                               "  list           installed models and their state\n"
                               "  download       download the pinned HART release\n"
                               "  import DIR     import a HART or Qwen2 folder\n"
                               "  verify [DIR]   re-hash and validate entries (all by default)\n"
                               "  delete DIR     remove an entry\n"
                               "  path           print the store folder");
  if (!g_option_context_parse(ctx, &argc, &argv, &error))
    return report(FALSE, error) + 1;
  if (argc < 2) {
    g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
    fputs(help, stderr);
    return 2;
  }
  cmd = argv[1];
  store = hs_model_store_new(opt_root);
  if (strcmp(cmd, "list") == 0)
    return cmd_list(store);
  if (strcmp(cmd, "path") == 0) {
    printf("%s\n", hs_model_store_get_root(store));
    return 0;
  }
  if (strcmp(cmd, "download") == 0)
    return report(hs_model_store_download_sync(store, hs_model_release_default(), opt_base_url,
                                               print_progress, NULL, NULL, &error),
                  error);
  if (strcmp(cmd, "import") == 0 && argc == 3) {
    g_autofree char *dir =
        hs_model_store_import_sync(store, argv[2], print_progress, NULL, NULL, &error);
    if (dir != NULL)
      printf("imported into %s\n", dir);
    return report(dir != NULL, error);
  }
  if (strcmp(cmd, "verify") == 0) {
    int status = 0;
    g_autoptr(GPtrArray) list = hs_model_store_list(store);
    for (int i = 2; i < argc || (argc == 2 && (guint)(i - 2) < list->len); i++) {
      const char *dir = argc > 2 ? argv[i] : ((HsModelEntry *)list->pdata[i - 2])->dir;
      gboolean ok = hs_model_store_verify_sync(store, dir, NULL, NULL, NULL, &error);
      printf("%s: %s\n", dir, ok ? "ok" : error->message);
      g_clear_error(&error);
      status |= !ok;
    }
    return status;
  }
  if (strcmp(cmd, "delete") == 0 && argc == 3)
    return report(hs_model_store_delete(store, argv[2], &error), error);
  fprintf(stderr, "hart-models: unknown command or wrong arguments: %s (see --help)\n", cmd);
  return 2;
}
