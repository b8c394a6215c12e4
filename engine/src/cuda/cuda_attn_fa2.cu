/* cuda_attn_fa2.cu: a FlashAttention-2 style attention kernel over the fp16 KV cache (hd 64, 128),
 * opt-in with HART_CUDA_ATTN=fa2 until it is measured on a GPU (cuda_attn.cu picks kernels).
 *
 * Same contract and numerics as the WMMA flash kernel (hart-spec 3.3): fp16 Q/K/V operands, fp32
 * scores and online softmax, P rounded to fp16, fp32 PV accumulation. What differs is where the
 * intermediate values live: the flash kernel round-trips S, P and O through shared memory and
 * does the softmax with two lanes per row; here everything but the K/V tiles stays in registers,
 * in the fragment layouts of `mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32` (PTX ISA,
 * "Matrix Fragments for mma.m16n8k16 with floating point type"). With g = lane >> 2 (groupID) and
 * t = lane & 3 (thread in group):
 *   A (16x16 f16, 4 x .f16x2): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
 *     a3 = A[g+8][2t+8..];
 *   B (16x8 f16, K x N, 2 x .f16x2): b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g];
 *   C/D (16x8 f32): c0, c1 = C[g][2t], C[g][2t+1]; c2, c3 = C[g+8][2t], C[g+8][2t+1].
 * So a thread owns rows g and g+8 of its warp's 16 queries: row maxima and sums reduce over the
 * four lanes of a quad (__shfl_xor_sync with 1 and 2). Two C tiles of S (keys 16k..16k+7 and
 * 16k+8..16k+15), rounded to fp16 pairs, are exactly the A fragment of P for keys 16k..16k+15, so
 * P never leaves registers (the FA2 trick).
 *
 * A block has WARPS warps, 16 queries each, of one (g, h). K/V tiles of 64 keys are copied from
 * the cache into shared memory with 16-byte cp.async (double-buffered: the next tile loads while
 * this one is used), zero-filled past L. B fragments come from shared memory through ldmatrix:
 * K rows (keys) are B's columns, so K uses the plain form; V rows (keys) are B's rows, so V uses
 * .trans. Rows are padded by 8 halves (16 bytes) so that the eight 16-byte rows an 8x8 ldmatrix
 * reads fall in distinct banks. */
#include "cuda_common.h"

#include <math.h>

/* ---- PTX wrappers ---- */

