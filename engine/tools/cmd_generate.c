/* cmd_generate.c: `hart generate`: one image from a context tensor file. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "demo_model.h"
#include "hart.h"
#include "image.h"
#include "tool_util.h"

typedef struct {
  const char *dir;
  int quiet;
} gen_ctx;

static void on_progress(const hart_progress *p, void *ud)
{
  gen_ctx *c = ud;
  if (!c->quiet)
    fprintf(stderr, "[%7.2f s] %s %d/%d\n", p->elapsed_s, hart_stage_name(p->stage), p->step,
            p->n_steps);
}

static void on_preview(const hart_preview *p, void *ud)
{
  gen_ctx *c = ud;
  hart_error err = { 0 };
  char *name, *path;
  if (c->dir == NULL)
    return;
  name =
      g_strdup_printf("%s_%02d.png", p->stage == HART_STAGE_SCALE ? "scale" : "diffusion", p->step);
  path = g_build_filename(c->dir, name, NULL);
  if (hart_png_write(path, p->rgb, p->width, p->height, NULL, &err) != HART_OK)
    fprintf(stderr, "hart generate: preview %s: %s\n", path, err.msg);
  g_free(name);
  g_free(path);
}

static gboolean parse_backend(const char *s, hart_backend_kind *k)
{
  if (s == NULL || strcmp(s, "auto") == 0)
    *k = HART_BACKEND_AUTO;
  else if (strcmp(s, "cpu") == 0)
    *k = HART_BACKEND_CPU;
  else if (strcmp(s, "cuda") == 0)
    *k = HART_BACKEND_CUDA;
  else
    return FALSE;
  return TRUE;
}

int hart_cmd_generate(int argc, char **argv)
{
  char *model = NULL, *context = NULL, *out = NULL, *previews = NULL, *backend = NULL;
  char *top_k = NULL, *prompt = NULL, *text_model = NULL, *preview_mode = NULL;
  gint64 seed = 1;
  double cfg = 4.5, top_p = 0.0;
  int no_smooth = 0, threads = 0, row = 0, quiet = 0;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "HART model folder (llm/, tokenizer/)",
      "DIR" },
    { "context", 'c', 0, G_OPTION_ARG_FILENAME, &context,
      "Context tensor file (context_tensor, context_mask, context_position_ids)", "FILE" },
    { "row", 0, 0, G_OPTION_ARG_INT, &row, "Batch row of the context file (default 0)", "K" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "Prompt (needs --text-model)", "TEXT" },
    { "text-model", 0, 0, G_OPTION_ARG_FILENAME, &text_model, "Qwen2 text model folder", "DIR" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Seed (default 1)", "N" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "Guidance scale (default 4.5)", "F" },
    { "no-smooth", 0, 0, G_OPTION_ARG_NONE, &no_smooth, "Hard tokens instead of more_smooth",
      NULL },
    { "top-k", 0, 0, G_OPTION_ARG_STRING, &top_k, "Top-k for scales < 7 and later (600,300)",
      "A,B" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Top-p (0 = off)", "P" },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &backend, "cpu, cuda or auto (default)", "NAME" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "CPU threads (0 = all cores)", "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output PNG (required)", "IMG.png" },
    { "previews", 0, 0, G_OPTION_ARG_FILENAME, &previews, "Write every preview into DIR", "DIR" },
    { "preview-mode", 0, 0, G_OPTION_ARG_STRING, &preview_mode, "cheap (default) or decoder",
      "MODE" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  GOptionContext *oc = g_option_context_new("- generate an image");
  GError *gerr = NULL;
  hart_open_options oo;
  hart_request req;
  hart_engine *e = NULL;
  hart_engine_info info;
  hart_image img = { 0 };
  hart_error werr = { 0 };
  float *ctx = NULL;
  uint8_t *mask = NULL;
  int64_t *pos = NULL;
  char errbuf[600];
  gen_ctx gc = { NULL, 0 };
  int exit_code = 1;
  hart_status st;

  g_option_context_add_main_entries(oc, entries, NULL);
  g_option_context_set_description(
      oc, "Without --model and --text-model, the demo model is used: a small HART that ships with "
          "Hart Studio\nand makes small pictures of simple shapes. It is looked for in "
          "$" HART_DEMO_MODEL_ENV " when set,\nelse in " HART_DEMO_MODEL_INSTALL_DIR
          ",\nelse in " HART_DEMO_MODEL_SOURCE_DIR ".\n");
  if (!g_option_context_parse(oc, &argc, &argv, &gerr)) {
    fprintf(stderr, "hart generate: %s\n", gerr->message);
    g_error_free(gerr);
    exit_code = 2;
    goto out;
  }
  hart_open_options_init(&oo);
  hart_request_init(&req);
  /* No model at all: the demo model and its own text encoder (its HART reads that encoder's
   * width, so a --text-model alone is not combined with it). */
  if (model == NULL && text_model == NULL) {
    if (!hart_demo_model_find(&model, &text_model, &gerr)) {
      fprintf(stderr, "hart generate: no --model given and %s\n", gerr->message);
      g_clear_error(&gerr);
      exit_code = 2;
      goto out;
    }
    if (!quiet)
      fprintf(stderr, "using the demo model %s (pictures of simple shapes)\n", model);
  }
  if (model == NULL || out == NULL || (context == NULL && prompt == NULL) ||
      !parse_backend(backend, &oo.backend)) {
    fprintf(stderr, "hart generate: need --model, --out and --context (or --prompt); "
                    "--backend is cpu, cuda or auto (see --help)\n");
    exit_code = 2;
    goto out;
  }
  if (top_k && sscanf(top_k, "%d,%d", &req.top_k_early, &req.top_k_late) != 2) {
    fprintf(stderr, "hart generate: --top-k wants two numbers, e.g. 600,300\n");
    exit_code = 2;
    goto out;
  }
  if (seed < 0) {
    fprintf(stderr, "hart generate: seed %lld out of range (0 .. 2^63-1)\n", (long long)seed);
    exit_code = 2;
    goto out;
  }
  oo.model_dir = model;
  oo.text_model_dir = text_model;
  oo.n_threads = threads;
  st = hart_engine_open(&oo, &e, errbuf, sizeof errbuf);
  if (st != HART_OK) {
    fprintf(stderr, "hart generate: %s: %s\n", hart_status_name(st), errbuf);
    goto out;
  }
  hart_engine_get_info(e, &info);
  if (!quiet)
    fprintf(stderr, "backend %s (%s)%s%s\n", info.backend_name, info.device_name,
            *info.backend_note ? ", " : "", info.backend_note);
  if (context && !tool_load_context(context, row, info.context_tokens, info.context_dim, &ctx,
                                    &mask, &pos, &gerr)) {
    fprintf(stderr, "hart generate: %s\n", gerr->message);
    g_clear_error(&gerr);
    goto out;
  }
  if (previews && g_mkdir_with_parents(previews, 0755) != 0) {
    fprintf(stderr, "hart generate: cannot create %s\n", previews);
    goto out;
  }
  gc.dir = previews;
  gc.quiet = quiet;
  req.prompt = prompt;
  req.context = ctx;
  req.context_numel = ctx ? (size_t)info.context_tokens * (size_t)info.context_dim : 0;
  req.context_mask = mask;
  req.context_position_ids = pos;
  req.seed = (uint64_t)seed;
  req.cfg = (float)cfg;
  req.smooth = !no_smooth;
  req.top_p = (float)top_p;
  req.preview_mode =
      previews ? (preview_mode && strcmp(preview_mode, "decoder") == 0 ? HART_PREVIEW_DECODER
                                                                       : HART_PREVIEW_CHEAP)
               : HART_PREVIEW_NONE;
  req.on_progress = on_progress;
  req.on_preview = on_preview;
  req.user_data = &gc;
  st = hart_generate(e, &req, &img);
  if (st != HART_OK) {
    fprintf(stderr, "hart generate: %s: %s\n", hart_status_name(st), hart_engine_last_error(e));
    goto out;
  }
  if (hart_png_write(out, img.rgb, img.width, img.height, NULL, &werr) != HART_OK) {
    fprintf(stderr, "hart generate: %s\n", werr.msg);
    goto out;
  }
  if (!quiet)
    fprintf(stderr,
            "%s: %dx%d, transformer %.2f s, diffusion %.2f s, decode %.2f s, total %.2f s\n", out,
            img.width, img.height, img.t_transformer, img.t_diffusion, img.t_decode, img.t_total);
  exit_code = 0;
out:
  hart_image_clear(&img);
  hart_engine_close(e);
  g_free(ctx);
  g_free(mask);
  g_free(pos);
  g_free(model);
  g_free(context);
  g_free(out);
  g_free(previews);
  g_free(backend);
  g_free(top_k);
  g_free(prompt);
  g_free(text_model);
  g_free(preview_mode);
  g_option_context_free(oc);
  return exit_code;
}
