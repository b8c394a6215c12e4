/* cmd_bench.c: `hart bench`: per-stage wall times (median over runs), threads, peak memory, for
 * a model folder or a random-weight model at the released shapes built in memory. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend_profile.h"
#include "bench_model.h"
#include "cmd.h"
#include "generate.h"
#include "philox.h"
#include "text_bench.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The run's clock: live per-scale times on stderr, so a long run shows where it is, and when the
 * first scale (the first preview the app shows) was done. */
typedef struct {
  double t_start, t_last, t_first;
} BenchClock;

static double now_s(void)
{
  return (double)g_get_monotonic_time() / 1e6;
}

static int on_scale(void *ud, int si, int n_scales, const float *f_hat)
{
  BenchClock *c = ud;
  double now = now_s();
  (void)f_hat;
  fprintf(stderr, "  scale %d/%d done (+%.2f s)\n", si + 1, n_scales, now - c->t_last);
  if (si == 0)
    c->t_first = now - c->t_start;
  c->t_last = now;
  return 0;
}

static int on_step(int k, int n_steps, const float *x, void *ud)
{
  BenchClock *c = ud;
  double now = now_s();
  (void)x;
  fprintf(stderr, "  diffusion step %d/%d (+%.2f s)\n", k + 1, n_steps, now - c->t_last);
  c->t_last = now;
  return 0;
}

