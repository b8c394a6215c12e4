/* test-worker.c: HsEngineWorker with the real engine on the tiny golden model, on the CPU:
 * result, previews, determinism of seeds, cancel mid-run, shutdown while running, error paths,
 * PNG metadata round trip; every object finalized. Skips while the engine cannot run the model. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "hs-engine-worker.h"
#include "hs-metadata.h"
#include "hs-png.h"
#include "hs-test-context.h"
#include "hs-test-worker-wait.h"

static char *skip_reason;
static gboolean text_usable;
static char *text_dir;
/* Previews of a whole run (set by /worker/generate, which runs first). */
static guint full_run_previews;

static gboolean engine_usable(void)
{
  if (skip_reason != NULL) {
    g_test_skip(skip_reason);
    return FALSE;
  }
  return TRUE;
}

static HsEngineWorker *open_tiny(hart_engine_info *info)
{
  HsEngineWorker *worker = hs_engine_worker_new();
  g_autofree char *model = hs_test_shared_path("golden/tiny");
  g_autoptr(HsEngineOptions) options = hs_engine_options_new(model, text_usable ? text_dir : NULL);
  Wait w = { 0 };
  gint64 t0 = g_get_monotonic_time();

  options->backend = HART_BACKEND_CPU;
  options->n_threads = 2;

  hs_engine_worker_open_async(worker, options, NULL, on_opened, &w);
  spin_until_done(&w, 120);
  g_assert_no_error(w.error);
  g_test_message("open: %.2f s", (g_get_monotonic_time() - t0) / 1e6);
  g_assert_true(hs_engine_worker_get_info(worker, info));
  wait_clear(&w);
  return worker;
}

/* A request the tiny model can run: the prompt through qwen2-tiny when the engine has a text
 * model, else the golden context tensor of batch element 0. */
static HsRequest *tiny_request(const hart_engine_info *info, guint64 seed)
{
  HsRequest *request = hs_request_new();
  g_autoptr(GError) error = NULL;

  request->prompt = g_strdup("a lighthouse on a cliff at sunset");
  request->seed = seed;
  if (!info->has_text_model) {
    g_assert_true(hs_test_load_context("golden/tiny", &request->context, &request->context_mask,
                                       &request->context_position_ids, &error));
    g_assert_no_error(error);
  }
  return request;
}

static void generate(HsEngineWorker *worker, const HsRequest *request, HsGeneration *generation,
                     GCancellable *cancellable, Wait *w)
{
  gint64 t0 = g_get_monotonic_time();

  hs_engine_worker_generate_async(worker, request, generation, cancellable, on_generated, w);
  spin_until_done(w, 120);
  g_test_message("generation: %.2f s wall, engine total %.2f s",
                 (g_get_monotonic_time() - t0) / 1e6, w->image ? w->image->t_total : 0.0);
}

