/* cmd_replay.c: `hart replay CASE_DIR RUN --out OUT_DIR`: re-runs a golden case with every
 * random draw taken from its recording and writes the engine's own values of the run's tensors
 * (OUT_DIR/run.safetensors) and the images (OUT_DIR/image_b<k>.png). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "generate.h"
#include "image.h"
#include "replay.h"
#include "tool_util.h"

int hart_cmd_replay(int argc, char **argv)
{
  char *out_dir = NULL;
  int threads = 0, teacher = 0;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Output folder (required)", "DIR" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "CPU threads (0 = all cores)", "N" },
    { "teacher-forcing", 0, 0, G_OPTION_ARG_NONE, &teacher,
      "Continue each scale from the recorded f_hat/next_map/h_tokens", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  GOptionContext *oc = g_option_context_new("CASE_DIR RUN - replay a golden run");
  GError *gerr = NULL;
  hart_error err = { 0 };
  hart_backend *be = NULL;
  hart_model *m = NULL;
  hart_gen *g = NULL;
  hart_replay_case *rc = NULL;
  tool_dump_set *dumps = NULL;
  uint8_t *rgb = NULL;
  hart_gen_request r;
  hart_gen_times times;
  int rc_exit = 1, S;

  g_option_context_set_summary(oc, "RUN is run_smooth0 or run_smooth1. Writes OUT_DIR/"
                                   "run.safetensors and OUT_DIR/image_b<k>.png.");
  g_option_context_add_main_entries(oc, entries, NULL);
  if (!g_option_context_parse(oc, &argc, &argv, &gerr)) {
    fprintf(stderr, "hart replay: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(oc);
    return 2;
  }
  if (argc != 3 || out_dir == NULL) {
    fprintf(stderr, "hart replay: need CASE_DIR RUN and --out DIR (see --help)\n");
    g_option_context_free(oc);
    g_free(out_dir);
    return 2;
  }
  if (g_mkdir_with_parents(out_dir, 0755) != 0) {
    fprintf(stderr, "hart replay: cannot create %s\n", out_dir);
    goto out;
  }
  if (hart_backend_cpu_new(threads, &err, &be) != HART_OK ||
      hart_model_load(be, argv[1], &m, &err) != HART_OK ||
      hart_replay_case_load(argv[1], argv[2], teacher, &rc, &err) != HART_OK ||
      hart_gen_new(m, rc->B, &g, &err) != HART_OK) {
    fprintf(stderr, "hart replay: %s\n", err.msg);
    goto out;
  }
  S = hart_model_image_size(m);
  rgb = g_malloc0((gsize)(rc->B * 3) * (gsize)S * (gsize)S);
  dumps = tool_dump_set_new();
  memset(&r, 0, sizeof r);
  r.context = rc->context;
  r.context_mask = rc->context_mask;
  r.position_ids = rc->position_ids;
  r.cfg = rc->cfg;
  r.smooth = rc->smooth;
  r.replay = &rc->rp;
  r.dump = tool_dump_collect;
  r.dump_ud = dumps;
  r.rgb = rgb;
  if (hart_gen_run(g, &r, &times, &err) != HART_OK) {
    fprintf(stderr, "hart replay: %s\n", err.msg);
    goto out;
  }
  {
    char *path = g_build_filename(out_dir, "run.safetensors", NULL);
    gboolean ok = tool_dump_set_write(dumps, path, &gerr);
    if (!ok) {
      fprintf(stderr, "hart replay: %s\n", gerr->message);
      g_clear_error(&gerr);
      g_free(path);
      goto out;
    }
    printf("%s\n", path);
    g_free(path);
  }
  for (int64_t b = 0; b < rc->B; b++) {
    char *name = g_strdup_printf("image_b%lld.png", (long long)b);
    char *path = g_build_filename(out_dir, name, NULL);
    hart_status st = hart_png_write(path, rgb + b * S * S * 3, S, S, NULL, &err);
    if (st == HART_OK)
      printf("%s\n", path);
    g_free(name);
    g_free(path);
    if (st != HART_OK) {
      fprintf(stderr, "hart replay: %s\n", err.msg);
      goto out;
    }
  }
  printf("total %.3f s\n", times.t_total);
  rc_exit = 0;
out:
  tool_dump_set_free(dumps);
  g_free(rgb);
  if (g)
    hart_gen_free(g);
  hart_replay_case_free(rc);
  hart_model_free(m);
  if (be)
    be->ops->destroy(be);
  g_option_context_free(oc);
  g_free(out_dir);
  return rc_exit;
}
