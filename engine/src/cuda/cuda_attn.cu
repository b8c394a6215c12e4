/* cuda_attn.cu: the KV cache, rotary embedding + cache append, and attention over the cache.
 *
 * The cache stores fp16 (hart-spec 3.4: the reference keeps K and V in fp16, and the flash kernel
 * rounds them to fp16 anyway, so its results are unchanged by the storage) in one cudaMalloc'ed
 * block: layer l's K at (2l)*per halves, its V at (2l+1)*per, per = G*H*capacity*hd, each
 * [G, H, capacity, hd]. 2.9 GB at the released shapes instead of 5.75 GB in fp32.
 *
 * Attention has three kernels:
 *   - flash (default for hd = 16, 32, 64, 128): tensor cores through WMMA. A block takes 64
 *     queries of one (g, h); K/V tiles are copied from the fp16 cache into shared memory;
 *     S = Q.K^T in fp32, an fp32 online softmax, P rounded to fp16 and O += P.V accumulated in
 *     fp32 (this is the FlashAttention-2 numerics the reference's SDPA uses, hart-spec 3.3: fp16
 *     q/k/v operands, fp32 scores and softmax, fp16 P, fp32 PV accumulation).
 *   - ref: one warp per query, fp32 math over the fp16 K/V (the CPU backend's numerics but for the
 *     cache's rounding); any hd. Used for other head sizes, when the flash kernel's shared memory
 *     does not fit, or when HART_CUDA_ATTN=ref;
 *   - fa2 (cuda_attn_fa2.cu, hd 64 and 128, opt-in with HART_CUDA_ATTN=fa2 until measured on a
 *     GPU): the same numerics with S, P, the softmax state and O in mma.sync registers. */
#include "cuda_common.h"

#include <math.h>
#include <mma.h>
#include <stdlib.h>
#include <string.h>

using namespace nvcuda;

/* ---- the cache ---- */

static __half *kv_plane(const hart_kv_cache *kv, int64_t layer, int which)
{
  int64_t per = kv->G * kv->H * kv->capacity * kv->hd;
  return (__half *)kv->mem + (2 * layer + which) * per;
}

