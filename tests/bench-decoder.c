/* bench-decoder.c: wall time of a VAE decode at the released decoder shapes (ch 160, ch_mult
 * 1,1,2,2,4, Cv 32) with seeded random weights, at latent 16x16 (256 px) and 64x64 (1024 px).
 * Not a test: run by hand, `bench-decoder [threads] [sizes...]` (default sizes 16 64). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "backend.h"
#include "philox.h"
#include "vae.h"

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* User + system CPU time of the process: on a shared machine a steadier measure than wall time. */
static double cpu_ms(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
  hart_vae_config cfg = { .vocab_size = 4096,
                          .z_channels = 32,
                          .ch = 160,
                          .n_ch_mult = 5,
                          .ch_mult = { 1, 1, 2, 2, 4 },
                          .num_res_blocks = 2,
                          .quant_resi = 0.5f,
                          .share_quant_resi = 4 };
  int threads = argc > 1 ? atoi(argv[1]) : 0;
  int sizes[8] = { 16, 64 }, n_sizes = 2;
  hart_error err = { 0 };
  hart_backend *be;
  hart_tensor_set *set;
  hart_vae *vae;
  double t0, c0;

  if (argc > 2) {
    n_sizes = 0;
    for (int i = 2; i < argc && n_sizes < 8; i++)
      sizes[n_sizes++] = atoi(argv[i]);
  }
  if (hart_backend_cpu_new(threads, &err, &be) != HART_OK ||
      hart_vae_random_weights(&cfg, 42, &set, &err) != HART_OK ||
      hart_vae_load(be, set, &cfg, &vae, &err) != HART_OK) {
    fprintf(stderr, "bench-decoder: %s\n", err.msg);
    return 1;
  }
  printf("backend: %s\n", be->device);
  for (int si = 0; si < n_sizes; si++) {
    int64_t S = sizes[si], H = S * hart_vae_upscale(vae);
    float *fhat = malloc(sizeof(float) * 32 * S * S), *img = malloc(sizeof(float) * 3 * H * H);
    for (int64_t i = 0; i < 32 * S * S; i++)
      fhat[i] = hart_philox_normal(7, 0, 0, (uint64_t)i);
    t0 = now_ms();
    c0 = cpu_ms();
    if (hart_vae_decode(vae, img, fhat, 1, S) != HART_OK) {
      fprintf(stderr, "bench-decoder: decode failed: %s\n", err.msg);
      return 1;
    }
    printf("decode latent %lldx%lld -> %lldx%lld: %.0f ms wall, %.0f ms CPU\n", (long long)S,
           (long long)S, (long long)H, (long long)H, now_ms() - t0, cpu_ms() - c0);
    fflush(stdout);
    free(fhat);
    free(img);
  }
  hart_vae_free(vae);
  hart_tensor_set_free(set);
  be->ops->destroy(be);
  return 0;
}
