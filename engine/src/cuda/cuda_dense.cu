/* cuda_dense.cu: linear/matmul through cuBLAS (fp16 operands, fp32 accumulation, fp32 output),
 * embedding rows, RMSNorm/LayerNorm, element-wise ops, pooling, transpose. */
#include "cuda_common.h"

#include <math.h>

#define GRID_STRIDE(i, n)                                                                          \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t)gridDim.x * blockDim.x)

/* ---- GEMM ---- */

/* The fp16 copy of a weight: made at upload for GEMM/CONV weights, lazily for TABLE weights
 * (embedding tables are mostly read by rows; only some are also multiplied, e.g. the codebook). */
static const __half *weight_half(hart_backend *be, const hart_bw *w)
{
  if (w->aux == NULL && w->data != NULL) {
    __half *h = NULL;
    cudaError_t e = cudaMalloc((void **)&h, (size_t)w->numel * sizeof(__half));
    if (e != cudaSuccess) {
      cu_fail(be, e, "cudaMalloc (fp16 weight copy)");
      return NULL;
    }
    if (cu_to_half(be, h, w->data, w->numel) != HART_OK) {
      cudaFree(h);
      return NULL;
    }
    ((hart_bw *)w)->aux = h; /* a cache: the weight's value does not change */
    cu_note_memory(cu_p(be));
  }
  if (w->aux == NULL)
    hart_fail(be->err, HART_ERR_INTERNAL, "CUDA: weight has no device data");
  return (const __half *)w->aux;
}

/* Row kernels (bias rows, add_row, modulate, gated_add): blockIdx.y is the row (launches of at
 * most CU_MAX_GRID_Y rows, r0 the first), the threads stride over its columns with 32-bit indices.
 * Finding the row and column of a flat index cost two 64-bit divisions per element, which made
 * these passes (and every linear with a bias) several times slower than their memory traffic. */
static dim3 row_grid(int64_t C, int64_t rows)
{
  return cu_plane_grid(C, rows, 64);
}