hart_kv_cache *cu_kv_cache_new(hart_backend *be, int64_t layers, int64_t G, int64_t H, int64_t hd,
                               int64_t capacity)
{
  cu_priv *p = cu_p(be);
  hart_kv_cache *kv;
  size_t bytes;
  cudaError_t e;

  if (layers < 1 || G < 1 || H < 1 || hd < 1 || capacity < 1) {
    hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA kv_cache_new: bad shape");
    return NULL;
  }
  bytes = (size_t)(layers * 2 * G * H * capacity * hd) * sizeof(__half);
  kv = (hart_kv_cache *)calloc(1, sizeof *kv);
  if (kv == NULL) {
    hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  e = cudaMalloc(&kv->mem, bytes);
  if (e == cudaSuccess)
    e = cudaMemsetAsync(kv->mem, 0, bytes, p->stream);
  if (e != cudaSuccess) {
    if (kv->mem)
      cudaFree(kv->mem);
    free(kv);
    cu_fail(be, e, "KV cache allocation");
    return NULL;
  }
  kv->layers = layers;
  kv->G = G;
  kv->H = H;
  kv->hd = hd;
  kv->capacity = capacity;
  kv->elem_size = sizeof(__half);
  kv->bytes = bytes;
  cu_note_memory(p);
  return kv;
}

void cu_kv_cache_free(hart_backend *be, hart_kv_cache *kv)
{
  if (kv == NULL)
    return;
  if (!cu_p(be)->capturing)
    cu_graphs_drop(cu_p(be)); /* recordings of attention read this cache */
  cudaFree(kv->mem);          /* synchronises: queued kernels reading the cache finish first */
  free(kv);
}

hart_status cu_kv_cache_read(hart_backend *be, const hart_kv_cache *kv, int64_t layer, int64_t L,
                             float *k_host, float *v_host)
{
  int64_t rows = kv->G * kv->H, hd = kv->hd;
  __half *stage;

  if (layer < 0 || layer >= kv->layers || L < 0 || L > kv->capacity)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA kv_cache_read: layer %lld, L %lld",
                     (long long)layer, (long long)L);
  if (L == 0)
    return HART_OK;
  stage = (__half *)malloc((size_t)(rows * L * hd) * sizeof(__half));
  if (stage == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory");
  for (int which = 0; which < 2; which++) {
    float *dst = which ? v_host : k_host;
    cudaError_t e;
    if (dst == NULL)
      continue;
    e = cudaMemcpy2DAsync(stage, (size_t)(L * hd) * sizeof(__half), kv_plane(kv, layer, which),
                          (size_t)(kv->capacity * hd) * sizeof(__half),
                          (size_t)(L * hd) * sizeof(__half), (size_t)rows, cudaMemcpyDeviceToHost,
                          cu_p(be)->stream);
    if (e == cudaSuccess)
      e = cudaStreamSynchronize(cu_p(be)->stream);
    if (e != cudaSuccess) {
      free(stage);
      return cu_fail(be, e, "KV cache download");
    }
    for (int64_t i = 0; i < rows * L * hd; i++)
      dst[i] = __half2float(stage[i]);
  }
  free(stage);
  return HART_OK;
}

/* ---- rope_append ---- */

#define ROPE_WARPS 4

/* One warp per (g, t, h): optional L2 norm (needs the whole head), rotate-half, then writes q
 * and appends k, v to the caches. Normalised values pass through shared memory because the
 * rotation pairs d with d +- hd/2, which another lane holds. */
static __global__ void k_rope_append(hart_rope_args a, __half *k_cache, __half *v_cache,
                                     int64_t Lmax)
{
  extern __shared__ float rs[];
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int64_t hd = a.hd, h2 = a.hd / 2, H = a.H;
  float *qs = rs + (int64_t)wid * 2 * hd, *ks = qs + hd;
  int64_t rows = a.G * a.n * a.H;

  for (int64_t w = blockIdx.x * (int64_t)ROPE_WARPS + wid; w < rows;
       w += (int64_t)gridDim.x * ROPE_WARPS) {
    int64_t h = w % H, gt = w / H, t = gt % a.n, g = gt / a.n;
    const float *src = a.qkv + gt * 3 * H * hd + h * hd;
    const float *cs = a.cos ? a.cos + gt * hd : NULL;
    const float *sn = a.sin ? a.sin + gt * hd : NULL;
    float qscale = 1.0f, kscale = 1.0f;
    int64_t qo = ((g * H + h) * a.n + t) * hd;
    int64_t co = ((g * H + h) * Lmax + a.L0 + t) * hd;

    if (a.l2_scale) {
      float sq = 0.0f, sk = 0.0f;
      for (int64_t d = lane; d < hd; d += 32) {
        sq += src[d] * src[d];
        sk += src[H * hd + d] * src[H * hd + d];
      }
      for (int o = 16; o > 0; o >>= 1) {
        sq += __shfl_xor_sync(0xffffffffu, sq, o);
        sk += __shfl_xor_sync(0xffffffffu, sk, o);
      }
      qscale = a.l2_scale[h] / fmaxf(sqrtf(sq), 1e-12f);
      kscale = 1.0f / fmaxf(sqrtf(sk), 1e-12f);
    }
    __syncwarp();
    for (int64_t d = lane; d < hd; d += 32) {
      qs[d] = src[d] * qscale;
      ks[d] = src[H * hd + d] * kscale;
      v_cache[co + d] = __float2half_rn(src[2 * H * hd + d]);
    }
    __syncwarp();
    for (int64_t d = lane; d < hd; d += 32) {
      float qv = qs[d], kv = ks[d];
      if (cs) {
        float c = cs[d], s = sn[d];
        if (d < h2) {
          qv = qs[d] * c - qs[d + h2] * s;
          kv = ks[d] * c - ks[d + h2] * s;
        } else {
          qv = qs[d] * c + qs[d - h2] * s;
          kv = ks[d] * c + ks[d - h2] * s;
        }
      }
      a.q[qo + d] = qv;
      k_cache[co + d] = __float2half_rn(kv);
    }
    __syncwarp();
  }
}

hart_status cu_rope_append(hart_backend *be, const hart_rope_args *a)
{
  int64_t rows = a->G * a->n * a->H;
  size_t smem = (size_t)ROPE_WARPS * 2 * (size_t)a->hd * sizeof(float);
  const hart_kv_cache *kv = a->kv;
  if (kv == NULL || kv->G != a->G || kv->H != a->H || kv->hd != a->hd || a->layer < 0 ||
      a->layer >= kv->layers)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA rope_append: the cache does not match (layer %lld)",
                     (long long)a->layer);
  if (a->hd <= 0 || a->hd % 2 != 0 || a->L0 < 0 || a->L0 + a->n > kv->capacity)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA rope_append: bad shape (hd %lld, L0 %lld, n %lld, capacity %lld)",
                     (long long)a->hd, (long long)a->L0, (long long)a->n, (long long)kv->capacity);
  if (rows == 0)
    return HART_OK;
  if (smem > 48 * 1024)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "CUDA rope_append: head size %lld too large",
                     (long long)a->hd);
  k_rope_append<<<cu_blocks(rows, ROPE_WARPS), ROPE_WARPS * 32, smem, cu_p(be)->stream>>>(
      *a, kv_plane(kv, a->layer, 0), kv_plane(kv, a->layer, 1), kv->capacity);
  CU_LAUNCHED(be, "k_rope_append");
  return HART_OK;
}

