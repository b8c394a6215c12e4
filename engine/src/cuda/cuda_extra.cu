/* cuda_extra.cu: ops added after the first op table: the VAE attention pieces (batched product
 * of two activations, row softmax, clamp) and the Qwen2 encoder's in-place RoPE and causal,
 * key-masked grouped-query attention. */
#include "cuda_common.h"

#include <math.h>

#define GRID_STRIDE(i, n)                                                                          \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t)gridDim.x * blockDim.x)

/* ---- bmm ---- */

/* Both operands are rounded to fp16 (the reference's VAE attention runs its two products under
 * autocast), accumulated in fp32 by cuBLAS. Row-major c = op(a).op(b) is column-major
 * c^T = op(b)^T . op(a)^T, so b is cuBLAS's first operand. */
hart_status cu_bmm(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                   int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha)
{
  cu_priv *p = cu_p(be);
  __half *ah, *bh;
  float beta = 0.0f;
  hart_status st;

  if (batch == 0 || M == 0 || N == 0)
    return HART_OK;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || batch > INT32_MAX)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA bmm: shape too large");
  ah = (__half *)cu_scratch_get(be, &p->half_a, (size_t)(batch * M * K) * sizeof(__half));
  if (ah == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  bh = (__half *)cu_scratch_get(be, &p->half_c, (size_t)(batch * K * N) * sizeof(__half));
  if (bh == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  if ((st = cu_to_half(be, ah, a, batch * M * K)) != HART_OK ||
      (st = cu_to_half(be, bh, b, batch * K * N)) != HART_OK)
    return st;
  CUBLAS_CHECK(be, cublasGemmStridedBatchedEx(
                       p->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                       trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, bh,
                       CUDA_R_16F, (int)(trans_b ? K : N), (long long)(K * N), ah, CUDA_R_16F,
                       (int)(trans_a ? M : K), (long long)(M * K), &beta, c, CUDA_R_32F, (int)N,
                       (long long)(M * N), (int)batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return HART_OK;
}

/* ---- softmax_rows, clamp ---- */

static __global__ void k_softmax_rows(float *y, const float *x, int64_t n)
{
  __shared__ float sh[32];
  const float *xr = x + blockIdx.x * n;
  float *yr = y + blockIdx.x * n;
  float m = -INFINITY, s = 0.0f, inv;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
    m = fmaxf(m, xr[j]);
  m = cu_block_max(m, sh);
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
    s += expf(xr[j] - m);
  s = cu_block_sum(s, sh);
  inv = 1.0f / s;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
    yr[j] = expf(xr[j] - m) * inv;
}

hart_status cu_softmax_rows(hart_backend *be, float *y, const float *x, int64_t rows, int64_t n)
{
  if (rows == 0 || n == 0)
    return HART_OK;
  if (rows > INT32_MAX)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA softmax_rows: too many rows");
  k_softmax_rows<<<(unsigned)rows, 256, 0, cu_p(be)->stream>>>(y, x, n);
  CU_LAUNCHED(be, "k_softmax_rows");
  return HART_OK;
}

static __global__ void k_clamp(float *y, const float *x, int64_t n, float lo, float hi)
{
  GRID_STRIDE(i, n)
  {
    float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

hart_status cu_clamp(hart_backend *be, float *y, const float *x, int64_t n, float lo, float hi)
{
  if (n == 0)
    return HART_OK;
  k_clamp<<<cu_blocks(n, 256), 256, 0, cu_p(be)->stream>>>(y, x, n, lo, hi);
  CU_LAUNCHED(be, "k_clamp");
  return HART_OK;
}

/* ---- Qwen2: rope_inplace, attention_causal ---- */

static __global__ void k_rope_inplace(float *x, const float *cs, const float *sn, int64_t G,
                                      int64_t n, int64_t H, int64_t hd)
{
  int64_t half = hd / 2;
  GRID_STRIDE(i, G * n * H * half)
  {
    int64_t d = i % half, row = i / half, t = (row / H) % n;
    float *xh = x + row * hd;
    const float *c = cs + t * hd, *s = sn + t * hd;
    float a = xh[d], b = xh[d + half];
    xh[d] = a * c[d] - b * s[d];
    xh[d + half] = b * c[d + half] + a * s[d + half];
  }
}

hart_status cu_rope_inplace(hart_backend *be, float *x, const float *cos, const float *sin,
                            int64_t G, int64_t n, int64_t H, int64_t hd)
{
  int64_t total = G * n * H * (hd / 2);
  if (total == 0)
    return HART_OK;
  if (hd % 2 != 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA rope_inplace: odd head size");
  k_rope_inplace<<<cu_blocks(total, 256), 256, 0, cu_p(be)->stream>>>(x, cos, sin, G, n, H, hd);
  CU_LAUNCHED(be, "k_rope_inplace");
  return HART_OK;
}

#define CA_WARPS 4

/* One warp per query (g, h, i): online softmax over the visible keys j <= i, fp32. A query that
 * sees no key gets the mean of v over all n keys (the CPU backend's and HF's behaviour). */
static __global__ void k_attn_causal(float *o, const float *q, const float *k, const float *v,
                                     const float *mask, int64_t G, int64_t n, int64_t H, int64_t KV,
                                     int64_t hd, float scale)
{
  extern __shared__ float cs_[];
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *qs = cs_ + (int64_t)wid * (2 * hd + 32), *os = qs + hd, *pw = os + hd;
  int64_t rows = G * H * n, ldq = H * hd, ldk = KV * hd;

  for (int64_t r = blockIdx.x * (int64_t)CA_WARPS + wid; r < rows;
       r += (int64_t)gridDim.x * CA_WARPS) {
    int64_t i = r % n, gh = r / n, g = gh / H, h = gh % H, kvh = h / (H / KV);
    const float *kb = k + g * n * ldk + kvh * hd, *vb = v + g * n * ldk + kvh * hd;
    const float *mk = mask ? mask + g * n : NULL;
    float m = -INFINITY, l = 0.0f;

    __syncwarp();
    for (int64_t d = lane; d < hd; d += 32) {
      qs[d] = q[(g * n + i) * ldq + h * hd + d];
      os[d] = 0.0f;
    }
    __syncwarp();
    for (int64_t j0 = 0; j0 <= i; j0 += 32) {
      int64_t j = j0 + lane;
      int ok = j <= i && (mk == NULL || mk[j] != 0.0f);
      float s = -INFINITY, mc, mn, alpha, p, ps;
      int cnt = (int)(i + 1 - j0 < 32 ? i + 1 - j0 : 32);
      if (ok) {
        float acc = 0.0f;
        for (int64_t d = 0; d < hd; d++)
          acc += qs[d] * kb[j * ldk + d];
        s = acc * scale;
      }
      mc = s;
      for (int off = 16; off > 0; off >>= 1)
        mc = fmaxf(mc, __shfl_xor_sync(0xffffffffu, mc, off));
      if (mc == -INFINITY)
        continue; /* nothing visible in this chunk (uniform across the warp) */
      mn = fmaxf(m, mc);
      alpha = expf(m - mn);
      p = ok ? expf(s - mn) : 0.0f;
      ps = p;
      for (int off = 16; off > 0; off >>= 1)
        ps += __shfl_xor_sync(0xffffffffu, ps, off);
      l = l * alpha + ps;
      m = mn;
      pw[lane] = p;
      __syncwarp();
      for (int64_t d = lane; d < hd; d += 32) {
        float acc = os[d] * alpha;
        for (int jj = 0; jj < cnt; jj++)
          acc += pw[jj] * vb[(j0 + jj) * ldk + d];
        os[d] = acc;
      }
      __syncwarp();
    }
    if (l > 0.0f) {
      for (int64_t d = lane; d < hd; d += 32)
        o[(g * n + i) * ldq + h * hd + d] = os[d] / l;
    } else {
      for (int64_t d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int64_t jj = 0; jj < n; jj++)
          acc += vb[jj * ldk + d];
        o[(g * n + i) * ldq + h * hd + d] = acc / (float)n;
      }
    }
  }
}

hart_status cu_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                const float *v, const float *key_mask, int64_t G, int64_t n,
                                int64_t H, int64_t KV, int64_t hd, float scale)
{
  size_t smem = (size_t)CA_WARPS * (size_t)(2 * hd + 32) * sizeof(float);
  if (G * H * n == 0)
    return HART_OK;
  if (KV <= 0 || H % KV != 0 || hd <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA attention_causal: %lld heads, %lld kv heads, hd %lld", (long long)H,
                     (long long)KV, (long long)hd);
  if (smem > 48 * 1024)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "CUDA attention_causal: head size too large");
  k_attn_causal<<<cu_blocks(G * H * n, CA_WARPS), CA_WARPS * 32, smem, cu_p(be)->stream>>>(
      o, q, k, v, key_mask, G, n, H, KV, hd, scale);
  CU_LAUNCHED(be, "k_attn_causal");
  return HART_OK;
}
