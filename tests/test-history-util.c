/* test-history-util.c: see test-history-util.h. */
#include "test-history-util.h"

#include <glib/gstdio.h>
#include <png.h>
#include <string.h>

char *th_tmpdir(void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("hs-history-XXXXXX", &error);

  g_assert_no_error(error);
  return dir;
}

void th_rm_rf(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;
    g_chmod(path, 0755);
    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      th_rm_rf(child);
    }
    if (d != NULL)
      g_dir_close(d);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

guint8 *th_pattern(int width, int height, guint64 seed)
{
  guint8 *rgb = g_malloc((gsize)width * height * 3);
  guint64 x = seed * 0x9E3779B97F4A7C15ull + 1;

  for (gsize i = 0; i < (gsize)width * height * 3; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rgb[i] = (guint8)(x >> 24);
  }
  return rgb;
}

guint8 *th_png_pixels(const char *path, int *width, int *height)
{
  png_image image;
  guint8 *rgb;

  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path))
    return NULL;
  image.format = PNG_FORMAT_RGB;
  rgb = g_malloc(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, NULL, rgb, 0, NULL)) {
    png_image_free(&image);
    g_free(rgb);
    return NULL;
  }
  *width = (int)image.width;
  *height = (int)image.height;
  return rgb;
}

GBytes *th_file_bytes(const char *path)
{
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents(path, &data, &len, NULL))
    return NULL;
  return g_bytes_new_take(data, len);
}

guint th_count_files(const char *dir, const char *prefix)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, prefix))
      n++;
  return n;
}

HsGenParams *th_params(const char *prompt, guint64 seed)
{
  HsGenParams *p = hs_gen_params_new();

  p->prompt = g_strdup(prompt);
  p->seed = seed;
  p->cfg = 3.25;
  p->smooth = FALSE;
  p->use_system_prompt = TRUE;
  p->model_name = g_strdup("hart-0.7b-1024px");
  p->model_revision = g_strdup("b9e0976");
  p->model_hash = g_strdup("0123456789abcdef");
  p->engine_version = g_strdup("0.1.0");
  p->backend = g_strdup("cpu");
  p->device = g_strdup("CPU (2 threads)");
  p->t_text = 0.5;
  p->t_transformer = 10.25;
  p->t_diffusion = 1.5;
  p->t_decode = 2.0;
  p->t_total = 14.25;
  return p;
}

static gboolean on_timeout(gpointer data)
{
  g_error("history test: timed out waiting for an async call");
  return G_SOURCE_REMOVE;
}

void th_wait_for(gboolean *done)
{
  guint timeout = g_timeout_add_seconds(10, on_timeout, NULL);

  while (!*done)
    g_main_context_iteration(NULL, TRUE);
  g_source_remove(timeout);
}

typedef struct {
  GAsyncResult *res;
  gboolean done;
} Wait;

static void on_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  Wait *w = data;
  w->res = g_object_ref(res);
  w->done = TRUE;
}

/* Runs one async call: `call` is a statement using on_ready/&w; `finish` the finisher. */
#define RUN(call, finish)                                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    Wait w = { NULL, FALSE };                                                                      \
    call;                                                                                          \
    th_wait_for(&w.done);                                                                          \
    ret = finish;                                                                                  \
    g_object_unref(w.res);                                                                         \
  }                                                                                                \
  G_STMT_END

gboolean th_open(HsHistory *h, GError **error)
{
  gboolean ret;
  RUN(hs_history_open_async(h, NULL, on_ready, &w), hs_history_open_finish(h, w.res, error));
  return ret;
}

HsHistoryItem *th_add(HsHistory *h, const char *prompt, guint64 seed, int width, int height,
                      GError **error)
{
  g_autoptr(HsGenParams) p = th_params(prompt, seed);
  g_autoptr(GBytes) rgb =
      g_bytes_new_take(th_pattern(width, height, seed), (gsize)width * height * 3);
  HsHistoryItem *ret;

  RUN(hs_history_add_async(h, p, rgb, width, height, NULL, on_ready, &w),
      hs_history_add_finish(h, w.res, error));
  return ret;
}

GPtrArray *th_list(HsHistory *h, const char *query, gboolean favorites_only, GError **error)
{
  GPtrArray *ret;
  RUN(hs_history_list_async(h, query, favorites_only, 0, 0, NULL, on_ready, &w),
      hs_history_list_finish(h, w.res, error));
  return ret;
}

GBytes *th_thumbnail(HsHistory *h, gint64 id, GError **error)
{
  GBytes *ret;
  RUN(hs_history_thumbnail_async(h, id, NULL, on_ready, &w),
      hs_history_thumbnail_finish(h, w.res, error));
  return ret;
}

gboolean th_favorite(HsHistory *h, HsHistoryItem *item, gboolean favorite, GError **error)
{
  gboolean ret;
  RUN(hs_history_set_favorite_async(h, item, favorite, NULL, on_ready, &w),
      hs_history_set_favorite_finish(h, w.res, error));
  return ret;
}

gboolean th_delete(HsHistory *h, HsHistoryItem *item, GError **error)
{
  gboolean ret;
  RUN(hs_history_delete_async(h, item, NULL, on_ready, &w),
      hs_history_delete_finish(h, w.res, error));
  return ret;
}

gboolean th_undo(HsHistory *h, HsHistoryItem *item, GError **error)
{
  gboolean ret;
  RUN(hs_history_undo_delete_async(h, item, NULL, on_ready, &w),
      hs_history_undo_delete_finish(h, w.res, error));
  return ret;
}

gboolean th_purge(HsHistory *h, HsHistoryItem *item, GError **error)
{
  gboolean ret;
  RUN(hs_history_purge_async(h, item, NULL, on_ready, &w),
      hs_history_purge_finish(h, w.res, error));
  return ret;
}

HsHistoryReconcileReport *th_reconcile(HsHistory *h, GError **error)
{
  HsHistoryReconcileReport *ret;
  RUN(hs_history_reconcile_async(h, NULL, on_ready, &w),
      hs_history_reconcile_finish(h, w.res, error));
  return ret;
}

HsHistoryItem *th_reindex(HsHistory *h, const char *path, GError **error)
{
  HsHistoryItem *ret;
  RUN(hs_history_reindex_async(h, path, NULL, on_ready, &w),
      hs_history_reindex_finish(h, w.res, error));
  return ret;
}