/* ---- attention: reference kernel (fp32, any hd) ---- */

#define REF_WARPS 4

static __global__ void k_attn_ref(float *o, const float *q, const __half *kc, const __half *vc,
                                  int64_t G, int64_t H, int64_t n, int64_t L, int64_t Lmax,
                                  int64_t hd, float scale)
{
  extern __shared__ float as[];
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *qs = as + (int64_t)wid * (2 * hd + 32), *os = qs + hd, *pw = os + hd;
  int64_t rows = G * H * n;

  for (int64_t r = blockIdx.x * (int64_t)REF_WARPS + wid; r < rows;
       r += (int64_t)gridDim.x * REF_WARPS) {
    int64_t t = r % n, gh = r / n, g = gh / H, h = gh % H;
    const __half *kb = kc + gh * Lmax * hd, *vb = vc + gh * Lmax * hd;
    float m = -INFINITY, l = 0.0f;

    __syncwarp();
    for (int64_t d = lane; d < hd; d += 32) {
      qs[d] = q[r * hd + d];
      os[d] = 0.0f;
    }
    __syncwarp();
    for (int64_t j0 = 0; j0 < L; j0 += 32) {
      int64_t j = j0 + lane;
      float s = -INFINITY, mc, mn, alpha, p, ps;
      int cnt = (int)(L - j0 < 32 ? L - j0 : 32);
      if (j < L) {
        const __half *kr = kb + j * hd;
        float acc = 0.0f;
        for (int64_t d = 0; d < hd; d++)
          acc += qs[d] * __half2float(kr[d]);
        s = acc * scale;
      }
      mc = s;
      for (int off = 16; off > 0; off >>= 1)
        mc = fmaxf(mc, __shfl_xor_sync(0xffffffffu, mc, off));
      mn = fmaxf(m, mc);
      alpha = expf(m - mn);
      p = j < L ? expf(s - mn) : 0.0f;
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
          acc += pw[jj] * __half2float(vb[(j0 + jj) * hd + d]);
        os[d] = acc;
      }
      __syncwarp();
    }
    for (int64_t d = lane; d < hd; d += 32)
      o[((g * n + t) * H + h) * hd + d] = os[d] / l;
  }
}

/* ---- attention: flash kernel (WMMA fp16, fp32 accumulation) ---- */

