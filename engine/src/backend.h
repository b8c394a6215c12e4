/* backend.h: the op table every compute backend (CPU, CUDA) implements.
 *
 * The model code (transformer, sampler, latent update, diffusion, decoder) is written once against
 * these ops. Activations are fp32 arrays in the backend's memory ("device pointers": host memory
 * for the CPU backend, cudaMalloc'ed memory for CUDA). Weights are uploaded once per model as
 * hart_bw handles; the backend chooses their storage (CPU: fp32; CUDA: fp16 copies for GEMMs,
 * fp32 for vectors). Layouts are row-major; image tensors are NCHW.
 *
 * Every op returns HART_OK or an error status after recording a message in be->err. Ops may run
 * asynchronously (CUDA streams): download() and sync() are the points where work completes.
 */
#ifndef HART_BACKEND_H
#define HART_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

typedef struct hart_backend hart_backend;

/* Version of this op table and its argument structs, checked when the CUDA module is loaded
 * (a module built against another table is refused, not called). */
#define HART_BACKEND_ABI 3

typedef enum {
  HART_WUSE_VECTOR = 0, /* norm weights, biases, tables read element-wise */
  HART_WUSE_GEMM = 1,   /* a [N,K] matrix used by linear() (or [K,N] by matmul_w()) */
  HART_WUSE_CONV = 2,   /* a [Cout,Cin,k,k] convolution kernel */
  HART_WUSE_TABLE = 3,  /* an embedding table read by rows (embed_rows) and by matmul_w */
} hart_wuse;

/* A weight resident in backend memory. `data` is fp32 unless the backend documents otherwise;
 * `aux` is backend-private (e.g. a half-precision copy). */
typedef struct {
  int ndim;
  int64_t shape[4];
  int64_t numel;
  hart_wuse use;
  float *data;
  void *aux;
} hart_bw;

/* The key/value caches of a stack of attention layers, owned by the backend, which chooses the
 * element type (`elem_size` bytes): the CPU backend stores fp32, the CUDA backend fp16 (what the
 * reference keeps, hart-spec 3.4; its attention rounds K and V to fp16 anyway). Layer l holds K
 * and V as [G, H, capacity, hd] each. All layers live in one block of backend memory, `mem`
 * (`bytes` long), which the owner may borrow as scratch (e.g. fp32 buffers of the decoder) while
 * the cache holds nothing it still needs: its contents are then undefined, and the next appends
 * from position 0 rebuild the cache. Layout inside `mem` is the backend's. */
typedef struct {
  int64_t layers, G, H, hd, capacity;
  size_t elem_size;
  void *mem;
  size_t bytes;
} hart_kv_cache;

/* Rotary embedding + cache append for one attention call.
 * qkv is [G, n, 3*H*hd] (q | k | v thirds, head-major within a third). Writes q as [G, H, n, hd]
 * and appends k and v as positions L0 .. L0+n-1 of layer `layer` of the cache (G, H, hd must be
 * the cache's). cos/sin are [G, n, hd] tables (NULL: no rotation). Rotate-half update over the
 * whole head:
 *   d <  hd/2: x'[d] = x[d]*cos[d] - x[d+hd/2]*sin[d]
 *   d >= hd/2: x'[d] = x[d]*cos[d] + x[d-hd/2]*sin[d]
 * If l2_scale is non-NULL ([H] multipliers), q and k are first L2-normalised over hd
 * (max(|x|, 1e-12)) and q is multiplied by l2_scale[h]. k and v are rounded to the cache's element
 * type after the rotation. */
typedef struct {
  const float *qkv;
  float *q;
  hart_kv_cache *kv;
  int64_t layer;
  const float *cos;
  const float *sin;
  const float *l2_scale;
  int64_t G, n, H, hd, L0;
} hart_rope_args;

/* Token sampling for one scale (CFG mix, top-k/top-p, hard sample, optional Gumbel soft embed).
 *   g = (1+t)*logits[cond rows] - t*logits[uncond rows]          (fp32)
 *   keep the top_k largest of each row (ties at the threshold kept); optional top_p
 *   idx  = argmax_v p_v / E_v with p = softmax(g), E ~ Exp(1)   (or replay_idx)
 *   smooth: h = softmax((g*smooth_mul + gumbel)/tau) @ codebook, gumbel = -log(E2)
 *   hard:   h = codebook[idx]
 * logits: [2*B*n, V] backend memory, rows (half, b, token). Outputs: idx_out [B*n] (backend
 * memory, int32) and h_out [B*n, Cv] (backend memory). Randomness: Philox draws keyed by seed on
 * streams (stage, 0) for E and (stage, 1) for E2; or replay arrays (host memory): replay_idx
 * [B*n], replay_keep [B*n, replay_K] ascending vocab ids (replaces top-k), replay_gumbel
 * [B*n, replay_K] at those ids. Optional host outputs for dumps: keep_idx_host/keep_logit_host
 * [B*n, K] (K = top_k columns; rows with fewer kept entries are padded with -1 / -inf) hold
 * the engine's OWN top-k/top-p set and its mixed logits, also when replay_keep is used for
 * sampling (so that a test can compare the two sets); idx_host [B*n]. */
