/* cpu_ops.h: the CPU backend's op implementations, one file per family:
 *   cpu_backend.c  memory, weights, the op table
 *   cpu_dense.c    linear/matmul/embedding, norms, element-wise ops, pooling, transpose
 *   cpu_attn.c     rotary embedding + KV cache append, attention
 *   cpu_sample.c   CFG, top-k/top-p, sampling, Gumbel soft embedding
 *   cpu_image.c    conv2d, upsampling, bicubic/area resizing, GroupNorm
 *   cpu_diffusion.c  the IDDPM step
 *   cpu_text.c     rotary embedding in place and causal masked GQA attention (Qwen2)
 * Kernels use OpenMP across be->n_threads and OpenBLAS for matrix products. */
#ifndef HART_CPU_OPS_H
#define HART_CPU_OPS_H

#include "../backend.h"

/* The CPU backend's private state (be->priv). */
typedef struct {
  float *attn_scratch; /* attention scores, reused across calls */
  size_t attn_cap;
} cpu_priv;

/* Scratch of at least n floats for the attention scores (NULL when out of memory). */
float *cpu_attn_scratch(hart_backend *be, size_t n);

hart_status cpu_linear(hart_backend *be, float *y, const float *x, const hart_bw *w,
                       const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta);
hart_status cpu_matmul_w(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t M,
                         int64_t N, int64_t K);
hart_status cpu_embed_rows(hart_backend *be, float *y, const hart_bw *table, const int32_t *idx,
                           int64_t n, int64_t C);
hart_status cpu_rmsnorm(hart_backend *be, float *y, const float *x, const hart_bw *w, int64_t rows,
                        int64_t C, float eps);
hart_status cpu_layernorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                          const hart_bw *b, int64_t rows, int64_t C, float eps);
hart_status cpu_silu(hart_backend *be, float *y, const float *x, int64_t n);
hart_status cpu_silu_mul(hart_backend *be, float *y, const float *a, const float *b, int64_t n);
hart_status cpu_axpby(hart_backend *be, float *y, float alpha, const float *a, float beta,
                      const float *b, int64_t n);
hart_status cpu_add_row(hart_backend *be, float *y, const float *x, const float *v, int64_t rows,
                        int64_t C);
hart_status cpu_modulate(hart_backend *be, float *y, const float *x, const float *scale,
                         const float *shift, int64_t rows, int64_t C, int64_t rows_per_group,
                         int64_t ld);
hart_status cpu_gated_add(hart_backend *be, float *y, const float *gate, const float *x,
                          int64_t rows, int64_t C, int64_t rows_per_group, int64_t ld);
hart_status cpu_pool_max(hart_backend *be, float *y, const float *x, int64_t G, int64_t n,
                         int64_t C);
hart_status cpu_pool_mean_masked(hart_backend *be, float *y, const float *x, const float *mask,
                                 int64_t G, int64_t n, int64_t C);
hart_status cpu_transpose(hart_backend *be, float *y, const float *x, int64_t batch, int64_t rows,
                          int64_t cols);

hart_kv_cache *cpu_kv_cache_new(hart_backend *be, int64_t layers, int64_t G, int64_t H, int64_t hd,
                                int64_t capacity);
void cpu_kv_cache_free(hart_backend *be, hart_kv_cache *kv);
hart_status cpu_kv_cache_read(hart_backend *be, const hart_kv_cache *kv, int64_t layer, int64_t L,
                              float *k_host, float *v_host);
hart_status cpu_rope_append(hart_backend *be, const hart_rope_args *a);
hart_status cpu_attention(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                          int64_t layer, int64_t n, int64_t L, float scale);

hart_status cpu_sample(hart_backend *be, const hart_sample_args *a);
hart_status cpu_ddpm_step(hart_backend *be, const hart_ddpm_args *a);

hart_status cpu_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                          const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups, float eps,
                          int silu);
hart_status cpu_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                       const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                       int k);
hart_status cpu_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                           int64_t W);
hart_status cpu_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                               int64_t win, int64_t hout, int64_t wout);
hart_status cpu_resize_area(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                            int64_t win, int64_t hout, int64_t wout);
hart_status cpu_clamp(hart_backend *be, float *y, const float *x, int64_t n, float lo, float hi);

/* cpu_softmax.c: the pieces of the VAE attention (activation GEMM, row softmax). */
hart_status cpu_bmm(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                    int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha);
hart_status cpu_softmax_rows(hart_backend *be, float *y, const float *x, int64_t rows, int64_t n);

hart_status cpu_rope_inplace(hart_backend *be, float *x, const float *cos, const float *sin,
                             int64_t G, int64_t n, int64_t H, int64_t hd);
hart_status cpu_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                 const float *v, const float *key_mask, int64_t G, int64_t n,
                                 int64_t H, int64_t KV, int64_t hd, float scale);

#endif