/* Launches kernel(r0, args...) over `rows` rows of C columns; returns from the calling op. */
#define LAUNCH_ROWS(be, kernel, rows, C, ...)                                                      \
  do {                                                                                             \
    if ((C) > INT32_MAX / 2)                                                                       \
      return hart_fail((be)->err, HART_ERR_INVALID_ARGUMENT, "CUDA %s: rows too long", #kernel);   \
    for (int64_t r0_ = 0; r0_ < (rows) && (C) > 0; r0_ += CU_MAX_GRID_Y) {                         \
      kernel<<<row_grid((C), (rows)-r0_), CU_PLANE_THREADS, 0, cu_p(be)->stream>>>(r0_,            \
                                                                                   __VA_ARGS__);   \
      CU_LAUNCHED(be, #kernel);                                                                    \
    }                                                                                              \
    return HART_OK;                                                                                \
  } while (0)

#define ROW_LOOP(j, C)                                                                             \
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < (C); j += gridDim.x * blockDim.x)

static __global__ void k_bias_rows(int64_t r0, float *y, const float *b, int N, int keep)
{
  float *yr = y + (r0 + blockIdx.y) * (int64_t)N;
  ROW_LOOP(j, N) yr[j] = keep ? yr[j] + b[j] : b[j];
}

static hart_status bias_rows(hart_backend *be, float *y, const float *b, int64_t M, int64_t N,
                             int keep)
{
  LAUNCH_ROWS(be, k_bias_rows, M, N, y, b, (int)N, keep);
}

/* Column-major view: y^T[N,M] = op(A)[N,K] . op(B)[K,M]. */
static hart_status gemm_f16(hart_backend *be, float *y, const __half *A, cublasOperation_t opA,
                            int lda, const __half *B, int ldb, int64_t M, int64_t N, int64_t K,
                            float beta)
{
  float alpha = 1.0f;
  CUBLAS_CHECK(be, cublasGemmEx(cu_p(be)->blas, opA, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, A,
                                CUDA_R_16F, lda, B, CUDA_R_16F, ldb, &beta, y, CUDA_R_32F, (int)N,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return HART_OK;
}

hart_status cu_linear(hart_backend *be, float *y, const float *x, const hart_bw *w,
                      const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta)
{
  cu_priv *p = cu_p(be);
  const __half *wh;
  __half *xh;
  hart_status st;

  if (M == 0 || N == 0)
    return HART_OK;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA linear: shape too large");
  if (b != NULL) {
    if (b->data == NULL)
      return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA linear: bias not uploaded as a vector");
    if ((st = bias_rows(be, y, b->data, M, N, beta != 0.0f)) != HART_OK)
      return st;
    beta = 1.0f;
  }
  if (w->aux == NULL && w->use == HART_WUSE_VECTOR) {
    /* An fp32-only weight: a true fp32 product (no fp16 rounding of either operand). */
    float alpha = 1.0f;
    CUBLAS_CHECK(be, cublasSgemm(p->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha,
                                 w->data, (int)K, x, (int)K, &beta, y, (int)N));
    return HART_OK;
  }
  wh = weight_half(be, w);
  if (wh == NULL)
    return be->err ? be->err->code : HART_ERR_INTERNAL;
  xh = (__half *)cu_scratch_get(be, &p->half_a, (size_t)(M * K) * sizeof(__half));
  if (xh == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  if ((st = cu_to_half(be, xh, x, M * K)) != HART_OK)
    return st;
  /* W [N,K] row-major is column-major [K,N]: op T gives the [N,K] operand. */
  return gemm_f16(be, y, wh, CUBLAS_OP_T, (int)K, xh, (int)K, M, N, K, beta);
}

hart_status cu_matmul_w(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t M,
                        int64_t N, int64_t K)
{
  cu_priv *p = cu_p(be);
  const __half *wh;
  __half *xh;
  hart_status st;

  if (M == 0 || N == 0)
    return HART_OK;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA matmul_w: shape too large");
  wh = weight_half(be, w);
  if (wh == NULL)
    return be->err ? be->err->code : HART_ERR_INTERNAL;
  xh = (__half *)cu_scratch_get(be, &p->half_a, (size_t)(M * K) * sizeof(__half));
  if (xh == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  if ((st = cu_to_half(be, xh, x, M * K)) != HART_OK)
    return st;
  /* W [K,N] row-major is column-major [N,K]: already the operand. */
  return gemm_f16(be, y, wh, CUBLAS_OP_N, (int)N, xh, (int)K, M, N, K, 0.0f);
}

/* ---- gathers ---- */

static __global__ void k_embed_rows(float *y, const float *table, const int32_t *idx, int64_t n,
                                    int64_t C, int64_t V, int *flag)
{
  GRID_STRIDE(i, n * C)
  {
    int64_t r = i / C, c = i % C;
    int32_t id = idx[r];
    if (id < 0 || id >= V) {
      y[i] = 0.0f;
      if (c == 0)
        *flag = 1;
    } else {
      y[i] = table[(int64_t)id * C + c];
    }
  }
}

hart_status cu_embed_rows(hart_backend *be, float *y, const hart_bw *table, const int32_t *idx,
                          int64_t n, int64_t C)
{
  if (n == 0)
    return HART_OK;
  if (table->data == NULL)
    return hart_fail(be->err, HART_ERR_INTERNAL,
                     "CUDA embed_rows: the table was not uploaded as a TABLE/VECTOR weight");
  /* Out-of-range ids zero their row and raise a flag that the next sync()/download() reports:
   * checking here would cost a device round trip per call. */
  k_embed_rows<<<cu_blocks(n * C, 256), 256, 0, cu_p(be)->stream>>>(
      y, table->data, idx, n, C, table->shape[0], cu_p(be)->flag);
  CU_LAUNCHED(be, "k_embed_rows");
  return HART_OK;
}

/* ---- reductions ---- */

static __global__ void k_rmsnorm(float *y, const float *x, const float *w, int64_t C, float eps)
{
  __shared__ float sh[32];
  const float *xr = x + blockIdx.x * C;
  float *yr = y + blockIdx.x * C;
  float ss = 0.0f, s;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    ss += xr[c] * xr[c];
  ss = cu_block_sum(ss, sh);
  s = 1.0f / sqrtf(ss / (float)C + eps);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    yr[c] = xr[c] * s * (w ? w[c] : 1.0f);
}

hart_status cu_rmsnorm(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t rows,
                       int64_t C, float eps)
{
  if (rows == 0)
    return HART_OK;
  if (w && w->data == NULL)
    return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA rmsnorm: weight not a vector");
  k_rmsnorm<<<(unsigned)rows, 256, 0, cu_p(be)->stream>>>(y, x, w ? w->data : NULL, C, eps);
  CU_LAUNCHED(be, "k_rmsnorm");
  return HART_OK;
}

static __global__ void k_layernorm(float *y, const float *x, const float *w, const float *b,
                                   int64_t C, float eps)
{
  __shared__ float sh[32];
  const float *xr = x + blockIdx.x * C;
  float *yr = y + blockIdx.x * C;
  float s = 0.0f, mean, var = 0.0f, r;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    s += xr[c];
  mean = cu_block_sum(s, sh) / (float)C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    var += (xr[c] - mean) * (xr[c] - mean);
  var = cu_block_sum(var, sh) / (float)C;
  r = 1.0f / sqrtf(var + eps);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float v = (xr[c] - mean) * r;
    if (w)
      v *= w[c];
    if (b)
      v += b[c];
    yr[c] = v;
  }
}

hart_status cu_layernorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                         const hart_bw *b, int64_t rows, int64_t C, float eps)
{
  if (rows == 0)
    return HART_OK;
  if ((w && w->data == NULL) || (b && b->data == NULL))
    return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA layernorm: weight not a vector");
  k_layernorm<<<(unsigned)rows, 256, 0, cu_p(be)->stream>>>(y, x, w ? w->data : NULL,
                                                            b ? b->data : NULL, C, eps);
  CU_LAUNCHED(be, "k_layernorm");
  return HART_OK;
}

/* ---- element-wise ---- */

static __device__ __forceinline__ float silu1(float v)
{
  return v / (1.0f + expf(-v));
}

static __global__ void k_fill(float *y, float v, int64_t n)
{
  GRID_STRIDE(i, n) y[i] = v;
}

static __global__ void k_silu(float *y, const float *x, int64_t n)
{
  GRID_STRIDE(i, n) y[i] = silu1(x[i]);
}

static __global__ void k_silu_mul(float *y, const float *a, const float *b, int64_t n)
{
  GRID_STRIDE(i, n) y[i] = silu1(a[i]) * b[i];
}

static __global__ void k_axpby(float *y, float alpha, const float *a, float beta, const float *b,
                               int64_t n)
{
  if (b == NULL) {
    GRID_STRIDE(i, n) y[i] = alpha * a[i];
  } else {
    GRID_STRIDE(i, n) y[i] = alpha * a[i] + beta * b[i];
  }
}

static __global__ void k_add_row(int64_t r0, float *y, const float *x, const float *v, int C)
{
  int64_t off = (r0 + blockIdx.y) * (int64_t)C;
  ROW_LOOP(j, C) y[off + j] = x[off + j] + v[j];
}

static __global__ void k_modulate(int64_t r0, float *y, const float *x, const float *scale,
                                  const float *shift, int C, int64_t rpg, int64_t ld)
{
  int64_t r = r0 + blockIdx.y, off = r * C, o = (r / rpg) * ld;
  ROW_LOOP(j, C) y[off + j] = x[off + j] * (1.0f + scale[o + j]) + shift[o + j];
}

static __global__ void k_gated_add(int64_t r0, float *y, const float *gate, const float *x, int C,
                                   int64_t rpg, int64_t ld)
{
  int64_t r = r0 + blockIdx.y, off = r * C, o = (r / rpg) * ld;
  ROW_LOOP(j, C) y[off + j] += gate[o + j] * x[off + j];
}

#define LAUNCH_EW(be, kernel, n, ...)                                                              \
  do {                                                                                             \
    if ((n) > 0) {                                                                                 \
      kernel<<<cu_blocks((n), 256), 256, 0, cu_p(be)->stream>>>(__VA_ARGS__);                      \
      CU_LAUNCHED(be, #kernel);                                                                    \
    }                                                                                              \
    return HART_OK;                                                                                \
  } while (0)

hart_status cu_fill(hart_backend *be, float *dst, float value, int64_t n)
{
  LAUNCH_EW(be, k_fill, n, dst, value, n);
}

hart_status cu_silu(hart_backend *be, float *y, const float *x, int64_t n)
{
  LAUNCH_EW(be, k_silu, n, y, x, n);
}

hart_status cu_silu_mul(hart_backend *be, float *y, const float *a, const float *b, int64_t n)
{
  LAUNCH_EW(be, k_silu_mul, n, y, a, b, n);
}

hart_status cu_axpby(hart_backend *be, float *y, float alpha, const float *a, float beta,
                     const float *b, int64_t n)
{
  if (beta == 0.0f)
    b = NULL;
  LAUNCH_EW(be, k_axpby, n, y, alpha, a, beta, b, n);
}

hart_status cu_add_row(hart_backend *be, float *y, const float *x, const float *v, int64_t rows,
                       int64_t C)
{
  LAUNCH_ROWS(be, k_add_row, rows, C, y, x, v, (int)C);
}

hart_status cu_modulate(hart_backend *be, float *y, const float *x, const float *scale,
                        const float *shift, int64_t rows, int64_t C, int64_t rows_per_group,
                        int64_t ld)
{
  if (rows_per_group <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA modulate: rows_per_group <= 0");
  LAUNCH_ROWS(be, k_modulate, rows, C, y, x, scale, shift, (int)C, rows_per_group, ld);
}

hart_status cu_gated_add(hart_backend *be, float *y, const float *gate, const float *x,
                         int64_t rows, int64_t C, int64_t rows_per_group, int64_t ld)
{
  if (rows_per_group <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA gated_add: rows_per_group <= 0");
  LAUNCH_ROWS(be, k_gated_add, rows, C, y, gate, x, (int)C, rows_per_group, ld);
}

/* ---- pooling, transpose ---- */

static __global__ void k_pool_max(float *y, const float *x, int64_t G, int64_t n, int64_t C)
{
  GRID_STRIDE(i, G * C)
  {
    int64_t g = i / C, c = i % C;
    float m = -INFINITY;
    for (int64_t t = 0; t < n; t++)
      m = fmaxf(m, x[(g * n + t) * C + c]);
    y[i] = m;
  }
}

static __global__ void k_pool_mean_masked(float *y, const float *x, const float *mask, int64_t G,
                                          int64_t n, int64_t C)
{
  GRID_STRIDE(i, G * C)
  {
    int64_t g = i / C, c = i % C;
    float cnt = 0.0f, s = 0.0f;
    for (int64_t t = 0; t < n; t++)
      cnt += mask[g * n + t];
    if (cnt < 1.0f)
      cnt = 1.0f;
    for (int64_t t = 0; t < n; t++)
      s += x[(g * n + t) * C + c] * mask[g * n + t] / cnt;
    y[i] = s;
  }
}

hart_status cu_pool_max(hart_backend *be, float *y, const float *x, int64_t G, int64_t n, int64_t C)
{
  LAUNCH_EW(be, k_pool_max, G * C, y, x, G, n, C);
}

hart_status cu_pool_mean_masked(hart_backend *be, float *y, const float *x, const float *mask,
                                int64_t G, int64_t n, int64_t C)
{
  LAUNCH_EW(be, k_pool_mean_masked, G * C, y, x, mask, G, n, C);
}

/* 32x32 tiles through shared memory (padded against bank conflicts); grid z = batch. */
static __global__ void k_transpose(float *y, const float *x, int64_t rows, int64_t cols)
{
  __shared__ float tile[32][33];
  const float *xb = x + blockIdx.z * rows * cols;
  float *yb = y + blockIdx.z * rows * cols;
  int64_t i0 = (int64_t)blockIdx.y * 32, j0 = (int64_t)blockIdx.x * 32;
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    int64_t i = i0 + k, j = j0 + threadIdx.x;
    if (i < rows && j < cols)
      tile[k][threadIdx.x] = xb[i * cols + j];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    int64_t j = j0 + k, i = i0 + threadIdx.x;
    if (i < rows && j < cols)
      yb[j * rows + i] = tile[threadIdx.x][k];
  }
}

hart_status cu_transpose(hart_backend *be, float *y, const float *x, int64_t batch, int64_t rows,
                         int64_t cols)
{
  dim3 grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32), (unsigned)batch);
  if (batch == 0 || rows == 0 || cols == 0)
    return HART_OK;
  if (grid.y > 65535 || batch > 65535)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA transpose: too many rows/batches");
  k_transpose<<<grid, dim3(32, 8), 0, cu_p(be)->stream>>>(y, x, rows, cols);
  CU_LAUNCHED(be, "k_transpose");
  return HART_OK;
}