static void test_generate(void)
{
  HsEngineWorker *worker;
  hart_engine_info info;
  g_autoptr(HsRequest) request = NULL;
  g_autoptr(HsRequest) other = NULL;
  HsGeneration *generation;
  Wait a = { 0 }, b = { 0 }, c = { 0 };

  if (!engine_usable())
    return;
  worker = open_tiny(&info);
  g_test_message("device %s, image %d px, %d scales, %d diffusion steps, text model %d",
                 info.device_name, info.image_size, info.n_scales, info.n_diffusion_steps,
                 info.has_text_model);
  g_assert_cmpint(info.image_size, ==, 64); /* tiny: patch_nums 1..4, 16 px per latent cell */
  g_assert_cmpint(info.n_scales, ==, 4);

  request = tiny_request(&info, 7);
  generation = hs_generation_new();
  generate(worker, request, generation, NULL, &a);
  g_assert_no_error(a.error);
  g_assert_cmpint(a.image->width, ==, 64);
  g_assert_cmpint(a.image->height, ==, 64);
  /* Fast previews: at least one per scale reached the generation from the engine. */
  g_test_message("previews: %u emitted, %u delivered",
                 hs_generation_get_previews_emitted(generation),
                 hs_generation_get_previews_delivered(generation));
  g_assert_cmpuint(hs_generation_get_previews_emitted(generation), >=, (guint)info.n_scales);
  full_run_previews = hs_generation_get_previews_emitted(generation);
  g_assert_cmpuint(hs_generation_get_previews_delivered(generation), <=,
                   hs_generation_get_previews_emitted(generation));

  /* Seeds are reproducible: the same request gives the same bytes, another seed other bytes. */
  generate(worker, request, NULL, NULL, &b);
  g_assert_no_error(b.error);
  g_assert_true(g_bytes_equal(a.image->rgb, b.image->rgb));
  other = tiny_request(&info, 8);
  generate(worker, other, NULL, NULL, &c);
  g_assert_no_error(c.error);
  g_assert_false(g_bytes_equal(a.image->rgb, c.image->rgb));

  wait_clear(&a);
  wait_clear(&b);
  wait_clear(&c);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

typedef struct {
  HsGeneration *generation;
  GCancellable *cancellable;
  gint stop;
} Canceller;

/* Cancels from another thread as soon as the engine produced its first preview: the engine must
 * stop between scales. */
static gpointer canceller_main(gpointer data)
{
  Canceller *c = data;

  while (!g_atomic_int_get(&c->stop)) {
    if (hs_generation_get_previews_emitted(c->generation) >= 1) {
      g_cancellable_cancel(c->cancellable);
      break;
    }
    g_thread_yield();
  }
  return NULL;
}

static void test_cancel_mid_run(void)
{
  HsEngineWorker *worker;
  hart_engine_info info;
  g_autoptr(HsRequest) request = NULL;
  gboolean cancelled = FALSE;
  Wait w = { 0 };

  if (!engine_usable())
    return;
  g_assert_cmpuint(full_run_previews, >, 1);
  worker = open_tiny(&info);
  request = tiny_request(&info, 11);

  /* A run may end before the cancel lands on a fast machine, so try a few times. */
  for (int attempt = 0; attempt < 10 && !cancelled; attempt++) {
    Canceller c = { hs_generation_new(), g_cancellable_new(), 0 };
    GThread *thread = g_thread_new("canceller", canceller_main, &c);

    generate(worker, request, c.generation, c.cancellable, &w);
    g_atomic_int_set(&c.stop, 1);
    g_thread_join(thread);
    if (w.error != NULL) {
      g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_null(w.image);
      g_assert_cmpuint(hs_generation_get_previews_emitted(c.generation), <, full_run_previews);
      g_test_message("cancelled after %u of %u previews (attempt %d)",
                     hs_generation_get_previews_emitted(c.generation), full_run_previews,
                     attempt + 1);
      cancelled = TRUE;
    }
    wait_clear(&w);
    g_object_unref(c.cancellable);
    drain_and_finalize(c.generation);
  }
  g_assert_true(cancelled);

  /* The engine serves the next request normally. */
  generate(worker, request, NULL, NULL, &w);
  g_assert_no_error(w.error);
  g_assert_nonnull(w.image);
  wait_clear(&w);
  drain_and_finalize(worker);
}

static void test_shutdown_while_running(void)
{
  HsEngineWorker *worker;
  hart_engine_info info;
  g_autoptr(HsRequest) request = NULL;
  HsGeneration *generation;
  Wait w = { 0 };
  gint64 t0;

  if (!engine_usable())
    return;
  worker = open_tiny(&info);
  request = tiny_request(&info, 3);
  generation = hs_generation_new();
  hs_engine_worker_generate_async(worker, request, generation, NULL, on_generated, &w);
  while (hs_generation_get_previews_emitted(generation) < 1 && !w.done)
    g_usleep(100);
  t0 = g_get_monotonic_time();
  hs_engine_worker_shutdown(worker);
  g_test_message("shutdown joined in %.1f ms", (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
  spin_until_done(&w, 120);
  /* Cancelled mid-run, or finished just before the cancel landed. */
  if (w.error != NULL)
    g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  else
    g_assert_nonnull(w.image);
  wait_clear(&w);
  drain_and_finalize(generation);
  drain_and_finalize(worker);
}

static void expect_open_error(HsEngineWorker *worker, const char *dir)
{
  g_autoptr(HsEngineOptions) options = hs_engine_options_new(dir, NULL);
  Wait w = { 0 };

  options->backend = HART_BACKEND_CPU;
  hs_engine_worker_open_async(worker, options, NULL, on_opened, &w);
  spin_until_done(&w, 120);
  g_assert_nonnull(w.error);
  g_assert_true(w.error->domain == HS_ENGINE_ERROR);
  g_assert_true(w.error->code == HS_ENGINE_ERROR_IO || w.error->code == HS_ENGINE_ERROR_FORMAT);
  g_test_message("%s: %s", dir, w.error->message);
  g_assert_cmpstr(w.error->message, !=, "");
  g_assert_false(hs_engine_worker_get_info(worker, NULL));
  wait_clear(&w);
}

static void test_bad_model(void)
{
  HsEngineWorker *worker;
  g_autofree char *empty = NULL;
  g_autoptr(HsRequest) request = hs_request_new();
  Wait w = { 0 };

  if (!engine_usable())
    return;
  worker = hs_engine_worker_new();
  expect_open_error(worker, "/nonexistent/hart-model");
  empty = g_dir_make_tmp("hs-empty-model-XXXXXX", NULL);
  expect_open_error(worker, empty);
  g_rmdir(empty);

  request->prompt = g_strdup("no model");
  generate(worker, request, NULL, NULL, &w);
  g_assert_error(w.error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NOT_OPEN);
  wait_clear(&w);
  drain_and_finalize(worker);
}

static void test_png_metadata(void)
{
  HsEngineWorker *worker;
  hart_engine_info info;
  g_autoptr(HsRequest) request = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HsImage) back = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("hs-png-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "out.png", NULL);
  g_autofree char *model = hs_test_shared_path("golden/tiny");
  HsModelIdentity identity = { model, NULL, NULL };
  const char *parameters;
  JsonObject *root;
  Wait w = { 0 };

  if (!engine_usable())
    return;
  worker = open_tiny(&info);
  identity.info = &info;
  request = tiny_request(&info, 4242);
  request->cfg = 6.5;
  generate(worker, request, NULL, NULL, &w);
  g_assert_no_error(w.error);

  g_assert_true(hs_metadata_save_png(path, request, w.image, &identity, &error));
  g_assert_no_error(error);
  texts = hs_png_load(path, &back, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(back->rgb, w.image->rgb));

  parameters = g_hash_table_lookup(texts, HS_METADATA_PARAMETERS_KEY);
  g_assert_nonnull(parameters);
  g_assert_true(g_str_has_prefix(parameters, "a lighthouse on a cliff at sunset\nSteps: "));
  g_assert_nonnull(strstr(parameters, "CFG scale: 6.5, Seed: 4242, Size: 64x64, Model: tiny"));

  g_assert_true(json_parser_load_from_data(parser, g_hash_table_lookup(texts, HS_METADATA_JSON_KEY),
                                           -1, &error));
  root = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpint(json_object_get_int_member(root, "seed"), ==, 4242);
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(root, "cfg"), 6.5, 1e-9);
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(root, "model"), "id"),
                  ==, info.model_id);

  g_unlink(path);
  g_rmdir(dir);
  wait_clear(&w);
  drain_and_finalize(worker);
}

int main(int argc, char *argv[])
{
  int ret;

  g_test_init(&argc, &argv, NULL);
  text_dir = hs_test_make_text_dir();
  skip_reason = hs_test_engine_skip_reason_with_text(text_dir, &text_usable);
  g_test_add_func("/worker/generate", test_generate);
  g_test_add_func("/worker/cancel-mid-run", test_cancel_mid_run);
  g_test_add_func("/worker/shutdown-while-running", test_shutdown_while_running);
  g_test_add_func("/worker/bad-model", test_bad_model);
  g_test_add_func("/worker/png-metadata", test_png_metadata);
  ret = g_test_run();
  g_free(skip_reason);
  hs_test_remove_text_dir(text_dir);
  return ret;
}