static long peak_rss_mib(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

int hart_cmd_bench(int argc, char **argv)
{
  char *model_dir = NULL, *backend = NULL;
  int runs = 3, threads = 0, release = 0, depth = 1, no_smooth = 0, text_only = 0, profile = 0;
  int text_layers = HART_TEXT_BENCH_LAYERS;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "HART model folder", "DIR" },
    { "release-shapes", 0, 0, G_OPTION_ARG_NONE, &release,
      "Benchmark a random-weight model at the released shapes (built in memory)", NULL },
    { "depth", 0, 0, G_OPTION_ARG_INT, &depth, "Blocks of the --release-shapes model (default 1)",
      "N" },
    { "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Runs (default 3; the first one is included)", "N" },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &backend, "cpu (default), cuda or auto", "NAME" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "CPU threads (0 = all cores)", "N" },
    { "no-smooth", 0, 0, G_OPTION_ARG_NONE, &no_smooth, "Hard tokens instead of more_smooth",
      NULL },
    { "text-only", 0, 0, G_OPTION_ARG_NONE, &text_only,
      "With --release-shapes: time only the Qwen2 text encoder", NULL },
    { "text-layers", 0, 0, G_OPTION_ARG_INT, &text_layers,
      "Layers of the --release-shapes text encoder (default 28; fewer need less memory)", "N" },
    { "profile-ops", 0, 0, G_OPTION_ARG_NONE, &profile,
      "Also time every op (synchronised after each; slows the run) and print where the time goes "
      "(the first run is left out when there are more)",
      NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  GOptionContext *oc = g_option_context_new("- time each stage of generation");
  GError *gerr = NULL;
  hart_error err = { 0 };
  hart_backend *be = NULL;
  hart_model *m = NULL;
  hart_gen *g = NULL;
  hart_gen_times *t = NULL;
  float *ctx = NULL;
  uint8_t *mask = NULL, *rgb = NULL;
  int64_t *pos = NULL, ct, cd;
  double t_open, *col = NULL, *first = NULL, t_text = -1.0;
  int exit_code = 1;

  g_option_context_add_main_entries(oc, entries, NULL);
  if (!g_option_context_parse(oc, &argc, &argv, &gerr)) {
    fprintf(stderr, "hart bench: %s\n", gerr->message);
    g_error_free(gerr);
    exit_code = 2;
    goto out;
  }
  if ((model_dir == NULL) == (release == 0) || runs < 1 || depth < 1 || (text_only && !release) ||
      text_layers < 1 || text_layers > HART_TEXT_BENCH_LAYERS) {
    fprintf(stderr, "hart bench: need exactly one of --model DIR and --release-shapes "
                    "(--text-only and --text-layers 1..28 go with --release-shapes)\n");
    exit_code = 2;
    goto out;
  }
  t_open = (double)g_get_monotonic_time() / 1e6;
  if (backend == NULL || strcmp(backend, "cpu") == 0) {
    if (hart_backend_cpu_new(threads, &err, &be) != HART_OK)
      goto fail;
  } else if (strcmp(backend, "cuda") == 0 || strcmp(backend, "auto") == 0) {
    if (hart_backend_cuda_new(0, &err, &be) != HART_OK) {
      if (strcmp(backend, "cuda") == 0)
        goto fail;
      fprintf(stderr, "hart bench: %s; using the CPU\n", err.msg);
      if (hart_backend_cpu_new(threads, &err, &be) != HART_OK)
        goto fail;
    }
  } else {
    fprintf(stderr, "hart bench: unknown backend %s\n", backend);
    exit_code = 2;
    goto out;
  }
  if (profile)
    be = hart_backend_profile_new(be);
  be->err = &err;
  if (release) {
    /* The text encoder first: its weights are freed before the transformer's are built. */
    double build_s;
    col = g_new(double, runs);
    if (hart_text_bench(be, text_layers, runs, col, &build_s, &err) != HART_OK)
      goto fail;
    t_text = median(col, runs) * HART_TEXT_BENCH_LAYERS / text_layers;
    printf("text encoder: random weights at the released Qwen2 shapes, %d of %d layers "
           "(built in %.1f s), %d tokens: median %.3f s%s\n",
           text_layers, HART_TEXT_BENCH_LAYERS, build_s, HART_TEXT_BENCH_TOKENS, median(col, runs),
           text_layers < HART_TEXT_BENCH_LAYERS ? "" : " (all layers)");
    g_free(col);
    col = NULL;
    if (text_only) {
      printf("  %-22s %9.3f s%s\n", "text", t_text,
             text_layers < HART_TEXT_BENCH_LAYERS ? " (extrapolated to 28 layers)" : "");
      printf("peak resident memory: %ld MiB\n", peak_rss_mib());
      exit_code = 0;
      goto out;
    }
  }
  if ((release ? bench_model_new(be, depth, &m, &err) : hart_model_load(be, model_dir, &m, &err)) !=
          HART_OK ||
      hart_gen_new(m, 1, &g, &err) != HART_OK)
    goto fail;
  printf("model: %s, backend %s (%s), load %.2f s\n",
         release ? "random weights at the released shapes" : model_dir, be->name, be->device,
         (double)g_get_monotonic_time() / 1e6 - t_open);
  printf("shapes: depth %d, width %d, heads %d, %d scales up to %dx%d, image %d px\n", m->llm.depth,
         m->llm.embed_dim, m->llm.num_heads, m->llm.n_scales,
         m->llm.patch_nums[m->llm.n_scales - 1], m->llm.patch_nums[m->llm.n_scales - 1],
         hart_model_image_size(m));
  ct = m->llm.context_token;
  cd = m->llm.context_dim;
  ctx = g_new(float, ct *cd);
  mask = g_new(uint8_t, ct);
  pos = g_new(int64_t, ct);
  for (int64_t i = 0; i < ct * cd; i++)
    ctx[i] = hart_philox_uniform(7, 0, 0, (uint64_t)i) * 2.0f - 1.0f;
  for (int64_t i = 0; i < ct; i++) {
    mask[i] = 1;
    pos[i] = i;
  }
  rgb = g_malloc((gsize)hart_model_image_size(m) * (gsize)hart_model_image_size(m) * 3);
  t = g_new0(hart_gen_times, runs);
  first = g_new(double, runs);
  if (profile)
    hart_backend_profile_reset(be); /* the image alone: not the text encoder or the loading */
  for (int i = 0; i < runs; i++) {
    hart_gen_request r;
    BenchClock clock = { now_s(), now_s(), -1.0 };
    memset(&r, 0, sizeof r);
    r.on_scale = on_scale;
    r.on_diffusion_step = on_step;
    r.ud = &clock;
    r.context = ctx;
    r.context_mask = mask;
    r.position_ids = pos;
    r.seed = (uint64_t)i + 1;
    r.cfg = 4.5f;
    r.smooth = !no_smooth;
    r.rgb = rgb;
    if (hart_gen_run(g, &r, &t[i], &err) != HART_OK)
      goto fail;
    fprintf(stderr, "run %d: %.2f s\n", i + 1, t[i].t_total);
    first[i] = clock.t_first;
    if (profile && i == 0 && runs > 1)
      hart_backend_profile_reset(be); /* the first run warms caches and allocators up */
  }
  col = g_new(double, runs);
  printf("median over %d runs (threads: %d)\n", runs, be->n_threads);
  if (t_text >= 0.0)
    printf("  %-22s %9.3f s%s\n", "text", t_text,
           text_layers < HART_TEXT_BENCH_LAYERS ? " (extrapolated to 28 layers)" : "");
  else
    printf("  %-22s %9s\n", "text (not measured)", "-");
  for (int s = 0; s < m->llm.n_scales; s++) {
    char label[64];
    for (int i = 0; i < runs; i++)
      col[i] = t[i].t_scale[s];
    snprintf(label, sizeof label, "scale %2d (%dx%d)", s, m->llm.patch_nums[s],
             m->llm.patch_nums[s]);
    printf("  %-22s %9.3f s\n", label, median(col, runs));
  }
  for (int i = 0; i < runs; i++)
    col[i] = t[i].t_diffusion;
  printf("  %-22s %9.3f s\n", "diffusion", median(col, runs));
  for (int i = 0; i < runs; i++)
    col[i] = t[i].t_decode;
  printf("  %-22s %9.3f s\n", "decode", median(col, runs));
  for (int i = 0; i < runs; i++)
    col[i] = t[i].t_total;
  printf("  %-22s %9.3f s\n", "total", median(col, runs));
  /* The app shows its first preview when scale 0 is done; with the prompt's encoding before it,
   * that is the wait a user sees before anything moves. */
  printf("  %-22s %9.3f s%s\n", "first preview",
         median(first, runs) + (t_text >= 0.0 ? t_text : 0.0),
         t_text >= 0.0 ? " (text + scale 0)" : " (scale 0; text not measured)");
  printf("peak resident memory: %ld MiB\n", peak_rss_mib());
  if (be->ops->mem_stats) {
    size_t used = 0, peak = 0, total = 0;
    if (be->ops->mem_stats(be, &used, &peak, &total) == HART_OK)
      printf("peak device memory: %.0f MiB of %.0f MiB (context and cuBLAS workspace included)\n",
             peak / 1048576.0, total / 1048576.0);
  }
  if (profile)
    hart_backend_profile_print(be, stdout, 40, runs > 1 ? runs - 1 : 1);
  exit_code = 0;
  goto out;
fail:
  fprintf(stderr, "hart bench: %s\n", err.msg);
out:
  g_free(col);
  g_free(first);
  g_free(t);
  g_free(ctx);
  g_free(mask);
  g_free(pos);
  g_free(rgb);
  if (g)
    hart_gen_free(g);
  hart_model_free(m);
  if (be)
    be->ops->destroy(be);
  g_free(model_dir);
  g_free(backend);
  g_option_context_free(oc);
  return exit_code;
}
