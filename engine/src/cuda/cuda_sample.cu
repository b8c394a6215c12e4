/* cuda_sample.cu: the sampling op (backend.h, hart_sample_args), one block per token row:
 *   CFG mix into shared memory -> top-k threshold by an MSB-first radix select over the row
 *   (ties at the threshold kept) -> optional top-p -> the kept list in ascending vocab order ->
 *   softmax -> idx = argmax p/E (first index on ties) -> soft (Gumbel softmax mixture of codebook
 *   rows, fp32, only the kept rows) or hard (codebook[idx]) embedding.
 * Random numbers: E = -log(u) with u = hart_philox_uniform(seed, stage, 0, r*V + v), and for the
 * Gumbel noise -log(-log(u2)) with u2 from stream (stage, 1), element r*V + v: the same mapping as
 * the CPU backend, so a seed gives the same indices on both (up to near-ties of p/E). */
#include "cuda_common.h"

#include <math.h>
#include <stdlib.h>

extern "C" {
#include "../philox.h"
}

#define SAMPLE_THREADS 512

struct sample_dev {
  const float *logits;
  int64_t R, V, Cv;
  float t;
  int top_k;
  float top_p;
  int smooth;
  float smooth_mul, tau;
  const float *codebook;
  uint64_t seed;
  uint32_t stage;
  const int64_t *replay_idx; /* device copies, or NULL */
  const int64_t *replay_keep;
  int64_t replay_K;
  const float *replay_gumbel;
  int32_t *idx_out;
  float *h_out;
  int32_t *keep_idx_out; /* [R, Kout] or NULL */
  float *keep_logit_out;
  int64_t Kout;
};

static __device__ __forceinline__ uint32_t ord_key(float f)
{
  uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/* Argmax of (val, idx): larger value wins, the lower index on ties. */
static __device__ void blk_reduce_argmax(float *val, int *idx, float *shv, int *shi)
{
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  float v = *val;
  int i = *idx;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
  __syncthreads();
  if (lane == 0) {
    shv[wid] = v;
    shi[wid] = i;
  }
  __syncthreads();
  v = lane < nw ? shv[lane] : -INFINITY;
  i = lane < nw ? shi[lane] : 0x7fffffff;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
  *val = v;
  *idx = i;
}

/* Exclusive prefix sum of one int per thread; returns the block total in *total. */
static __device__ int blk_exclusive_scan(int x, int *sh, int *total)
{
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  int incl = x;
  for (int o = 1; o < 32; o <<= 1) {
    int y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o)
      incl += y;
  }
  __syncthreads();
  if (lane == 31)
    sh[wid] = incl;
  __syncthreads();
  if (wid == 0) {
    int w = lane < nw ? sh[lane] : 0, wi = w;
    for (int o = 1; o < 32; o <<= 1) {
      int y = __shfl_up_sync(0xffffffffu, wi, o);
      if (lane >= o)
        wi += y;
    }
    if (lane < nw)
      sh[lane] = wi - w; /* exclusive offset of each warp */
    if (lane == nw - 1)
      sh[32] = wi;
  }
  __syncthreads();
  *total = sh[32];
  return sh[wid] + incl - x;
}

