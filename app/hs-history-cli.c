/* hs-history-cli.c: hart-studio-history, the history on the command line.
 *
 *   hart-studio-history [--dir DIR] list [--favorites] [--limit N] [--json]
 *   hart-studio-history [--dir DIR] search WORDS... [--favorites] [--limit N] [--json]
 *   hart-studio-history [--dir DIR] export DEST [--query WORDS] [--favorites]
 *   hart-studio-history [--dir DIR] reconcile [--reindex]
 *
 * It goes through HsHistory like the app, so the same recovery (damaged or newer databases)
 * applies; the notice is printed on stderr. */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "hs-history.h"

static char *opt_dir;
static gboolean opt_favorites, opt_json, opt_reindex;
static int opt_limit;
static char *opt_query;

static const GOptionEntry entries[] = {
  { "dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dir, "History folder (default: the app's)", "DIR" },
  { "favorites", 'f', 0, G_OPTION_ARG_NONE, &opt_favorites, "Favorites only", NULL },
  { "limit", 'n', 0, G_OPTION_ARG_INT, &opt_limit, "At most N images", "N" },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "JSON output (one object per line)", NULL },
  { "query", 'q', 0, G_OPTION_ARG_STRING, &opt_query, "export: only images matching", "WORDS" },
  { "reindex", 0, 0, G_OPTION_ARG_NONE, &opt_reindex, "reconcile: restore orphan images", NULL },
  { NULL },
};

/* Runs the main loop until an async call stores its result. */
typedef struct {
  GAsyncResult *res;
} Wait;

static void on_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ((Wait *)data)->res = g_object_ref(res);
}

static GAsyncResult *wait_result(Wait *w)
{
  while (w->res == NULL)
    g_main_context_iteration(NULL, TRUE);
  return w->res;
}

static GPtrArray *list_items(HsHistory *h, const char *query, GError **error)
{
  Wait w = { NULL };
  GPtrArray *items;

  hs_history_list_async(h, query, opt_favorites, 0, opt_limit > 0 ? (guint)opt_limit : 0, NULL,
                        on_ready, &w);
  items = hs_history_list_finish(h, wait_result(&w), error);
  g_object_unref(w.res);
  return items;
}

static void print_json(HsHistoryItem *item)
{
  g_autofree char *json = hs_gen_params_to_json(hs_history_item_get_params(item));
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  JsonObject *o;
  g_autofree char *line = NULL;

  /* The embedded-settings JSON plus what only the history knows. */
  if (!json_parser_load_from_data(parser, json, -1, NULL))
    return;
  o = json_node_get_object(json_parser_get_root(parser));
  json_object_set_int_member(o, "id", hs_history_item_get_id(item));
  json_object_set_string_member(o, "path", hs_history_item_get_image_path(item));
  json_object_set_boolean_member(o, "favorite", hs_history_item_get_favorite(item));
  json_object_set_boolean_member(o, "missing", hs_history_item_get_missing(item));
  json_generator_set_root(gen, json_parser_get_root(parser));
  line = json_generator_to_data(gen, NULL);
  printf("%s\n", line);
}

static void print_item(HsHistoryItem *item)
{
  const HsGenParams *p = hs_history_item_get_params(item);
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(p->created_us / G_USEC_PER_SEC);
  g_autofree char *when = t ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
  g_autofree char *prompt = g_strdup(p->prompt);

  g_strdelimit(prompt, "\n\t", ' ');
  printf("%" G_GINT64_FORMAT "\t%s\t%s%s\tseed %" G_GUINT64_FORMAT "\tcfg %g\t%s\t%s\n",
         hs_history_item_get_id(item), when, hs_history_item_get_favorite(item) ? "★" : "",
         hs_history_item_get_missing(item) ? "(missing)" : "", p->seed, p->cfg,
         hs_history_item_get_image_path(item), prompt);
}

static int cmd_list(HsHistory *h, const char *query)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = list_items(h, query, &error);

  if (items == NULL) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  for (guint i = 0; i < items->len; i++)
    opt_json ? print_json(items->pdata[i]) : print_item(items->pdata[i]);
  return 0;
}

