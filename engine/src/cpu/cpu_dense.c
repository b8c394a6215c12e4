/* cpu_dense.c: matrix products (OpenBLAS), norms, element-wise ops, pooling, transpose. fp32. */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

hart_status cpu_linear(hart_backend *be, float *y, const float *x, const hart_bw *w,
                       const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta)
{
  if (M == 0 || N == 0)
    return HART_OK;
  if (b != NULL) {
    /* Fold the bias in first so the GEMM accumulates on top of it (one pass over y). */
    if (beta == 0.0f) {
#pragma omp parallel for
      for (int64_t r = 0; r < M; r++)
        memcpy(y + r * N, b->data, (size_t)N * sizeof(float));
    } else {
#pragma omp parallel for
      for (int64_t r = 0; r < M; r++)
        for (int64_t c = 0; c < N; c++)
          y[r * N + c] += b->data[c];
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)M, (blasint)N, (blasint)K, 1.0f, x,
              (blasint)K, w->data, (blasint)K, beta, y, (blasint)N);
  return HART_OK;
}

hart_status cpu_matmul_w(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t M,
                         int64_t N, int64_t K)
{
  if (M == 0 || N == 0)
    return HART_OK;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, 1.0f,
              x, (blasint)K, w->data, (blasint)N, 0.0f, y, (blasint)N);
  return HART_OK;
}

hart_status cpu_embed_rows(hart_backend *be, float *y, const hart_bw *table, const int32_t *idx,
                           int64_t n, int64_t C)
{
  int64_t V = table->shape[0];
  for (int64_t r = 0; r < n; r++) {
    if (idx[r] < 0 || idx[r] >= V)
      return hart_fail(be->err, HART_ERR_INTERNAL, "token id %d out of range [0, %lld)", idx[r],
                       (long long)V);
    memcpy(y + r * C, table->data + (int64_t)idx[r] * C, (size_t)C * sizeof(float));
  }
  return HART_OK;
}

hart_status cpu_rmsnorm(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t rows,
                        int64_t C, float eps)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float ss = 0.0f, s;
    for (int64_t c = 0; c < C; c++)
      ss += xr[c] * xr[c];
    s = 1.0f / sqrtf(ss / (float)C + eps);
    for (int64_t c = 0; c < C; c++)
      yr[c] = xr[c] * s * (w ? w->data[c] : 1.0f);
  }
  return HART_OK;
}

hart_status cpu_layernorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                          const hart_bw *b, int64_t rows, int64_t C, float eps)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float mean = 0.0f, var = 0.0f, s;
    for (int64_t c = 0; c < C; c++)
      mean += xr[c];
    mean /= (float)C;
    for (int64_t c = 0; c < C; c++)
      var += (xr[c] - mean) * (xr[c] - mean);
    var /= (float)C;
    s = 1.0f / sqrtf(var + eps);
    for (int64_t c = 0; c < C; c++) {
      float v = (xr[c] - mean) * s;
      if (w)
        v *= w->data[c];
      if (b)
        v += b->data[c];
      yr[c] = v;
    }
  }
  return HART_OK;
}

static inline float silu1(float v)
{
  return v / (1.0f + expf(-v));
}

hart_status cpu_silu(hart_backend *be, float *y, const float *x, int64_t n)
{
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++)
    y[i] = silu1(x[i]);
  return HART_OK;
}

hart_status cpu_silu_mul(hart_backend *be, float *y, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++)
    y[i] = silu1(a[i]) * b[i];
  return HART_OK;
}

hart_status cpu_axpby(hart_backend *be, float *y, float alpha, const float *a, float beta,
                      const float *b, int64_t n)
{
  if (beta == 0.0f || b == NULL) {
#pragma omp parallel for
    for (int64_t i = 0; i < n; i++)
      y[i] = alpha * a[i];
  } else {
#pragma omp parallel for
    for (int64_t i = 0; i < n; i++)
      y[i] = alpha * a[i] + beta * b[i];
  }
  return HART_OK;
}

hart_status cpu_add_row(hart_backend *be, float *y, const float *x, const float *v, int64_t rows,
                        int64_t C)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < C; c++)
      y[r * C + c] = x[r * C + c] + v[c];
  return HART_OK;
}

hart_status cpu_modulate(hart_backend *be, float *y, const float *x, const float *scale,
                         const float *shift, int64_t rows, int64_t C, int64_t rows_per_group,
                         int64_t ld)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float *sc = scale + (r / rows_per_group) * ld, *sh = shift + (r / rows_per_group) * ld;
    for (int64_t c = 0; c < C; c++)
      y[r * C + c] = x[r * C + c] * (1.0f + sc[c]) + sh[c];
  }
  return HART_OK;
}

hart_status cpu_gated_add(hart_backend *be, float *y, const float *gate, const float *x,
                          int64_t rows, int64_t C, int64_t rows_per_group, int64_t ld)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float *g = gate + (r / rows_per_group) * ld;
    for (int64_t c = 0; c < C; c++)
      y[r * C + c] += g[c] * x[r * C + c];
  }
  return HART_OK;
}

hart_status cpu_pool_max(hart_backend *be, float *y, const float *x, int64_t G, int64_t n,
                         int64_t C)
{
  for (int64_t g = 0; g < G; g++)
    for (int64_t c = 0; c < C; c++) {
      float m = -INFINITY;
      for (int64_t t = 0; t < n; t++)
        m = fmaxf(m, x[(g * n + t) * C + c]);
      y[g * C + c] = m;
    }
  return HART_OK;
}

hart_status cpu_pool_mean_masked(hart_backend *be, float *y, const float *x, const float *mask,
                                 int64_t G, int64_t n, int64_t C)
{
  for (int64_t g = 0; g < G; g++) {
    float cnt = 0.0f;
    for (int64_t t = 0; t < n; t++)
      cnt += mask[g * n + t];
    if (cnt < 1.0f)
      cnt = 1.0f;
    for (int64_t c = 0; c < C; c++) {
      float s = 0.0f;
      for (int64_t t = 0; t < n; t++)
        s += x[(g * n + t) * C + c] * mask[g * n + t] / cnt;
      y[g * C + c] = s;
    }
  }
  return HART_OK;
}

hart_status cpu_transpose(hart_backend *be, float *y, const float *x, int64_t batch, int64_t rows,
                          int64_t cols)
{
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++)
        y[(b * cols + j) * rows + i] = x[(b * rows + i) * cols + j];
  return HART_OK;
}