static __device__ __forceinline__ uint32_t fa2_smem_addr(const void *p)
{
  return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; src_bytes 0 fills the destination with zeros (nothing is read). */
static __device__ __forceinline__ void fa2_cp_async16(uint32_t dst, const void *src, int src_bytes)
{
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
}

static __device__ __forceinline__ void fa2_cp_async_commit(void)
{
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/* Waits until at most N committed groups are still in flight. */
template <int N> static __device__ __forceinline__ void fa2_cp_async_wait(void)
{
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives
 * matrix i in the fragment layout (row g, columns 2t, 2t+1), or of its transpose with .trans. */
static __device__ __forceinline__ void fa2_ldmatrix_x4(uint32_t r[4], uint32_t addr)
{
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

static __device__ __forceinline__ void fa2_ldmatrix_x4_trans(uint32_t r[4], uint32_t addr)
{
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

/* c += a b for one 16x8x16 tile (fp16 operands, fp32 accumulators). */
static __device__ __forceinline__ void fa2_mma(float c[4], const uint32_t a[4], uint32_t b0,
                                               uint32_t b1)
{
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
               "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Two floats rounded to fp16 (ties to even) in one .f16x2 register; lo is the lower column. */
static __device__ __forceinline__ uint32_t fa2_pack(float lo, float hi)
{
  union {
    __half2 h;
    uint32_t u;
  } v;
  v.h = __floats2half2_rn(lo, hi);
  return v.u;
}

/* ---- the kernel ---- */

template <int HD, int WARPS> struct fa2_cfg {
  static constexpr int BQ = 16 * WARPS; /* queries per block */
  static constexpr int BK = 64;         /* keys per tile */
  static constexpr int LDH = HD + 8;    /* shared row stride in halves (padding) */
  static constexpr int TILE = BK * LDH; /* halves per K or V tile */
  static constexpr size_t SMEM = (size_t)4 * TILE * sizeof(__half); /* K, V x 2 buffers */
};

/* Copies keys [j0, j0 + BK) of K and V into one shared buffer; zeros past L (the cache beyond L
 * may be past its capacity, and V must be finite there since P = 0 multiplies it). */
template <int HD, int WARPS>
static __device__ __forceinline__ void fa2_load_kv(__half *Ks, __half *Vs, const __half *kb,
                                                   const __half *vb, int64_t j0, int64_t L)
{
  typedef fa2_cfg<HD, WARPS> C;
  constexpr int CHUNKS = C::BK * (HD / 8); /* 16-byte pieces per tile */
  static_assert(CHUNKS % (WARPS * 32) == 0, "tile copy must split evenly over the block");
#pragma unroll
  for (int k = 0; k < CHUNKS / (WARPS * 32); k++) {
    int i = k * WARPS * 32 + threadIdx.x, r = i / (HD / 8), c8 = (i % (HD / 8)) * 8;
    int ok = j0 + r < L;
    int64_t off = ok ? (j0 + r) * HD + c8 : 0;
    fa2_cp_async16(fa2_smem_addr(Ks + r * C::LDH + c8), kb + off, ok ? 16 : 0);
    fa2_cp_async16(fa2_smem_addr(Vs + r * C::LDH + c8), vb + off, ok ? 16 : 0);
  }
}

/* o [G, n, H, HD] fp32; q [G, H, n, HD] fp32; kc, vc this layer's [G, H, Lmax, HD] fp16 planes.
 * Grid: (ceil(n / BQ), G * H). scale_log2 = scale * log2(e): scores are kept in base-2 units so
 * the softmax uses exp2f (exp(s * scale - m) = exp2(s * scale_log2 - m')). */
template <int HD, int WARPS>
static __global__ void __launch_bounds__(WARPS * 32)
    k_attn_fa2(float *o, const float *q, const __half *kc, const __half *vc, int64_t H, int64_t n,
               int64_t L, int64_t Lmax, float scale_log2)
{
  typedef fa2_cfg<HD, WARPS> C;
  constexpr int BK = C::BK, NT = BK / 8, DT = HD / 8, KQ = HD / 16;
  extern __shared__ __align__(128) unsigned char fa2_smem[];
  __half *sm = (__half *)fa2_smem; /* [buffer][K | V] tiles */
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  int64_t gh = blockIdx.y, gi = gh / H, h = gh % H;
  int64_t r0 = (int64_t)blockIdx.x * C::BQ + wid * 16; /* the warp's first query */
  const __half *kb = kc + gh * Lmax * HD, *vb = vc + gh * Lmax * HD;
  int64_t ntiles = (L + BK - 1) / BK;
  uint32_t qf[KQ][4];                    /* Q as A fragments, one per 16 dims */
  float acc[DT][4];                      /* O accumulator, C fragments per 8 dims */
  float m[2] = { -INFINITY, -INFINITY }; /* running max of rows g, g+8 (base-2 units) */
  float l[2] = { 0.0f, 0.0f };           /* this thread's part of the running sums */

  /* Start the first tile's copy, then read Q (rows past n are zeros: finite scores, no write). */
  fa2_load_kv<HD, WARPS>(sm, sm + C::TILE, kb, vb, 0, L);
  fa2_cp_async_commit();
  {
    const float *qb = q + gh * n * HD;
    int64_t ra = r0 + g, rb = r0 + g + 8;
#pragma unroll
    for (int kq = 0; kq < KQ; kq++) {
      int d = kq * 16 + 2 * t;
      float2 z = make_float2(0.0f, 0.0f);
      float2 a0 = ra < n ? *(const float2 *)(qb + ra * HD + d) : z;
      float2 a1 = rb < n ? *(const float2 *)(qb + rb * HD + d) : z;
      float2 a2 = ra < n ? *(const float2 *)(qb + ra * HD + d + 8) : z;
      float2 a3 = rb < n ? *(const float2 *)(qb + rb * HD + d + 8) : z;
      qf[kq][0] = fa2_pack(a0.x, a0.y);
      qf[kq][1] = fa2_pack(a1.x, a1.y);
      qf[kq][2] = fa2_pack(a2.x, a2.y);
      qf[kq][3] = fa2_pack(a3.x, a3.y);
    }
  }
#pragma unroll
  for (int dt = 0; dt < DT; dt++)
    acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;

  for (int64_t it = 0; it < ntiles; it++) {
    int64_t j0 = it * BK;
    const __half *Ks = sm + (it & 1) * 2 * C::TILE, *Vs = Ks + C::TILE;
    float s[NT][4];

    if (it + 1 < ntiles) {
      __half *Kn = sm + ((it + 1) & 1) * 2 * C::TILE;
      fa2_load_kv<HD, WARPS>(Kn, Kn + C::TILE, kb, vb, j0 + BK, L);
      fa2_cp_async_commit();
      fa2_cp_async_wait<1>(); /* this tile's group is complete, the next may still fly */
    } else {
      fa2_cp_async_wait<0>();
    }
    __syncthreads(); /* every thread's pieces of this tile are visible */

    /* S = Q K^T: B[k][n] = K[key n][dim k]. One ldmatrix.x4 gives b0, b1 of key blocks j and
     * j+1 for dims 16kq..16kq+15: lane l addresses key 8j + (l & 7) + 8 (l >> 4), dim 16kq +
     * 8 ((l >> 3) & 1), so registers 0, 1 = (j, dims +0, +8) and 2, 3 = (j+1, dims +0, +8). */
#pragma unroll
    for (int j = 0; j < NT; j++)
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kq = 0; kq < KQ; kq++) {
#pragma unroll
      for (int j = 0; j < NT; j += 2) {
        uint32_t b[4];
        int key = 8 * j + (lane & 7) + 8 * (lane >> 4), d = 16 * kq + 8 * ((lane >> 3) & 1);
        fa2_ldmatrix_x4(b, fa2_smem_addr(Ks + key * C::LDH + d));
        fa2_mma(s[j], qf[kq], b[0], b[1]);
        fa2_mma(s[j + 1], qf[kq], b[2], b[3]);
      }
    }

    /* Online softmax for rows g (s[.][0..1]) and g+8 (s[.][2..3]). Every tile holds at least
     * one key < L, so the new maximum is finite for finite inputs; keys past L get -inf before
     * the maximum and so p = exp2(-inf) = 0. */
    {
      float mx[2] = { m[0], m[1] }, alpha[2];
      bool tail = j0 + BK > L;
#pragma unroll
      for (int j = 0; j < NT; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          float v = s[j][e] * scale_log2;
          if (tail && j0 + 8 * j + 2 * t + (e & 1) >= L)
            v = -INFINITY;
          s[j][e] = v;
          mx[e >> 1] = fmaxf(mx[e >> 1], v);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        /* Guard: a row whose scores are all -inf (only with infinite inputs) keeps p = 0
         * instead of exp2(-inf - -inf) = NaN. */
        float mu = mx[r] == -INFINITY ? 0.0f : mx[r];
        alpha[r] = exp2f(m[r] - mu);
        m[r] = mx[r];
        l[r] *= alpha[r];
#pragma unroll
        for (int j = 0; j < NT; j++) {
          float p0 = exp2f(s[j][2 * r] - mu), p1 = exp2f(s[j][2 * r + 1] - mu);
          s[j][2 * r] = p0;
          s[j][2 * r + 1] = p1;
          l[r] += p0 + p1;
        }
      }
#pragma unroll
      for (int dt = 0; dt < DT; dt++) {
        acc[dt][0] *= alpha[0];
        acc[dt][1] *= alpha[0];
        acc[dt][2] *= alpha[1];
        acc[dt][3] *= alpha[1];
      }
    }

    /* O += P V. The A fragment of P for keys 16kk..16kk+15 is the C fragments of S tiles 2kk
     * (a0 = row g, a1 = row g+8) and 2kk+1 (a2, a3), rounded to fp16. B[k][n] = V[key k][dim n]:
     * ldmatrix.trans with lane l addressing key 16kk + (l & 7) + 8 ((l >> 3) & 1), dim 8dt +
     * 8 (l >> 4) gives b0, b1 of dims 8dt..8dt+7 (registers 0, 1) and 8dt+8.. (2, 3). */
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
      uint32_t pa[4];
      pa[0] = fa2_pack(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = fa2_pack(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = fa2_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = fa2_pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dt = 0; dt < DT; dt += 2) {
        uint32_t b[4];
        int key = 16 * kk + (lane & 7) + 8 * ((lane >> 3) & 1), d = 8 * dt + 8 * (lane >> 4);
        fa2_ldmatrix_x4_trans(b, fa2_smem_addr(Vs + key * C::LDH + d));
        fa2_mma(acc[dt], pa, b[0], b[1]);
        fa2_mma(acc[dt + 1], pa, b[2], b[3]);
      }
    }
    __syncthreads(); /* this buffer is refilled by the next iteration's prefetch */
  }

  /* O / l: complete the row sums over the quad, then write rows < n as float2 pairs. */
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int64_t row = r0 + g + 8 * r;
    float inv = 1.0f / l[r];
    if (row < n) {
      float *dst = o + ((gi * n + row) * H + h) * HD + 2 * t;
#pragma unroll
      for (int dt = 0; dt < DT; dt++)
        *(float2 *)(dst + 8 * dt) = make_float2(acc[dt][2 * r] * inv, acc[dt][2 * r + 1] * inv);
    }
  }
}

template <int HD, int WARPS>
static int fa2_launch(hart_backend *be, hart_status *st, float *o, const float *q, const __half *kc,
                      const __half *vc, int64_t G, int64_t H, int64_t n, int64_t L, int64_t Lmax,
                      float scale)
{
  typedef fa2_cfg<HD, WARPS> C;
  cu_priv *p = cu_p(be);
  dim3 grid((unsigned)((n + C::BQ - 1) / C::BQ), (unsigned)(G * H));

  if (C::SMEM > p->smem_optin)
    return 0;
  if (C::SMEM > 48 * 1024) {
    cudaError_t e = cudaFuncSetAttribute(k_attn_fa2<HD, WARPS>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) {
      *st = cu_fail(be, e, "cudaFuncSetAttribute(k_attn_fa2)");
      return 1;
    }
  }
  k_attn_fa2<HD, WARPS><<<grid, WARPS * 32, C::SMEM, p->stream>>>(o, q, kc, vc, H, n, L, Lmax,
                                                                  scale * 1.44269504088896341f);
  *st = cu_check_launch(be, "k_attn_fa2");
  return 1;
}

int cu_attention_fa2(hart_backend *be, hart_status *st, float *o, const float *q, const __half *kc,
                     const __half *vc, int64_t G, int64_t H, int64_t n, int64_t L, int64_t Lmax,
                     int64_t hd, float scale, int bq128)
{
  /* float2 loads/stores of q and o need 8 bytes, cp.async 16 (rows of hd halves keep it). */
  if (G * H > 65535 || ((uintptr_t)o | (uintptr_t)q | (uintptr_t)kc | (uintptr_t)vc) % 16 != 0)
    return 0;
  switch (hd) {
  case 64:
    return bq128 && n > 64 ? fa2_launch<64, 8>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale)
                           : fa2_launch<64, 4>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale);
  case 128:
    return bq128 && n > 64 ? fa2_launch<128, 8>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale)
                           : fa2_launch<128, 4>(be, st, o, q, kc, vc, G, H, n, L, Lmax, scale);
  default:
    return 0;
  }
}
