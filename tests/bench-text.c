/* bench-text.c: times the Qwen2 text encoder at the released shapes (hidden 1536, 28 layers,
 * 12 heads, 2 kv heads, MLP 8960, vocab 151936) with random weights built in memory, on one
 * prompt of T = N_sys + 300 = 439 tokens (the system prompt has 139 ids).
 *
 *   bench-text [--backend cpu|cuda] [--threads N] [--layers N] [--reps N]
 *
 * --layers runs fewer layers (for machines without the ~6 GB the fp32 weights take); the time
 * per layer and the extrapolation to 28 layers are printed. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "qwen2.h"

#define N_SYS 139
#define N_CTX 300

int main(int argc, char **argv)
{
  char *backend = NULL;
  int threads = 0, layers = 28, reps = 3;
  GOptionEntry entries[] = {
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or cuda", "NAME" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all)", "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "Decoder layers (default 28)", "N" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "Timed encodings (default 3)", "N" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  };
  GOptionContext *octx = g_option_context_new("- time the Qwen2 text encoder");
  hart_qwen2_config cfg = { .hidden_size = 1536,
                            .num_layers = 28,
                            .num_heads = 12,
                            .num_kv_heads = 2,
                            .head_dim = 128,
                            .intermediate_size = 8960,
                            .vocab_size = 151936,
                            .rope_theta = 1e6,
                            .rms_norm_eps = 1e-6f };
  int64_t T = N_SYS + N_CTX;
  int32_t ids[N_SYS + N_CTX];
  uint8_t attn[N_SYS + N_CTX];
  hart_error err = { 0 };
  hart_backend *be = NULL;
  hart_qwen2 *m = NULL;
  float *out;
  double best = 1e30, sum = 0.0;
  gint64 t0;
  hart_status st;

  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, NULL) || layers < 1 || layers > 28 || reps < 1) {
    fprintf(stderr, "usage: bench-text [--backend cpu|cuda] [--threads N] [--layers 1..28] "
                    "[--reps N]\n");
    return 2;
  }
  g_option_context_free(octx);
  cfg.num_layers = layers;
  st = g_strcmp0(backend, "cuda") == 0 ? hart_backend_cuda_new(0, &err, &be)
                                       : hart_backend_cpu_new(threads, &err, &be);
  if (st != HART_OK) {
    fprintf(stderr, "bench-text: %s\n", err.msg);
    return 1;
  }
  be->err = &err;
  t0 = g_get_monotonic_time();
  if (hart_qwen2_new_random(be, &cfg, 42, &m, &err) != HART_OK) {
    fprintf(stderr, "bench-text: %s\n", err.msg);
    return 1;
  }
  printf("backend %s, %d layers: random weights built in %.1f s\n", be->device, layers,
         (g_get_monotonic_time() - t0) / 1e6);
  /* A prompt of 40 real tokens and 260 pads after the system prompt: the mask matters. */
  for (int64_t t = 0; t < T; t++) {
    ids[t] = t < N_SYS + 40 ? (int32_t)((t * 7919) % 150000) : 151643;
    attn[t] = t < N_SYS + 40;
  }
  out = g_new(float, (gsize)N_CTX *(gsize)cfg.hidden_size);
  for (int r = 0; r <= reps; r++) {
    double ms;
    t0 = g_get_monotonic_time();
    if (hart_qwen2_forward(m, ids, attn, T, N_SYS, N_CTX, out, &err) != HART_OK) {
      fprintf(stderr, "bench-text: %s\n", err.msg);
      return 1;
    }
    ms = (g_get_monotonic_time() - t0) / 1e3;
    if (r == 0) {
      printf("warm-up encoding: %.1f ms\n", ms);
      continue;
    }
    best = ms < best ? ms : best;
    sum += ms;
  }
  printf("encoder, T = %lld tokens, %d layers: best %.1f ms, mean %.1f ms over %d runs\n",
         (long long)T, layers, best, sum / reps, reps);
  if (layers != 28)
    printf("extrapolated to 28 layers: %.1f ms (%.1f ms per layer)\n", best / layers * 28,
           best / layers);
  g_free(out);
  hart_qwen2_free(m);
  be->ops->destroy(be);
  g_free(backend);
  return 0;
}