/* BQ queries per block (16 per warp); BK keys per tile. */
template <int HD, int BQ> struct fa_cfg {
  static constexpr int BK = HD >= 128 ? 32 : 64;
  static constexpr int LDH = HD + 8; /* fp16 rows of Q, K, V */
  static constexpr int LDS = BK + 4; /* fp32 scores */
  static constexpr int LDP = BK + 8; /* fp16 probabilities */
  static constexpr int LDO = HD + 4; /* fp32 output accumulator */
  static constexpr size_t al(size_t b)
  {
    return (b + 127) & ~(size_t)127;
  }
  static constexpr size_t OFF_Q = 0;
  static constexpr size_t OFF_K = OFF_Q + al(sizeof(__half) * BQ * LDH);
  static constexpr size_t OFF_V = OFF_K + al(sizeof(__half) * BK * LDH);
  static constexpr size_t OFF_S = OFF_V + al(sizeof(__half) * BK * LDH);
  static constexpr size_t OFF_P = OFF_S + al(sizeof(float) * BQ * LDS);
  static constexpr size_t OFF_O = OFF_P + al(sizeof(__half) * BQ * LDP);
  static constexpr size_t SMEM = OFF_O + al(sizeof(float) * BQ * LDO);
};

/* Loads rows [r0, r0+nr) of a [*, HD] fp32 matrix into fp16 shared rows (zeros past `valid`). */
template <int HD>
static __device__ void load_rows_half(__half *dst, int ld, const float *src, int64_t r0, int nr,
                                      int64_t valid)
{
  for (int i = threadIdx.x; i < nr * (HD / 4); i += blockDim.x) {
    int r = i / (HD / 4), c4 = i % (HD / 4);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r0 + r < valid)
      v = *(const float4 *)(src + (r0 + r) * HD + c4 * 4);
    __half *d = dst + r * ld + c4 * 4;
    d[0] = __float2half_rn(v.x);
    d[1] = __float2half_rn(v.y);
    d[2] = __float2half_rn(v.z);
    d[3] = __float2half_rn(v.w);
  }
}

/* Copies rows [r0, r0+nr) of a [*, HD] fp16 matrix into shared rows (zeros past `valid`), 16 bytes
 * at a time (HD is a multiple of 8; rows are 16-byte aligned in both). */
template <int HD>
static __device__ void copy_rows_half(__half *dst, int ld, const __half *src, int64_t r0, int nr,
                                      int64_t valid)
{
  for (int i = threadIdx.x; i < nr * (HD / 8); i += blockDim.x) {
    int r = i / (HD / 8), c8 = i % (HD / 8);
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (r0 + r < valid)
      v = *(const uint4 *)(src + (r0 + r) * HD + c8 * 8);
    *(uint4 *)(dst + r * ld + c8 * 8) = v;
  }
}

template <int HD, int BQ>
static __global__ void __launch_bounds__(BQ * 2)
    k_attn_flash(float *o, const float *q, const __half *kc, const __half *vc, int64_t H, int64_t n,
                 int64_t L, int64_t Lmax, float scale)
{
  typedef fa_cfg<HD, BQ> C;
  constexpr int BK = C::BK;
  extern __shared__ __align__(128) unsigned char smem[];
  __half *Qs = (__half *)(smem + C::OFF_Q);
  __half *Ks = (__half *)(smem + C::OFF_K);
  __half *Vs = (__half *)(smem + C::OFF_V);
  float *Ss = (float *)(smem + C::OFF_S);
  __half *Ps = (__half *)(smem + C::OFF_P);
  float *Os = (float *)(smem + C::OFF_O);
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int64_t gh = blockIdx.y, g = gh / H, h = gh % H;
  int64_t t0 = (int64_t)blockIdx.x * BQ;
  const __half *kb = kc + gh * Lmax * HD, *vb = vc + gh * Lmax * HD;
  /* Softmax bookkeeping: lanes 2r and 2r+1 own row r of the warp's 16, half the columns each. */
  int row = wid * 16 + (lane >> 1), half = lane & 1;
  float m = -INFINITY, l = 0.0f;

  load_rows_half<HD>(Qs, C::LDH, q + gh * n * HD, t0, BQ, n);
  for (int i = threadIdx.x; i < BQ * C::LDO; i += blockDim.x)
    Os[i] = 0.0f;

  for (int64_t j0 = 0; j0 < L; j0 += BK) {
    int valid = (int)(L - j0 < BK ? L - j0 : BK);
    __syncthreads(); /* the previous tile's K/V are no longer read */
    copy_rows_half<HD>(Ks, C::LDH, kb, j0, BK, L);
    copy_rows_half<HD>(Vs, C::LDH, vb, j0, BK, L);
    __syncthreads();

    /* S = Q K^T for this warp's 16 rows. */
#pragma unroll
    for (int nt = 0; nt < BK / 16; nt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
        wmma::load_matrix_sync(fa, Qs + (wid * 16) * C::LDH + kk * 16, C::LDH);
        wmma::load_matrix_sync(fb, Ks + (nt * 16) * C::LDH + kk * 16, C::LDH);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(Ss + (wid * 16) * C::LDS + nt * 16, acc, C::LDS, wmma::mem_row_major);
    }
    __syncwarp();

    /* Online softmax on the tile; rescale the running output rows. */
    {
      float *sr = Ss + row * C::LDS;
      __half *pr = Ps + row * C::LDP;
      float mt = -INFINITY, mn, alpha, ps = 0.0f;
      int c0 = half * (BK / 2), c1 = c0 + BK / 2;
      for (int c = c0; c < c1; c++) {
        float s = c < valid ? sr[c] * scale : -INFINITY;
        sr[c] = s;
        mt = fmaxf(mt, s);
      }
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
      mn = fmaxf(m, mt);
      alpha = expf(m - mn);
      for (int c = c0; c < c1; c++) {
        float p = c < valid ? expf(sr[c] - mn) : 0.0f;
        ps += p;
        pr[c] = __float2half_rn(p);
      }
      ps += __shfl_xor_sync(0xffffffffu, ps, 1);
      l = l * alpha + ps;
      m = mn;
      for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); d++)
        Os[row * C::LDO + d] *= alpha;
    }
    __syncwarp();

    /* O += P V for this warp's rows. */