static __global__ void __launch_bounds__(SAMPLE_THREADS) k_sample(sample_dev a)
{
  extern __shared__ float sm[];
  __shared__ float shf[32];
  __shared__ int shi[33];
  __shared__ unsigned hist[256];
  __shared__ uint32_t s_prefix;
  __shared__ int s_kk;
  const int64_t V = a.V, r = blockIdx.x;
  float *red = sm;                                   /* [SAMPLE_THREADS] partial sums */
  float *g = sm + SAMPLE_THREADS;                    /* [V] CFG logits */
  float *y = g + V;                                  /* [V] weights of the kept list */
  int *list = (int *)(y + V);                        /* [V] kept vocab ids, ascending */
  unsigned char *keep = (unsigned char *)(list + V); /* [V] flags */
  const float *lc = a.logits + r * V, *lu = a.logits + (a.R + r) * V;
  const int per = (int)((V + blockDim.x - 1) / blockDim.x);
  int K, best_i;
  float m, s, best_v;

  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    g[v] = __fsub_rn(__fmul_rn(1.0f + a.t, lc[v]), __fmul_rn(a.t, lu[v])); /* no FMA: as the CPU */
    keep[v] = 0;
  }
  __syncthreads();

  {
    /* The engine's own filter (also computed when replaying: the dump reports it). */
    uint32_t thr_key = 0;
    if (a.top_k > 0 && a.top_k < V) {
      /* k-th largest ordered key, 8 bits at a time from the top. */
      uint32_t prefix = 0, mask = 0;
      int kk = a.top_k;
      for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x)
          hist[b] = 0;
        __syncthreads();
        for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
          uint32_t k = ord_key(g[v]);
          if ((k & mask) == prefix)
            atomicAdd(&hist[(k >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
          int cum = 0, b;
          for (b = 255; b > 0; b--) {
            if (cum + (int)hist[b] >= kk)
              break;
            cum += (int)hist[b];
          }
          s_prefix = prefix | ((uint32_t)b << shift);
          s_kk = kk - cum;
        }
        __syncthreads();
        prefix = s_prefix;
        kk = s_kk;
        mask |= 255u << shift;
      }
      thr_key = prefix;
    }
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
      keep[v] = ord_key(g[v]) >= thr_key;
    __syncthreads();

    if (a.top_p > 0.0f) {
      /* VAR's filter, as the CPU backend: sort ascending (ties by id), accumulate the softmax
       * mass of the kept entries, drop those whose cumulative mass is <= 1 - top_p, never the
       * last (largest) one. Here each entry sums the mass at or below its own position:
       * O(V^2 / threads), fine for an option the release does not use. */
      float mx = -INFINITY, sum = 0.0f;
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        mx = fmaxf(mx, g[v]);
      mx = cu_block_max(mx, shf);
      if (threadIdx.x == 0)
        s_kk = -1;
      __syncthreads();
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        if (g[v] == mx)
          atomicMax(&s_kk, (int)v);
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        if (keep[v])
          sum += expf(g[v] - mx);
      sum = cu_block_sum(sum, shf); /* its barriers also publish s_kk */
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        float cum = 0.0f;
        y[v] = 1.0f;
        if (!keep[v] || v == s_kk)
          continue;
        for (int64_t u = 0; u < V; u++)
          if (keep[u] && (g[u] < g[v] || (g[u] == g[v] && u <= v)))
            cum += expf(g[u] - mx) / sum;
        if (cum <= 1.0f - a.top_p)
          y[v] = 0.0f;
      }
      __syncthreads();
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        if (y[v] == 0.0f)
          keep[v] = 0;
      __syncthreads();
    }

    /* Compact the kept ids in ascending order: thread i owns ids [i*per, (i+1)*per). */
    {
      int cnt = 0, off;
      int64_t v0 = (int64_t)threadIdx.x * per;
      for (int j = 0; j < per; j++)
        if (v0 + j < V && keep[v0 + j])
          cnt++;
      off = blk_exclusive_scan(cnt, shi, &K);
      for (int j = 0; j < per; j++)
        if (v0 + j < V && keep[v0 + j])
          list[off++] = (int)(v0 + j);
      __syncthreads();
    }
  }

  /* Dump outputs: the engine's own kept ids and their CFG logits (first Kout, -1/-inf after). */
  if (a.keep_idx_out) {
    for (int64_t j = threadIdx.x; j < a.Kout; j += blockDim.x) {
      a.keep_idx_out[r * a.Kout + j] = j < K ? list[j] : -1;
      a.keep_logit_out[r * a.Kout + j] = j < K ? g[list[j]] : -INFINITY;
    }
  }

  if (a.replay_keep) {
    /* The recorded kept set replaces the filter; its order defines the list (and the order of
     * the recorded Gumbel noise). */
    __syncthreads();
    K = (int)a.replay_K;
    for (int j = threadIdx.x; j < K; j += blockDim.x)
      list[j] = (int)a.replay_keep[r * a.replay_K + j];
    __syncthreads();
  }

  /* Softmax over the kept entries and the hard sample. */
  m = -INFINITY;
  for (int j = threadIdx.x; j < K; j += blockDim.x)
    m = fmaxf(m, g[list[j]]);
  m = cu_block_max(m, shf);
  s = 0.0f;
  for (int j = threadIdx.x; j < K; j += blockDim.x)
    s += expf(g[list[j]] - m);
  s = cu_block_sum(s, shf);
  if (a.replay_idx) {
    best_i = (int)a.replay_idx[r];
  } else {
    best_v = -INFINITY;
    best_i = 0x7fffffff;
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
      int v = list[j];
      float p = expf(g[v] - m) / s;
      float e = -logf(hart_philox_uniform(a.seed, a.stage, 0, (uint64_t)(r * V + v)));
      float q = p / e;
      if (q > best_v || (q == best_v && v < best_i)) {
        best_v = q;
        best_i = v;
      }
    }
    blk_reduce_argmax(&best_v, &best_i, shf, shi);
    if (best_i == 0x7fffffff)
      best_i = K > 0 ? list[0] : 0;
  }
  if (threadIdx.x == 0)
    a.idx_out[r] = best_i;

  if (!a.smooth) {
    for (int64_t c = threadIdx.x; c < a.Cv; c += blockDim.x)
      a.h_out[r * a.Cv + c] = a.codebook[(int64_t)best_i * a.Cv + c];
    return;
  }

  /* Gumbel softmax over the kept entries, then the mixture of their codebook rows. */
  {
    float m2 = -INFINITY, s2 = 0.0f;
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
      int v = list[j];
      float gum =
          a.replay_gumbel
              ? a.replay_gumbel[r * a.replay_K + j]
              : -logf(-logf(hart_philox_uniform(a.seed, a.stage, 1, (uint64_t)(r * V + v))));
      /* No FMA: the logits are scaled by up to ~40 here, so match the CPU's rounding. */
      float z = __fdiv_rn(__fadd_rn(__fmul_rn(g[v], a.smooth_mul), gum), a.tau);
      y[j] = z;
      m2 = fmaxf(m2, z);
    }
    m2 = cu_block_max(m2, shf);
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
      float e = expf(y[j] - m2);
      y[j] = e;
      s2 += e;
    }
    s2 = cu_block_sum(s2, shf);
    __syncthreads();
    /* Thread (c, part) sums every nparts-th kept row for channel c; partials are combined in
     * a fixed order so the result does not depend on scheduling. */
    {
      int Cv = (int)a.Cv, nparts = blockDim.x / Cv, c = threadIdx.x % Cv, part = threadIdx.x / Cv;
      float acc = 0.0f;
      if (part < nparts)
        for (int j = part; j < K; j += nparts)
          acc += y[j] * a.codebook[(int64_t)list[j] * Cv + c];
      red[threadIdx.x] = acc;
      __syncthreads();
      if (threadIdx.x < Cv) {
        float tot = 0.0f;
        for (int pp = 0; pp < nparts; pp++)
          tot += red[pp * Cv + threadIdx.x];
        a.h_out[r * a.Cv + threadIdx.x] = tot / s2;
      }
    }
  }
}

