/* config.h: the resolved configurations of the three model parts, read from their config.json
 * files. Missing keys take the reference classes' defaults (not the release values); values the
 * engine does not implement are refused with a message naming the file, key and value. */
#ifndef HART_CONFIG_H
#define HART_CONFIG_H

#include "error.h"

#define HART_MAX_SCALES 32
#define HART_MAX_CH_MULT 8

typedef struct {
  int context_token; /* 300 */
  int context_dim;   /* 1536 */
  int embed_dim;     /* C */
  int depth;
  int num_heads;
  int head_dim; /* embed_dim / num_heads */
  double mlp_ratio;
  int mlp_hidden; /* llama rule: int(C*mlp_ratio*2/3 + 255) // 256 * 256 */
  int n_scales;
  int patch_nums[HART_MAX_SCALES];
  float norm_eps;
  int diff_width;
  int diff_depth;
  int num_sampling_steps; /* "8" */
  int disable_aln;        /* 1: release block; 0: per-block adaLN */
  int attn_l2_norm;
  int pool_avg; /* sep_aln_pooling_mode: 1 "avg", 0 "max" (only read when !disable_aln) */
} hart_llm_config;

typedef struct {
  int vocab_size; /* V */
  int z_channels; /* Cv */
  int ch;
  int n_ch_mult;
  int ch_mult[HART_MAX_CH_MULT];
  int num_res_blocks;   /* per decoder level: 2 + 1 = 3 resblocks (taming layout) */
  float quant_resi;     /* 0.5 */
  int share_quant_resi; /* number of phi convs (4) */
} hart_vae_config;

typedef struct {
  int hidden_size;
  int num_layers;
  int num_heads;
  int num_kv_heads;
  int head_dim;
  int intermediate_size;
  int vocab_size;
  double rope_theta;
  float rms_norm_eps;
} hart_qwen2_config;

hart_status hart_llm_config_load(const char *path, hart_llm_config *c, hart_error *err);
hart_status hart_vae_config_load(const char *path, hart_vae_config *c, hart_error *err);
hart_status hart_qwen2_config_load(const char *path, hart_qwen2_config *c, hart_error *err);

/* Cross-checks that need both configs (latent side = patch_nums[-1], vocab >= 600, ...). */
hart_status hart_config_check_pair(const hart_llm_config *llm, const hart_vae_config *vae,
                                   const char *where, hart_error *err);

/* The phi conv index for scale si of n_scales (argmin over linspace(1/12, 11/12, 4)), as the
 * reference computes it in float64. */
int hart_phi_index(int si, int n_scales, int n_phi);

#endif