#pragma unroll
    for (int dt = 0; dt < HD / 16; dt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Os + (wid * 16) * C::LDO + dt * 16, C::LDO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < BK / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, Ps + (wid * 16) * C::LDP + kk * 16, C::LDP);
        wmma::load_matrix_sync(fb, Vs + (kk * 16) * C::LDH + dt * 16, C::LDH);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(Os + (wid * 16) * C::LDO + dt * 16, acc, C::LDO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (t0 + row < n) {
    float inv = 1.0f / l;
    float *dst = o + ((g * n + t0 + row) * H + h) * HD;
    for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); d++)
      dst[d] = Os[row * C::LDO + d] * inv;
  }
}

template <int HD, int BQ>
static int flash_launch_bq(hart_backend *be, hart_status *st, float *o, const float *q,
                           const __half *kc, const __half *vc, int64_t G, int64_t H, int64_t n,
                           int64_t L, int64_t Lmax, float scale)
{
  cu_priv *p = cu_p(be);
  size_t smem = fa_cfg<HD, BQ>::SMEM;
  dim3 grid((unsigned)((n + BQ - 1) / BQ), (unsigned)(G * H));
  cudaError_t e;

  if (smem > p->smem_optin)
    return 0;
  e = cudaFuncSetAttribute(k_attn_flash<HD, BQ>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           (int)smem);
  if (e != cudaSuccess) {
    *st = cu_fail(be, e, "cudaFuncSetAttribute(k_attn_flash)");
    return 1;
  }
  k_attn_flash<HD, BQ><<<grid, BQ * 2, smem, p->stream>>>(o, q, kc, vc, H, n, L, Lmax, scale);
  *st = cu_check_launch(be, "k_attn_flash");
  return 1;
}

/* Queries per block. Measured on an H100 at the released shapes (depth 24, 1024 px), scales
 * 10-13 took 650 ms with 64-query blocks against 745 ms with 128-query blocks (more blocks in
 * flight beat the halved K/V tile traffic), so 64 is the default; HART_CUDA_FLASH_BQ=128 selects
 * 128-query blocks where the shared memory allows, for timing the two variants (the fa2 kernel
 * too: 8 warps instead of 4). Read at every call, like HART_CUDA_ATTN below. */
static int use_bq128(void)
{
  const char *e = getenv("HART_CUDA_FLASH_BQ");
  return e != NULL && strcmp(e, "128") == 0;
}

