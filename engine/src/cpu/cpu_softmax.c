/* cpu_softmax.c: activation-by-activation GEMM and row softmax, the pieces of the VAE attention
 * (the transformer's attention op works on KV caches and lives in cpu_attn.c). */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>

hart_status cpu_bmm(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                    int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha)
{
  for (int64_t i = 0; i < batch; i++)
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha,
                a + i * M * K, (blasint)(trans_a ? M : K), b + i * K * N,
                (blasint)(trans_b ? K : N), 0.0f, c + i * M * N, (blasint)N);
  return HART_OK;
}

hart_status cpu_softmax_rows(hart_backend *be, float *y, const float *x, int64_t rows, int64_t n)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float mx = -INFINITY, sum = 0.0f, inv;
    for (int64_t j = 0; j < n; j++)
      mx = xr[j] > mx ? xr[j] : mx;
    for (int64_t j = 0; j < n; j++) {
      yr[j] = expf(xr[j] - mx);
      sum += yr[j];
    }
    inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++)
      yr[j] *= inv;
  }
  return HART_OK;
}
