/* cuda_common.h: state and helpers shared by the CUDA backend's .cu files.
 *
 * Files:
 *   cuda_backend.cu    creation, memory, weights, errors, the op table
 *   cuda_dense.cu      linear/matmul (cuBLAS, fp16 operands, fp32 accumulation), embedding, norms,
 *                      element-wise ops, pooling, transpose
 *   cuda_attn.cu       the fp16 KV cache, rotary embedding + KV append, flash-style attention
 *   cuda_attn_fa2.cu   FlashAttention-2 style attention (mma.sync, registers), HART_CUDA_ATTN=fa2
 *   cuda_sample.cu     CFG, top-k/top-p, hard sample, Gumbel soft embedding
 *   cuda_image.cu      conv2d (im2col + cuBLAS), GroupNorm, resampling, the DDPM step
 *   cuda_extra.cu      bmm, row softmax, clamp (VAE attention); Qwen2 RoPE and causal attention
 *   cuda_graph.cu      recorded op sequences (CUDA graphs) for the graph_* ops
 *
 * Everything runs on one stream (priv->stream), so ops are ordered without events. Errors: every
 * CUDA/cuBLAS call is checked; cudaErrorMemoryAllocation becomes HART_ERR_DEVICE_MEMORY, anything
 * else HART_ERR_DEVICE naming the call. A non-sticky error is cleared (cudaGetLastError) so the
 * next request works; a sticky error (an illegal address, a kernel fault) poisons the CUDA context
 * for the rest of the process: the backend must then be destroyed and a new process (or at least a
 * new backend after cudaDeviceReset, which we do not do behind the owner's back) used. */
#ifndef HART_CUDA_COMMON_H
#define HART_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "../backend.h"
}

/* A growable device scratch buffer (one per purpose, reused across ops). */
typedef struct {
  void *p;
  size_t bytes;
} cu_scratch;

/* A recorded op sequence (cuda_graph.cu), replayed by key. */
typedef struct {
  uint64_t key;
  cudaGraphExec_t exec;
} cu_graph;

#define CU_MAX_GRAPHS 64
#define CU_MAX_GRAVEYARD 16

typedef struct {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  void *blas_ws; /* cuBLAS workspace, fixed so graph capture stays possible later */
  size_t blas_ws_bytes;
  int sm_count;
  size_t smem_optin; /* max dynamic shared memory per block */
  cu_scratch half_a; /* fp16 copies of GEMM activations / im2col columns / bmm's first operand */
  cu_scratch half_b; /* unused since the KV cache is fp16 (kept for a second converted operand) */
  cu_scratch half_c; /* bmm's second operand */
  cu_scratch work;   /* fp32/int scratch (groupnorm partials, sampler, replay inputs) */
  int *flag;         /* pinned host word written by kernels on bad input (e.g. token id) */
  size_t mem_total;
  size_t mem_base; /* used bytes at creation (context, cuBLAS) */
  size_t mem_peak; /* peak used bytes observed (cudaMemGetInfo after each allocation) */
  cu_graph graphs[CU_MAX_GRAPHS];
  int n_graphs;
  int capturing; /* the stream is recording (graph_begin .. graph_end) */
  uint64_t capture_key;
  void *graveyard[CU_MAX_GRAVEYARD]; /* scratch blocks replaced while recording */
  int n_graveyard;
} cu_priv;

static inline cu_priv *cu_p(hart_backend *be)
{
  return (cu_priv *)be->priv;
}

/* Records a CUDA failure in be->err and clears the non-sticky error state. */
hart_status cu_fail(hart_backend *be, cudaError_t e, const char *what);
hart_status cu_blas_fail(hart_backend *be, cublasStatus_t s, const char *what);
/* Checks the launch that just happened (configuration errors, earlier async faults). */
hart_status cu_check_launch(hart_backend *be, const char *kernel);
/* Ensures a scratch buffer holds at least `bytes`; returns its pointer or NULL (+ error). */
void *cu_scratch_get(hart_backend *be, cu_scratch *s, size_t bytes);
/* Updates the observed peak device memory. */
void cu_note_memory(cu_priv *p);
/* Drops every recorded graph (their buffers are going away) and frees parked scratch blocks. */
void cu_graphs_drop(cu_priv *p);
hart_status cu_graph_launch(hart_backend *be, uint64_t key, int *launched);
hart_status cu_graph_begin(hart_backend *be, uint64_t key);
hart_status cu_graph_end(hart_backend *be, uint64_t key, int keep);
void cu_graph_reset(hart_backend *be);
/* fp32 -> fp16 conversion of n values on the stream. */
hart_status cu_to_half(hart_backend *be, __half *dst, const float *src, int64_t n);
/* Per-plane and per-row kernels (cuda_image.cu, cuda_dense.cu) take the plane or row from
 * blockIdx.y, launched in chunks of at most CU_MAX_GRID_Y, and stride over its `per_plane`
 * elements with 32-bit indices in at most max_bx blocks of CU_PLANE_THREADS. */
#define CU_PLANE_THREADS 256
#define CU_MAX_GRID_Y 65535
static inline dim3 cu_plane_grid(int64_t per_plane, int64_t planes, int64_t max_bx)
{
  int64_t bx = (per_plane + CU_PLANE_THREADS - 1) / CU_PLANE_THREADS;
  if (bx > max_bx)
    bx = max_bx;
  if (bx < 1)
    bx = 1;
  return dim3((unsigned)bx, (unsigned)(planes < CU_MAX_GRID_Y ? planes : CU_MAX_GRID_Y));
}