/* Returns 0 when the flash kernel does not apply (the caller then uses the reference kernel). */
template <int HD>
static int flash_launch(hart_backend *be, hart_status *st, float *o, const float *q,
                        const __half *kc, const __half *vc, int64_t G, int64_t H, int64_t n,
                        int64_t L, int64_t Lmax, float scale)
{
  if (G * H > 65535 || ((uintptr_t)o | (uintptr_t)q | (uintptr_t)kc | (uintptr_t)vc) % 16 != 0)
    return 0;
  if (n > 64 && use_bq128() &&
      flash_launch_bq<HD, 128>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale))
    return 1;
  return flash_launch_bq<HD, 64>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale);
}

/* HART_CUDA_ATTN: "ref" forces the fp32 reference kernel, "flash" the WMMA flash kernel; unset
 * (or anything else) selects the FlashAttention-2 kernel (cuda_attn_fa2.cu) where it applies (hd
 * 64 and 128), else the flash kernel. fa2 is the default since it was measured on an H200: 6.4 to
 * 6.9 times the flash kernel's speed at scales 10-13 (250 against 40 TFLOPS), the golden replays
 * and the op tests within the same budgets. Read at every call (a getenv is far below a launch's
 * cost) so that test-cuda-ops and bench-ops-pipeline can run each kernel in one process. */
enum { ATTN_FLASH, ATTN_REF, ATTN_FA2 };

static int attention_choice(void)
{
  const char *e = getenv("HART_CUDA_ATTN");
  if (e != NULL && strcmp(e, "ref") == 0)
    return ATTN_REF;
  if (e != NULL && strcmp(e, "flash") == 0)
    return ATTN_FLASH;
  return ATTN_FA2;
}

hart_status cu_attention(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                         int64_t layer, int64_t n, int64_t L, float scale)
{
  int64_t G = kv->G, H = kv->H, hd = kv->hd, Lmax = kv->capacity;
  const __half *k_cache, *v_cache;
  hart_status st = HART_OK;
  size_t smem;
  int done = 0, choice;

  if (G * H * n == 0)
    return HART_OK;
  if (layer < 0 || layer >= kv->layers)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA attention: no layer %lld",
                     (long long)layer);
  k_cache = kv_plane(kv, layer, 0);
  v_cache = kv_plane(kv, layer, 1);
  if (L <= 0 || L > Lmax || hd <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA attention: bad shape (L %lld, Lmax %lld, hd %lld)", (long long)L,
                     (long long)Lmax, (long long)hd);
  choice = attention_choice();
  if (choice == ATTN_FA2)
    done =
        cu_attention_fa2(be, &st, o, q, k_cache, v_cache, G, H, n, L, Lmax, hd, scale, use_bq128());
  if (!done && choice != ATTN_REF) {
    switch (hd) {
    case 16:
      done = flash_launch<16>(be, &st, o, q, k_cache, v_cache, G, H, n, L, Lmax, scale);
      break;
    case 32:
      done = flash_launch<32>(be, &st, o, q, k_cache, v_cache, G, H, n, L, Lmax, scale);
      break;
    case 64:
      done = flash_launch<64>(be, &st, o, q, k_cache, v_cache, G, H, n, L, Lmax, scale);
      break;
    case 128:
      done = flash_launch<128>(be, &st, o, q, k_cache, v_cache, G, H, n, L, Lmax, scale);
      break;
    default:
      break;
    }
  }
  if (done)
    return st;
  smem = (size_t)REF_WARPS * (size_t)(2 * hd + 32) * sizeof(float);
  if (smem > cu_p(be)->smem_optin)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "CUDA attention: head size %lld too large",
                     (long long)hd);
  if (smem > 48 * 1024) {
    CU_CHECK(be, cudaFuncSetAttribute(k_attn_ref, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      (int)smem));
  }
  k_attn_ref<<<cu_blocks(G * H * n, REF_WARPS), REF_WARPS * 32, smem, cu_p(be)->stream>>>(
      o, q, k_cache, v_cache, G, H, n, L, Lmax, hd, scale);
  CU_LAUNCHED(be, "k_attn_ref");
  return HART_OK;
}
