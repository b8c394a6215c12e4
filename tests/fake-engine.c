/* fake-engine.c: hart.h implemented as a script (see fake-engine.h). */
#include "fake-engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FakeEngineState fake_engine;

struct hart_engine {
  char last_error[256];
  hart_backend_kind backend;
};

void fake_engine_reset(int n_steps, int step_sleep_us)
{
  memset(&fake_engine, 0, sizeof fake_engine);
  fake_engine.n_steps = n_steps;
  fake_engine.step_sleep_us = step_sleep_us;
}

void hart_open_options_init(hart_open_options *opts)
{
  memset(opts, 0, sizeof *opts);
}

void hart_request_init(hart_request *req)
{
  memset(req, 0, sizeof *req);
  req->cfg = 4.5f;
}

hart_status hart_engine_open(const hart_open_options *opts, hart_engine **out, char *errbuf,
                             size_t errbuf_len)
{
  *out = NULL;
  fake_engine.open_thread = g_thread_self();
  if (opts->model_dir == NULL || !g_file_test(opts->model_dir, G_FILE_TEST_IS_DIR)) {
    snprintf(errbuf, errbuf_len, "%s/llm/config.json: cannot open",
             opts->model_dir ? opts->model_dir : "(null)");
    return HART_ERR_IO;
  }
  *out = calloc(1, sizeof **out);
  (*out)->backend = opts->backend;
  fake_engine.n_open++;
  return HART_OK;
}

void hart_engine_close(hart_engine *engine)
{
  if (engine == NULL)
    return;
  fake_engine.close_thread = g_thread_self();
  fake_engine.n_close++;
  free(engine);
}

const char *hart_engine_last_error(const hart_engine *engine)
{
  return engine->last_error;
}

void hart_engine_get_info(const hart_engine *engine, hart_engine_info *info)
{
  memset(info, 0, sizeof *info);
  info->backend_name = "cpu";
  info->device_name = "Fake CPU";
  info->backend_note = "";
  info->image_size = 64;
  info->has_text_model = 1;
  info->n_scales = fake_engine.n_steps;
  info->n_diffusion_steps = 8;
  g_strlcpy(info->model_id, "fa4e", sizeof info->model_id);
}

/* Pictures the fake paints: red carries a tag (the step or the seed's low byte) so tests can
 * tell frames apart; green and blue are a gradient so screenshots look like pictures. */
static void paint(guint8 *rgb, int w, int h, int tag)
{
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = rgb + ((gsize)y * w + x) * 3;
      p[0] = (guint8)tag;
      p[1] = (guint8)(x * 255 / MAX(w - 1, 1));
      p[2] = (guint8)(y * 255 / MAX(h - 1, 1));
    }
}

hart_status hart_generate(hart_engine *engine, const hart_request *req, hart_image *image)
{
  guint8 rgb[64 * 64 * 3];
  int step;

  fake_engine.generate_thread = g_thread_self();
  fake_engine.n_generate++;
  fake_engine.last_cancelled = FALSE;
  /* "Out of GPU memory" unless the engine was opened on the CPU, as a real GPU would. */
  if (req->prompt != NULL && g_str_equal(req->prompt, "fail:device-memory") &&
      engine->backend != HART_BACKEND_CPU) {
    g_strlcpy(engine->last_error, "cudaMalloc of 512 MiB failed", sizeof engine->last_error);
    return HART_ERR_DEVICE_MEMORY;
  }
  for (step = 1; step <= fake_engine.n_steps; step++) {
    if (req->cancel != NULL && hart_cancel_is_requested(req->cancel)) {
      fake_engine.last_steps_run = step - 1;
      fake_engine.last_cancelled = TRUE;
      return HART_CANCELLED;
    }
    if (req->on_progress) {
      hart_progress p = { HART_STAGE_SCALE, step, fake_engine.n_steps, step * 0.001 };
      req->on_progress(&p, req->user_data);
    }
    if (req->on_preview) {
      /* Coarse to fine, like the scales: 4, 8, ... up to 64 px. */
      int side = MIN(64, 4 * step);
      hart_preview pv = { HART_STAGE_SCALE, step, fake_engine.n_steps, side, side, rgb };
      paint(rgb, side, side, step & 0xff);
      req->on_preview(&pv, req->user_data);
    }
    if (fake_engine.step_sleep_us > 0)
      g_usleep(fake_engine.step_sleep_us);
  }
  fake_engine.last_steps_run = fake_engine.n_steps;
  image->width = 64;
  image->height = 64;
  image->rgb = malloc(64 * 64 * 3);
  paint(image->rgb, 64, 64, (int)(req->seed & 0xff));
  image->t_total = 0.01;
  return HART_OK;
}

void hart_image_clear(hart_image *image)
{
  free(image->rgb);
  memset(image, 0, sizeof *image);
}
