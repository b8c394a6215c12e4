/* bench-text.c: times the Qwen2 text encoder at the released shapes with random weights built
 * in memory, on one prompt of T = 139 + 300 = 439 tokens (hart_text_bench).
 *
 *   bench-text [--backend cpu|cuda] [--threads N] [--layers N] [--reps N]
 *
 * --layers runs fewer layers (for machines without the ~5.3 GB the fp32 weights take); the time
 * per layer and the extrapolation to 28 layers are printed. `hart bench --text-only` does the
 * same. */
#include <glib.h>
#include <stdio.h>

#include "backend.h"
#include "text_bench.h"

int main(int argc, char **argv)
{
  char *backend = NULL;
  int threads = 0, layers = HART_TEXT_BENCH_LAYERS, reps = 3;
  GOptionEntry entries[] = {
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or cuda", "NAME" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all)", "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "Decoder layers (default 28)", "N" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "Timed encodings (default 3)", "N" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  };
  GOptionContext *octx = g_option_context_new("- time the Qwen2 text encoder");
  hart_error err = { 0 };
  hart_backend *be = NULL;
  double times[64], best = 1e30, sum = 0.0, build_s = 0.0;
  hart_status st;

  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, NULL) || reps < 1 || reps > 64) {
    fprintf(stderr, "usage: bench-text [--backend cpu|cuda] [--threads N] [--layers 1..28] "
                    "[--reps 1..64]\n");
    return 2;
  }
  g_option_context_free(octx);
  st = g_strcmp0(backend, "cuda") == 0 ? hart_backend_cuda_new(0, &err, &be)
                                       : hart_backend_cpu_new(threads, &err, &be);
  if (st == HART_OK) {
    be->err = &err;
    st = hart_text_bench(be, layers, reps, times, &build_s, &err);
  }
  if (st != HART_OK) {
    fprintf(stderr, "bench-text: %s\n", err.msg);
    return 1;
  }
  for (int r = 0; r < reps; r++) {
    best = times[r] < best ? times[r] : best;
    sum += times[r];
  }
  printf("backend %s: weights of %d layers built in %.1f s\n", be->device, layers, build_s);
  printf("encoder, T = %d tokens, %d layers: best %.1f ms, mean %.1f ms over %d runs\n",
         HART_TEXT_BENCH_TOKENS, layers, best * 1e3, sum / reps * 1e3, reps);
  if (layers != HART_TEXT_BENCH_LAYERS)
    printf("extrapolated to %d layers: %.1f ms (%.1f ms per layer)\n", HART_TEXT_BENCH_LAYERS,
           best * 1e3 / layers * HART_TEXT_BENCH_LAYERS, best * 1e3 / layers);
  be->ops->destroy(be);
  g_free(backend);
  return 0;
}
