/* text_bench.c: the released-shape Qwen2 encoder with random weights, timed. */
#include "text_bench.h"

#include <glib.h>
#include <stdlib.h>

#include "qwen2.h"

#define N_SYS 139
#define N_CTX 300

hart_status hart_text_bench(hart_backend *be, int layers, int runs, double *times, double *build_s,
                            hart_error *err)
{
  /* The vocabulary only sizes the embedding table read on the host: 4096 rows keep the random
   * model's memory to its layers without changing the timing. */
  hart_qwen2_config cfg = { .hidden_size = 1536,
                            .num_layers = layers,
                            .num_heads = 12,
                            .num_kv_heads = 2,
                            .head_dim = 128,
                            .intermediate_size = 8960,
                            .vocab_size = 4096,
                            .rope_theta = 1e6,
                            .rms_norm_eps = 1e-6f };
  int32_t ids[N_SYS + N_CTX];
  uint8_t attn[N_SYS + N_CTX];
  hart_qwen2 *m = NULL;
  float *out = NULL;
  gint64 t0 = g_get_monotonic_time();
  hart_status st;

  if (layers < 1 || layers > HART_TEXT_BENCH_LAYERS || runs < 1)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "text bench: %d layers, %d runs", layers,
                     runs);
  st = hart_qwen2_new_random(be, &cfg, 42, &m, err);
  if (st != HART_OK)
    return st;
  if (build_s != NULL)
    *build_s = (double)(g_get_monotonic_time() - t0) / 1e6;
  /* A prompt of 40 real ids then 260 pads after the system prompt, so the mask is exercised. */
  for (int t = 0; t < N_SYS + N_CTX; t++) {
    ids[t] = t < N_SYS + 40 ? (t * 7919) % cfg.vocab_size : 0;
    attn[t] = t < N_SYS + 40;
  }
  out = malloc((size_t)N_CTX * (size_t)cfg.hidden_size * sizeof *out);
  if (out == NULL)
    st = hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  for (int r = -1; st == HART_OK && r < runs; r++) {
    t0 = g_get_monotonic_time();
    st = hart_qwen2_forward(m, ids, attn, N_SYS + N_CTX, N_SYS, N_CTX, out, err);
    if (r >= 0)
      times[r] = (double)(g_get_monotonic_time() - t0) / 1e6;
  }
  free(out);
  hart_qwen2_free(m);
  return st;
}
