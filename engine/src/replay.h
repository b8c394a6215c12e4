/* replay.h: loading a golden case (shared/golden/<case>) and one of its recorded runs as replay
 * inputs for the generation driver: context inputs, every random draw, the phi indices, and
 * optionally the recorded f_hat / next_map / h_tokens for teacher forcing (golden README,
 * "Replaying the random draws"). */
#ifndef HART_REPLAY_H
#define HART_REPLAY_H

#include "generate.h"

typedef struct {
  int64_t B;
  float cfg;
  int smooth;
  float *context;        /* [B, ct, cd] */
  uint8_t *context_mask; /* [B, ct] */
  int64_t *position_ids; /* [B, ct] */
  hart_replay rp;
  hart_tensor_set *run; /* the recorded run, for comparisons */
  /* owned storage behind rp */
  int n_scales, n_steps;
  int64_t *idx[HART_MAX_SCALES], *keep[HART_MAX_SCALES], keep_K[HART_MAX_SCALES];
  float *gumbel[HART_MAX_SCALES];
  int phi[HART_MAX_SCALES];
  float *noise0, *step_noise[64];
  float *tf_fhat[HART_MAX_SCALES], *tf_next[HART_MAX_SCALES], *tf_h_tokens;
} hart_replay_case;

/* run: "run_smooth0" or "run_smooth1". teacher: also load the teacher-forcing tensors. */
hart_status hart_replay_case_load(const char *case_dir, const char *run, int teacher,
                                  hart_replay_case **out, hart_error *err);
void hart_replay_case_free(hart_replay_case *rc);

#endif