/* Uploads a host array into a slice of the work scratch (16-byte aligned offsets). */
static void *stage_host(hart_backend *be, unsigned char *base, size_t *off, const void *src,
                        size_t bytes)
{
  void *dst = base + *off;
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu_p(be)->stream);
  *off += (bytes + 255) & ~(size_t)255;
  if (e != cudaSuccess) {
    cu_fail(be, e, "cudaMemcpyAsync (sampler replay input)");
    return NULL;
  }
  return dst;
}

hart_status cu_sample(hart_backend *be, const hart_sample_args *a)
{
  cu_priv *p = cu_p(be);
  sample_dev d;
  int64_t R = a->B * a->n, V = a->V;
  size_t smem = (size_t)V * (3 * sizeof(float) + 1) + SAMPLE_THREADS * sizeof(float) + 16;
  size_t need = 0, off = 0;
  unsigned char *work;

  if (R == 0)
    return HART_OK;
  if (V <= 0 || a->Cv <= 0 || a->Cv > SAMPLE_THREADS || a->codebook == NULL ||
      a->codebook->data == NULL)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA sample: bad arguments (V %lld, Cv %lld, codebook %s)", (long long)V,
                     (long long)a->Cv, a->codebook && a->codebook->data ? "ok" : "missing");
  if (a->smooth && !(a->tau > 0.0f))
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA sample: tau must be > 0");
  if (smem > p->smem_optin)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "CUDA sample: vocabulary %lld too large",
                     (long long)V);
  if (R > 0x7fffffff)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA sample: too many rows");
  /* Replay inputs are checked on the host: a bad id would index out of bounds on the device. */
  if (a->replay_idx)
    for (int64_t r = 0; r < R; r++)
      if (a->replay_idx[r] < 0 || a->replay_idx[r] >= V)
        return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                         "sampler replay: idx[%lld] = %lld outside [0, %lld)", (long long)r,
                         (long long)a->replay_idx[r], (long long)V);
  if (a->replay_keep) {
    if (a->replay_K <= 0 || a->replay_K > V)
      return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "sampler replay: kept count %lld",
                       (long long)a->replay_K);
    for (int64_t i = 0; i < R * a->replay_K; i++)
      if (a->replay_keep[i] < 0 || a->replay_keep[i] >= V)
        return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                         "sampler replay: keep_idx entry %lld = %lld outside [0, %lld)",
                         (long long)i, (long long)a->replay_keep[i], (long long)V);
  }
  if (a->smooth && a->replay_gumbel && !a->replay_keep)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "sampler replay: Gumbel noise needs the kept set");

  memset(&d, 0, sizeof d);
  d.logits = a->logits;
  d.R = R;
  d.V = V;
  d.Cv = a->Cv;
  d.t = a->t;
  d.top_k = a->top_k;
  d.top_p = a->top_p;
  d.smooth = a->smooth;
  d.smooth_mul = a->smooth_mul;
  d.tau = a->tau;
  d.codebook = a->codebook->data;
  d.seed = a->seed;
  d.stage = a->stage;
  d.replay_K = a->replay_K;
  d.idx_out = a->idx_out;
  d.h_out = a->h_out;
  d.Kout = a->top_k > 0 ? a->top_k : V; /* the dump's row length, as the CPU backend */

  /* Scratch layout: replay inputs, then the dump outputs. */
  if (a->replay_idx)
    need += ((size_t)R * 8 + 255) & ~(size_t)255;
  if (a->replay_keep)
    need += ((size_t)(R * a->replay_K) * 8 + 255) & ~(size_t)255;
  if (a->replay_gumbel && a->smooth)
    need += ((size_t)(R * a->replay_K) * 4 + 255) & ~(size_t)255;
  if (a->keep_idx_host || a->keep_logit_host)
    need += 2 * (((size_t)(R * d.Kout) * 4 + 255) & ~(size_t)255);
  work = (unsigned char *)cu_scratch_get(be, &p->work, need > 0 ? need : 256);
  if (work == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  if (a->replay_idx && (d.replay_idx = (const int64_t *)stage_host(be, work, &off, a->replay_idx,
                                                                   (size_t)R * 8)) == NULL)
    return be->err->code;
  if (a->replay_keep &&
      (d.replay_keep = (const int64_t *)stage_host(be, work, &off, a->replay_keep,
                                                   (size_t)(R * a->replay_K) * 8)) == NULL)
    return be->err->code;
  if (a->replay_gumbel && a->smooth &&
      (d.replay_gumbel = (const float *)stage_host(be, work, &off, a->replay_gumbel,
                                                   (size_t)(R * a->replay_K) * 4)) == NULL)
    return be->err->code;
  if (a->keep_idx_host || a->keep_logit_host) {
    d.keep_idx_out = (int32_t *)(work + off);
    off += ((size_t)(R * d.Kout) * 4 + 255) & ~(size_t)255;
    d.keep_logit_out = (float *)(work + off);
    off += ((size_t)(R * d.Kout) * 4 + 255) & ~(size_t)255;
  }

  if (smem > 48 * 1024) {
    CU_CHECK(
        be, cudaFuncSetAttribute(k_sample, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  }
  k_sample<<<(unsigned)R, SAMPLE_THREADS, smem, p->stream>>>(d);
  CU_LAUNCHED(be, "k_sample");

  if (a->keep_idx_host) {
    CU_CHECK(be, cudaMemcpyAsync(a->keep_idx_host, d.keep_idx_out, (size_t)(R * d.Kout) * 4,
                                 cudaMemcpyDeviceToHost, p->stream));
  }
  if (a->keep_logit_host) {
    CU_CHECK(be, cudaMemcpyAsync(a->keep_logit_host, d.keep_logit_out, (size_t)(R * d.Kout) * 4,
                                 cudaMemcpyDeviceToHost, p->stream));
  }
  if (a->idx_host) {
    int32_t *tmp = (int32_t *)malloc((size_t)R * sizeof(int32_t));
    cudaError_t e;
    if (tmp == NULL)
      return hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory");
    e = cudaMemcpyAsync(tmp, a->idx_out, (size_t)R * 4, cudaMemcpyDeviceToHost, p->stream);
    if (e == cudaSuccess)
      e = cudaStreamSynchronize(p->stream);
    if (e != cudaSuccess) {
      free(tmp);
      return cu_fail(be, e, "download of sampled ids");
    }
    for (int64_t r = 0; r < R; r++)
      a->idx_host[r] = tmp[r];
    free(tmp);
  }
  if (a->keep_idx_host || a->keep_logit_host || a->replay_idx || a->replay_keep) {
    /* Host outputs must be complete, and the staged replay inputs (in scratch) stay valid
     * only until the next op that grows the scratch: finish here. */
    CU_CHECK(be, cudaStreamSynchronize(p->stream));
  }
  return HART_OK;
}