/* Copies each image (its settings are inside) into dest; never overwrites. */
static int cmd_export(HsHistory *h, const char *dest)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = list_items(h, opt_query, &error);
  int failed = 0;

  if (items == NULL) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  if (g_mkdir_with_parents(dest, 0755) != 0) {
    g_printerr("Cannot create %s: %s\n", dest, g_strerror(errno));
    return 1;
  }
  for (guint i = 0; i < items->len; i++) {
    const char *src_path = hs_history_item_get_image_path(items->pdata[i]);
    g_autofree char *name = g_path_get_basename(src_path);
    g_autoptr(GFile) src = g_file_new_for_path(src_path);
    g_autoptr(GFile) dst = g_file_new_build_filename(dest, name, NULL);
    g_autoptr(GError) copy_error = NULL;

    if (!g_file_copy(src, dst, G_FILE_COPY_NONE, NULL, NULL, NULL, &copy_error)) {
      g_printerr("%s: %s\n", name, copy_error->message);
      failed++;
    }
  }
  printf("%u images exported to %s%s\n", items->len - failed, dest, failed ? " (some failed)" : "");
  return failed ? 1 : 0;
}

static int cmd_reconcile(HsHistory *h)
{
  Wait w = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryReconcileReport) r = NULL;
  int failed = 0;

  hs_history_reconcile_async(h, NULL, on_ready, &w);
  r = hs_history_reconcile_finish(h, wait_result(&w), &error);
  g_object_unref(w.res);
  if (r == NULL) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  printf("temp files removed: %u\nrows whose file is missing: %u\nrows found again: %u\n"
         "pending deletes finished: %u\norphan images: %u\n",
         r->temp_files_removed, r->rows_missing, r->rows_found_again, r->hidden_purged,
         g_strv_length(r->orphan_pngs));
  for (guint i = 0; r->orphan_pngs[i] != NULL; i++) {
    if (opt_reindex) {
      Wait rw = { NULL };
      g_autoptr(GError) re = NULL;
      g_autoptr(HsHistoryItem) item = NULL;
      hs_history_reindex_async(h, r->orphan_pngs[i], NULL, on_ready, &rw);
      item = hs_history_reindex_finish(h, wait_result(&rw), &re);
      g_object_unref(rw.res);
      if (item == NULL) {
        g_printerr("%s\n", re->message);
        failed++;
        continue;
      }
      printf("restored: %s\n", r->orphan_pngs[i]);
    } else {
      printf("orphan: %s\n", r->orphan_pngs[i]);
    }
  }
  return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("list|search WORDS...|export DEST|reconcile");
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistory) h = NULL;
  const char *cmd;
  Wait w = { NULL };
  int rc;

  setlocale(LC_ALL, "");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_set_summary(ctx, "Lists, searches and exports the Hart Studio history.");
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("%s\n", error->message);
    return 2;
  }
  if (argc < 2) {
    g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
    g_printerr("%s", help);
    return 2;
  }
  cmd = argv[1];
  h = hs_history_new(opt_dir);
  hs_history_open_async(h, NULL, on_ready, &w);
  if (!hs_history_open_finish(h, wait_result(&w), &error)) {
    g_object_unref(w.res);
    g_printerr("%s\n", error->message);
    return 1;
  }
  g_object_unref(w.res);
  if (hs_history_get_notice(h) != NULL)
    g_printerr("%s\n", hs_history_get_notice(h));

  if (g_str_equal(cmd, "list") && argc == 2) {
    rc = cmd_list(h, NULL);
  } else if (g_str_equal(cmd, "search") && argc >= 3) {
    g_autofree char *words = g_strjoinv(" ", argv + 2);
    rc = cmd_list(h, words);
  } else if (g_str_equal(cmd, "export") && argc == 3) {
    rc = cmd_export(h, argv[2]);
  } else if (g_str_equal(cmd, "reconcile") && argc == 2) {
    rc = cmd_reconcile(h);
  } else {
    g_printerr("Unknown command or wrong arguments: %s (see --help)\n", cmd);
    rc = 2;
  }
  g_free(opt_dir);
  g_free(opt_query);
  return rc;
}