typedef struct {
  const float *logits;
  int64_t B, n, V, Cv;
  float t;
  int top_k;
  float top_p;
  int smooth;
  float smooth_mul, tau;
  const hart_bw *codebook;
  uint64_t seed;
  uint32_t stage;
  const int64_t *replay_idx;
  const int64_t *replay_keep;
  int64_t replay_K;
  const float *replay_gumbel;
  int32_t *idx_out;
  float *h_out;
  int64_t *idx_host;
  int32_t *keep_idx_host;
  float *keep_logit_host;
} hart_sample_args;

/* One IDDPM step of the residual diffusion over N conditional rows:
 *   eps = (1+cfg)*out[r, :Cv] - cfg*out[N+r, :Cv];  v = out[r, Cv:]
 *   x0  = clamp(A*x - Bm*eps, -1, 1);  mean = P1*x0 + P2*x
 *   f   = (v+1)/2;  logv = f*LB + (1-f)*LP
 *   x   = mean + (add_noise ? exp(0.5*logv)*noise : 0)
 * out is [2N, 2Cv]. noise: [N, Cv] backend memory, or NULL to draw standard normals from Philox
 * (seed, stream (stage, 2 + step)). */
typedef struct {
  float *x;
  const float *out;
  const float *noise;
  int64_t N, Cv;
  float cfg, A, Bm, P1, P2, LP, LB;
  int add_noise;
  uint64_t seed;
  uint32_t stage, step;
} hart_ddpm_args;

