/* test-history-record.c: a finished generation (HsRequest + HsImage + engine info, as the engine
 * worker returns them) becomes a history row and a PNG with every setting. */
#include "hs-history-record.h"
#include "test-history-util.h"

typedef struct {
  GAsyncResult *res;
} Wait;

static void on_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ((Wait *)data)->res = g_object_ref(res);
}

static void test_record(void)
{
  g_autofree char *dir = th_tmpdir();
  g_autoptr(GError) error = NULL;
  HsHistory *h = hs_history_new(dir);
  g_autoptr(HsRequest) req = hs_request_new();
  g_autoptr(GBytes) rgb = g_bytes_new_take(th_pattern(64, 32, 3), 64 * 32 * 3);
  g_autoptr(HsImage) image = hs_image_new(64, 32, rgb);
  g_autoptr(HsGenParams) meta = NULL;
  g_autoptr(HsHistoryItem) item = NULL;
  hart_engine_info info = { 0 };
  const HsGenParams *p;
  Wait w = { NULL };
  int width = 0, height = 0;
  g_autofree guint8 *px = NULL;

  req->prompt = g_strdup("a tiny test image");
  req->seed = 987654321987654321ull;
  req->cfg = 7.0;
  req->smooth = FALSE;
  req->use_system_prompt = FALSE;
  image->t_total = 1.25;
  image->t_transformer = 1.0;
  info.backend_name = "cpu";
  info.device_name = "CPU (2 threads)";
  g_strlcpy(info.model_id, "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
            sizeof(info.model_id));

  hs_history_record_async(h, req, image, &info, "/models/hart-0.7b-1024px", NULL, on_ready, &w);
  while (w.res == NULL)
    g_main_context_iteration(NULL, TRUE);
  item = hs_history_add_finish(h, w.res, &error);
  g_object_unref(w.res);
  g_assert_no_error(error);
  p = hs_history_item_get_params(item);
  g_assert_cmpstr(p->prompt, ==, "a tiny test image");
  g_assert_cmpuint(p->seed, ==, 987654321987654321ull);
  g_assert_cmpfloat(p->cfg, ==, 7.0);
  g_assert_false(p->smooth);
  g_assert_false(p->use_system_prompt);
  g_assert_cmpint(p->width, ==, 64);
  g_assert_cmpint(p->height, ==, 32);
  g_assert_cmpfloat(p->t_total, ==, 1.25);
  g_assert_cmpstr(p->model_name, ==, "hart-0.7b-1024px");
  g_assert_cmpstr(p->model_hash, ==, info.model_id);
  g_assert_cmpstr(p->backend, ==, "cpu");
  g_assert_cmpstr(p->device, ==, "CPU (2 threads)");
  g_assert_cmpstr(p->engine_version, ==, hart_version());

  /* The PNG holds the pixels and the settings. */
  px = th_png_pixels(hs_history_item_get_image_path(item), &width, &height);
  g_assert_nonnull(px);
  g_assert_cmpmem(px, 64 * 32 * 3, g_bytes_get_data(rgb, NULL), 64 * 32 * 3);
  g_assert_true(hs_png_meta_read(hs_history_item_get_image_path(item), &meta, &error));
  g_assert_cmpuint(meta->seed, ==, 987654321987654321ull);
  g_assert_cmpstr(meta->model_hash, ==, info.model_id);

  g_clear_object(&item);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_assert_finalize_object(h);
  th_rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history/record", test_record);
  return g_test_run();
}