/* Grid size for n elements with `threads` per block, capped for grid-stride loops. */
static inline unsigned cu_blocks(int64_t n, int threads)
{
  int64_t b = (n + threads - 1) / threads;
  if (b < 1)
    b = 1;
  if (b > 65535LL * 8)
    b = 65535LL * 8;
  return (unsigned)b;
}

#define CU_CHECK(be, call)                                                                         \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess)                                                                         \
      return cu_fail((be), e_, #call);                                                             \
  } while (0)

#define CUBLAS_CHECK(be, call)                                                                     \
  do {                                                                                             \
    cublasStatus_t s_ = (call);                                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                               \
      return cu_blas_fail((be), s_, #call);                                                        \
  } while (0)

#define CU_LAUNCHED(be, name)                                                                      \
  do {                                                                                             \
    hart_status st_ = cu_check_launch((be), (name));                                               \
    if (st_ != HART_OK)                                                                            \
      return st_;                                                                                  \
  } while (0)

/* Op implementations (C++ linkage inside the module; the op table is in cuda_backend.cu). */
hart_status cu_linear(hart_backend *be, float *y, const float *x, const hart_bw *w,
                      const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta);
hart_status cu_matmul_w(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t M,
                        int64_t N, int64_t K);
hart_status cu_embed_rows(hart_backend *be, float *y, const hart_bw *table, const int32_t *idx,
                          int64_t n, int64_t C);
hart_status cu_rmsnorm(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t rows,
                       int64_t C, float eps);
hart_status cu_layernorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                         const hart_bw *b, int64_t rows, int64_t C, float eps);
hart_status cu_silu(hart_backend *be, float *y, const float *x, int64_t n);
hart_status cu_silu_mul(hart_backend *be, float *y, const float *a, const float *b, int64_t n);
hart_status cu_axpby(hart_backend *be, float *y, float alpha, const float *a, float beta,
                     const float *b, int64_t n);
hart_status cu_add_row(hart_backend *be, float *y, const float *x, const float *v, int64_t rows,
                       int64_t C);
hart_status cu_modulate(hart_backend *be, float *y, const float *x, const float *scale,
                        const float *shift, int64_t rows, int64_t C, int64_t rows_per_group,
                        int64_t ld);
hart_status cu_gated_add(hart_backend *be, float *y, const float *gate, const float *x,
                         int64_t rows, int64_t C, int64_t rows_per_group, int64_t ld);
hart_status cu_pool_max(hart_backend *be, float *y, const float *x, int64_t G, int64_t n,
                        int64_t C);
hart_status cu_pool_mean_masked(hart_backend *be, float *y, const float *x, const float *mask,
                                int64_t G, int64_t n, int64_t C);
hart_status cu_transpose(hart_backend *be, float *y, const float *x, int64_t batch, int64_t rows,
                         int64_t cols);
hart_status cu_fill(hart_backend *be, float *dst, float value, int64_t n);

hart_kv_cache *cu_kv_cache_new(hart_backend *be, int64_t layers, int64_t G, int64_t H, int64_t hd,
                               int64_t capacity);
void cu_kv_cache_free(hart_backend *be, hart_kv_cache *kv);
hart_status cu_kv_cache_read(hart_backend *be, const hart_kv_cache *kv, int64_t layer, int64_t L,
                             float *k_host, float *v_host);
hart_status cu_rope_append(hart_backend *be, const hart_rope_args *a);
hart_status cu_attention(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                         int64_t layer, int64_t n, int64_t L, float scale);
/* The FlashAttention-2 kernel (cuda_attn_fa2.cu) on one layer's fp16 K/V planes: returns 0 when
 * it does not apply (head size, alignment, shared memory), else 1 with the launch's status in *st.
 * bq128: 128 queries per block instead of 64 (where n > 64). */
int cu_attention_fa2(hart_backend *be, hart_status *st, float *o, const float *q, const __half *kc,
                     const __half *vc, int64_t G, int64_t H, int64_t n, int64_t L, int64_t Lmax,
                     int64_t hd, float scale, int bq128);

hart_status cu_sample(hart_backend *be, const hart_sample_args *a);
hart_status cu_ddpm_step(hart_backend *be, const hart_ddpm_args *a);

hart_status cu_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                         const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups, float eps,
                         int silu);
hart_status cu_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                      const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                      int k);
hart_status cu_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                          int64_t W);
hart_status cu_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                              int64_t win, int64_t hout, int64_t wout);
hart_status cu_resize_area(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                           int64_t win, int64_t hout, int64_t wout);

hart_status cu_bmm(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                   int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha);
hart_status cu_softmax_rows(hart_backend *be, float *y, const float *x, int64_t rows, int64_t n);
hart_status cu_clamp(hart_backend *be, float *y, const float *x, int64_t n, float lo, float hi);
hart_status cu_rope_inplace(hart_backend *be, float *x, const float *cos, const float *sin,
                            int64_t G, int64_t n, int64_t H, int64_t hd);
hart_status cu_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                const float *v, const float *key_mask, int64_t G, int64_t n,
                                int64_t H, int64_t KV, int64_t hd, float scale);

/* ---- block reductions (blockDim a multiple of 32, <= 1024; sh holds 32 floats) ----
 * Every thread gets the result. The leading barrier lets a kernel call them back to back with
 * the same scratch. */
static __device__ __forceinline__ float cu_block_sum(float v, float *sh)
{
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0)
    sh[wid] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

static __device__ __forceinline__ float cu_block_max(float v, float *sh)
{
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0)
    sh[wid] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

#endif