typedef struct {
  void (*destroy)(hart_backend *be);

  /* ---- memory ---- */
  void *(*alloc)(hart_backend *be, size_t bytes); /* zeroed; NULL (+ error) on failure */
  void (*free)(hart_backend *be, void *p);
  hart_status (*upload)(hart_backend *be, void *dst, const void *src_host, size_t bytes);
  hart_status (*download)(hart_backend *be, void *dst_host, const void *src, size_t bytes);
  hart_status (*copy)(hart_backend *be, void *dst, const void *src, size_t bytes);
  hart_status (*fill)(hart_backend *be, float *dst, float value, int64_t n);
  hart_status (*sync)(hart_backend *be);
  /* host: fp32 data of shape; NULL (+ error) on failure. */
  hart_bw *(*weight_new)(hart_backend *be, const float *host, int ndim, const int64_t *shape,
                         hart_wuse use);
  void (*weight_free)(hart_backend *be, hart_bw *w);

  /* ---- dense ---- */
  /* y[M,N] = beta*y + x[M,K] . W[N,K]^T + b[N] (b may be NULL). beta is 0 or 1. */
  hart_status (*linear)(hart_backend *be, float *y, const float *x, const hart_bw *w,
                        const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta);
  /* y[M,N] = x[M,K] . W[K,N] (W as stored, e.g. the codebook [V, Cv]). */
  hart_status (*matmul_w)(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t M,
                          int64_t N, int64_t K);
  /* y[r] = table[idx[r]] for r < n; table [V, C]; idx int32 in backend memory. */
  hart_status (*embed_rows)(hart_backend *be, float *y, const hart_bw *table, const int32_t *idx,
                            int64_t n, int64_t C);

  /* ---- normalisation ---- */
  /* y = x * rsqrt(mean(x^2) + eps) * w (w may be NULL) over rows of C. */
  hart_status (*rmsnorm)(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t rows,
                         int64_t C, float eps);
  /* y = (x - mean) * rsqrt(var + eps) * w + b (w, b may be NULL); biased variance. */
  hart_status (*layernorm)(hart_backend *be, float *y, const float *x, const hart_bw *w,
                           const hart_bw *b, int64_t rows, int64_t C, float eps);
  /* GroupNorm over x [N, C, HW] with affine w, b [C]; then SiLU if silu != 0. */
  hart_status (*groupnorm)(hart_backend *be, float *y, const float *x, const hart_bw *w,
                           const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups,
                           float eps, int silu);

  /* ---- element-wise ---- */
  hart_status (*silu)(hart_backend *be, float *y, const float *x, int64_t n);
  hart_status (*silu_mul)(hart_backend *be, float *y, const float *a, const float *b, int64_t n);
  /* y = alpha*a + beta*b (b may be NULL when beta == 0). y may alias a or b. */
  hart_status (*axpby)(hart_backend *be, float *y, float alpha, const float *a, float beta,
                       const float *b, int64_t n);
  /* y[r, :] = x[r, :] + v[:] for r < rows. */
  hart_status (*add_row)(hart_backend *be, float *y, const float *x, const float *v, int64_t rows,
                         int64_t C);
  /* y[r, c] = x[r, c] * (1 + scale[g*ld + c]) + shift[g*ld + c], g = r / rows_per_group. */
  hart_status (*modulate)(hart_backend *be, float *y, const float *x, const float *scale,
                          const float *shift, int64_t rows, int64_t C, int64_t rows_per_group,
                          int64_t ld);
  /* y[r, c] += gate[g*ld + c] * x[r, c], g = r / rows_per_group. */
  hart_status (*gated_add)(hart_backend *be, float *y, const float *gate, const float *x,
                           int64_t rows, int64_t C, int64_t rows_per_group, int64_t ld);
  /* y[g, c] = max_t x[g, t, c]. */
  hart_status (*pool_max)(hart_backend *be, float *y, const float *x, int64_t G, int64_t n,
                          int64_t C);
  /* y[g, c] = sum_t x[g, t, c] * m[g, t] / max(1, sum_t m[g, t]). */
  hart_status (*pool_mean_masked)(hart_backend *be, float *y, const float *x, const float *mask,
                                  int64_t G, int64_t n, int64_t C);
  /* y[b, j, i] = x[b, i, j] for x [batch, rows, cols]. */
  hart_status (*transpose)(hart_backend *be, float *y, const float *x, int64_t batch, int64_t rows,
                           int64_t cols);

  /* ---- attention ---- */
  /* A cache for `layers` layers of G x H heads of hd values and `capacity` positions (zeroed);
   * NULL (+ error) on failure. */
  hart_kv_cache *(*kv_cache_new)(hart_backend *be, int64_t layers, int64_t G, int64_t H, int64_t hd,
                                 int64_t capacity);
  void (*kv_cache_free)(hart_backend *be, hart_kv_cache *kv);
  /* Positions 0 .. L-1 of one layer as fp32 host arrays [G, H, L, hd] (k_host or v_host may be
   * NULL). For tests and dumps. */
  hart_status (*kv_cache_read)(hart_backend *be, const hart_kv_cache *kv, int64_t layer, int64_t L,
                               float *k_host, float *v_host);
  hart_status (*rope_append)(hart_backend *be, const hart_rope_args *a);
  /* o[g, t, h*hd + d] = softmax_j(q[g,h,t,:] . k[g,h,j,:] * scale) . v[g,h,j,:] over j < L (no
   * mask), k and v from layer `layer` of the cache. q [G,H,n,hd] with the cache's G, H, hd. */
  hart_status (*attention)(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                           int64_t layer, int64_t n, int64_t L, float scale);

  /* ---- sampling and diffusion ---- */
  hart_status (*sample)(hart_backend *be, const hart_sample_args *a);
  hart_status (*ddpm_step)(hart_backend *be, const hart_ddpm_args *a);

  /* ---- images (NCHW) ---- */
  /* Stride-1 convolution with zero padding k/2; w [Cout, Cin, k, k], b [Cout] (may be NULL). */
  hart_status (*conv2d)(hart_backend *be, float *y, const float *x, const hart_bw *w,
                        const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W,
                        int64_t Cout, int k);
  hart_status (*upsample2x)(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                            int64_t W);
  /* PyTorch bicubic (A = -0.75, align_corners false, clamped taps), fp32. */
  hart_status (*resize_bicubic)(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                                int64_t win, int64_t hout, int64_t wout);
  /* PyTorch area (adaptive average pooling). */
  hart_status (*resize_area)(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                             int64_t win, int64_t hout, int64_t wout);

  /* ---- added for the VAE attention and decoder output (latent side) ---- */
  /* Batched product of two activations: for each of `batch` matrices (contiguous, one after the
   * other), c[M,N] = alpha * op(a) . op(b), op(a) = a [M,K] or, with trans_a, a stored [K,M];
   * op(b) = b [K,N] or, with trans_b, b stored [N,K]. c does not alias a or b. */
  hart_status (*bmm)(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                     int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha);
  /* y[r, :] = softmax(x[r, :]) over rows of n values (max-subtracted, fp32). y may alias x. */
  hart_status (*softmax_rows)(hart_backend *be, float *y, const float *x, int64_t rows, int64_t n);
  /* y[i] = min(max(x[i], lo), hi). y may alias x. */
  hart_status (*clamp)(hart_backend *be, float *y, const float *x, int64_t n, float lo, float hi);
  /* ---- added for the Qwen2 text encoder (cpu/cpu_text.c) ---- */
  /* Rotate-half rotary embedding, in place. x is [G, n, H, hd]: the rows of a linear's output
   * (token t of group g is row g*n + t, head h its columns h*hd .. h*hd + hd - 1). cos and sin
   * are [n, hd] tables (backend memory) shared by every group and head. For each (g, t, h):
   *   d <  hd/2: x'[d] = x[d]*cos[t,d] - x[d+hd/2]*sin[t,d]
   *   d >= hd/2: x'[d] = x[d]*cos[t,d] + x[d-hd/2]*sin[t,d]
   * (Hugging Face's q*cos + rotate_half(q)*sin with cos/sin = cat(freqs, freqs)). */
  hart_status (*rope_inplace)(hart_backend *be, float *x, const float *cos, const float *sin,
                              int64_t G, int64_t n, int64_t H, int64_t hd);
  /* Causal grouped-query attention with a key mask (Hugging Face's Qwen2 eager attention).
   * q and o are [G, n, H*hd], k and v [G, n, KV*hd] (row layout of linear outputs); query head
   * h reads kv head h / (H/KV). key_mask is [G, n] (backend memory, 1 = real token, 0 = pad) or
   * NULL for all real. Query i of group g sees key j iff j <= i and key_mask[g, j] != 0:
   *   o[g, i, h] = sum_j softmax_j(q[g,i,h] . k[g,j,kvh] * scale) * v[g,j,kvh] over visible j
   * (fp32 softmax, max-subtracted). A query that sees no key at all (a pad before any real
   * token) gets the plain mean of v over all n keys: HF's additive finfo.min mask makes every
   * score of such a row equal. */
  hart_status (*attention_causal)(hart_backend *be, float *o, const float *q, const float *k,
                                  const float *v, const float *key_mask, int64_t G, int64_t n,
                                  int64_t H, int64_t KV, int64_t hd, float scale);

  /* ---- optional queries (may be NULL: check before calling) ---- */
  /* Device memory in bytes: in use now, the peak observed since creation, and the total. The CPU
   * backend leaves this NULL (use the process's peak RSS instead). */
  hart_status (*mem_stats)(hart_backend *be, size_t *used, size_t *peak, size_t *total);

  /* ---- optional: recorded op sequences (CUDA graphs); NULL where a backend has none ----
   * A caller that issues the same ops on the same buffers with the same arguments image after
   * image (the transformer blocks of one scale) records them once and replays the recording:
   *   graph_launch(key, &launched): queues the recording under key (launched = 1), or finds none
   *     (launched = 0);
   *   graph_begin(key): the ops issued from here on are recorded, not run;
   *   graph_end(key, keep): ends the recording; keep != 0 stores it under key and queues it (the
   *     recorded work runs now), keep == 0 drops it (after a failed op: the work never runs);
   *   graph_reset(): drops every recording (the caller is about to free buffers they use).
   * Between graph_begin and graph_end only ops that queue device work may be called (no upload,
   * download or sync). The backend drops recordings itself when it reallocates a buffer they may
   * use; it may also run the ops as issued and record nothing (graph_end then does nothing). */
  hart_status (*graph_launch)(hart_backend *be, uint64_t key, int *launched);
  hart_status (*graph_begin)(hart_backend *be, uint64_t key);
  hart_status (*graph_end)(hart_backend *be, uint64_t key, int keep);
  void (*graph_reset)(hart_backend *be);
} hart_backend_ops;

struct hart_backend {
  const hart_backend_ops *ops;
  hart_error *err; /* where ops record failures; set by the owner */
  int n_threads;
  char name[16];    /* "cpu", "cuda" */
  char device[128]; /* human-readable device name */
  void *priv;
};

/* The CPU backend (always available). */
hart_status hart_backend_cpu_new(int n_threads, hart_error *err, hart_backend **out);

/* The CUDA backend, loaded from the libhart-cuda module at run time. Fails with a message when
 * the module, the driver or a GPU is missing. */
hart_status hart_backend_cuda_new(int device, hart_error *err, hart_backend **out);

/* Uploads a tensor (any float dtype) as a weight, checking its shape. */
hart_bw *hart_bw_from_tensor(hart_backend *be, const hart_tensor *t, hart_wuse use,
                             hart_error *err);

#endif
