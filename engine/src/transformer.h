/* transformer.h: the HART transformer on a backend: weights, context embedding, level embedding,
 * blocks (release block and the per-block adaLN + attn_l2_norm variant), and the adaLN head
 * (hart-spec §1.4, §1.5, §2.2-2.5). All compute goes through be->ops. */
#ifndef HART_TRANSFORMER_H
#define HART_TRANSFORMER_H

#include "backend.h"
#include "config.h"

/* One block's weights. */
typedef struct {
  hart_bw *ln;     /* ln_wo_grad [C]: the one norm weight used before attention and FFN */
  hart_bw *qkv_w;  /* [3C, C] */
  hart_bw *qkv_b;  /* [3C] = q_bias | 0 | v_bias */
  hart_bw *proj_w; /* [C, C] */
  hart_bw *proj_b;
  hart_bw *gate_w, *up_w, *down_w;
  hart_bw *ada_w, *ada_b; /* ada_lin.1 [6C, C] when disable_aln is false, else NULL */
  hart_bw *l2_mul;        /* [H] exp(min(scale_mul_1H11, ln 100)) when attn_l2_norm, else NULL */
  int64_t C, H, hd, hidden;
} hart_block;

/* Loads the block whose keys start with prefix ("blocks.3." or "blk_aln.w."), checking shapes. */
hart_status hart_block_load(hart_backend *be, const hart_tensor_set *set, const char *prefix,
                            int64_t C, int64_t H, int64_t hidden, int with_ada, int with_l2,
                            hart_block *blk, hart_error *err);
void hart_block_free(hart_backend *be, hart_block *blk);

/* Scratch for hart_block_forward, sized for max_rows = G*n rows of width C. `a` and `t` are
 * [max_rows, C]; `u` (u_floats floats) holds qkv, q and o during the attention branch and gate and
 * up during the FFN, which never live at the same time: that saves min(5C, 2*hidden) columns
 * (250 MB at the released shapes). Between block calls `u` is free for the caller (the head's
 * logits, say). */
typedef struct {
  float *a, *t, *u;
  int64_t max_rows, C, hidden, u_floats;
} hart_block_scratch;

hart_status hart_block_scratch_init(hart_backend *be, hart_block_scratch *s, int64_t max_rows,
                                    int64_t C, int64_t hidden);
void hart_block_scratch_free(hart_backend *be, hart_block_scratch *s);

/* One call of a block on n new tokens of each of G rows. */
typedef struct {
  int64_t G, n;
  hart_kv_cache *kv; /* positions L0 .. L0+n-1 of layer `layer` are written */
  int64_t layer, L0;
  const float *cos, *sin; /* [G, n, hd] (backend memory) or NULL */
  const float *ada;       /* [G, 6C] adaLN vectors (backend memory) when the block has ada_lin */
  float attn_scale;
  /* Optional host copies of the intermediate values [G, n, C] (for the module tests). */
  float *dump_attn_in, *dump_attn_out, *dump_ffn_in, *dump_ffn_out;
} hart_block_call;

/* x [G, n, C] (backend memory) is updated in place. */
hart_status hart_block_forward(hart_backend *be, const hart_block *blk, float *x,
                               const hart_block_call *c, hart_block_scratch *s);

/* The whole transformer. */
typedef struct {
  hart_backend *be;
  hart_llm_config cfg;
  hart_bw *word_w, *word_b;         /* [C, Cv], [C] */
  hart_bw *ctx_w, *ctx_b;           /* [C, cd], [C] */
  hart_bw *ctx_norm;                /* [cd] */
  hart_bw *lvl0_w, *lvl0_b;         /* [C, F], [C] */
  hart_bw *lvl2_w, *lvl2_b;         /* [C, C], [C] */
  int64_t lvl_freq_dim;             /* F (256) */
  hart_block *blocks;               /* [depth] */
  hart_bw *head_ln;                 /* [C] */
  hart_bw *head_ada_w, *head_ada_b; /* [2C, C], [2C] */
  hart_bw *head_w, *head_b;         /* [V, C], [V] */
  hart_bw *dec_norm;                /* [C] */
  int64_t V, Cv;
} hart_transformer;

/* Loads every transformer tensor of llm (diffloss.net.* is left to the diffusion head). Unknown
 * keys are an error, except the known unused ones (attn_bias_for_masking, lvl_1L). */
hart_status hart_transformer_load(hart_backend *be, const hart_tensor_set *llm,
                                  const hart_llm_config *cfg, int vocab, int z_channels,
                                  hart_transformer **out, hart_error *err);
void hart_transformer_free(hart_transformer *tf);

/* cond [G, ct, C] = context_embed(rmsnorm(ctx [G, ct, cd], context_norm)); norm_out (optional,
 * [G, ct, cd]) receives the normalised context. */
hart_status hart_transformer_cond(hart_transformer *tf, float *cond, float *norm_out,
                                  const float *ctx, int64_t G, float *scratch);

/* table [SN, C] = lvl_embed(level) for levels 0 .. SN-1. scratch: >= SN*(F + C) floats. */
hart_status hart_transformer_lvl_table(hart_transformer *tf, float *table, float *scratch);

/* Head modulation ss [G, 2C] = ada_lin(silu(max over tokens of cond [G, ct, C])). scratch >= G*C.
 */
hart_status hart_transformer_head_cond(hart_transformer *tf, float *ss, const float *cond,
                                       int64_t G, float *scratch);

/* Block adaLN vectors ada [depth][G, 6C] from the masked-mean pooled cond (mask [G, ct], fp32),
 * or the max-pooled one when pool_avg is 0. scratch >= 2*G*C. */
hart_status hart_transformer_block_cond(hart_transformer *tf, float **ada, const float *cond,
                                        const float *mask, int64_t G, float *scratch);

/* logits [G*n, V] = head(rmsnorm(x)*(1+scale)+shift) for x [G, n, C]; scratch >= G*n*C. */
hart_status hart_transformer_head(hart_transformer *tf, float *logits, const float *x,
                                  const float *ss, int64_t G, int64_t n, float *scratch);

/* Host-side RoPE tables [G, n, hd] (hart-spec §2.4). pos1: [G, n] int64 positions. */
void hart_rope1d_tables(const int64_t *pos, int64_t G, int64_t n, int64_t hd, float *cos_t,
                        float *sin_t);
/* 2-D fractional positions of scale pn on a P x P latent, offset per row off[G]; pos_out
 * (optional) [G, pn*pn, 2] receives (px, py). */
void hart_rope2d_tables(int64_t pn, int64_t P, const int64_t *off, int64_t G, int64_t hd,
                        float *cos_t, float *sin_t, float *pos_out);

/* The same tables from explicit (px, py) positions [rows, 2]. */
void hart_rope2d_tables_from_pos(const float *pos, int64_t rows, int64_t hd, float *cos_t,
                                 float *sin_t);

/* The softmax scale of the attention (0.25/sqrt(hd), or 1 with attn_l2_norm). */
float hart_transformer_attn_scale(const hart_llm_config *cfg);

#endif
