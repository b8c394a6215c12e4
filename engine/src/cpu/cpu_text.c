/* cpu_text.c: the Qwen2 encoder's rotary embedding (in place) and causal, key-masked,
 * grouped-query attention. fp32, OpenMP across queries. */
#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>

hart_status cpu_rope_inplace(hart_backend *be, float *x, const float *cos, const float *sin,
                             int64_t G, int64_t n, int64_t H, int64_t hd)
{
  int64_t half = hd / 2;

#pragma omp parallel for collapse(2)
  for (int64_t g = 0; g < G; g++)
    for (int64_t t = 0; t < n; t++) {
      const float *c = cos + t * hd, *s = sin + t * hd;
      for (int64_t h = 0; h < H; h++) {
        float *xh = x + ((g * n + t) * H + h) * hd;
        for (int64_t d = 0; d < half; d++) {
          float a = xh[d], b = xh[d + half];
          xh[d] = a * c[d] - b * s[d];
          xh[d + half] = b * c[d + half] + a * s[d + half];
        }
      }
    }
  return HART_OK;
}

/* One query row: o = softmax(q . k_j * scale) v_j over the visible keys j <= i. scores is
 * scratch for n values. */
static void attend_row(float *o, const float *q, const float *k, const float *v, const float *mask,
                       int64_t i, int64_t n, int64_t ld, int64_t hd, float scale, float *scores)
{
  float mx = -INFINITY, sum = 0.0f;
  int64_t seen = 0;

  for (int64_t d = 0; d < hd; d++)
    o[d] = 0.0f;
  for (int64_t j = 0; j <= i; j++) {
    float dot = 0.0f;
    if (mask != NULL && mask[j] == 0.0f)
      continue;
    for (int64_t d = 0; d < hd; d++)
      dot += q[d] * k[j * ld + d];
    scores[j] = dot * scale;
    if (scores[j] > mx)
      mx = scores[j];
    seen++;
  }
  if (seen == 0) {
    /* Fully masked row: uniform weights over every key, as HF's eager attention gives. */
    for (int64_t j = 0; j < n; j++)
      for (int64_t d = 0; d < hd; d++)
        o[d] += v[j * ld + d];
    for (int64_t d = 0; d < hd; d++)
      o[d] /= (float)n;
    return;
  }
  for (int64_t j = 0; j <= i; j++) {
    float p;
    if (mask != NULL && mask[j] == 0.0f)
      continue;
    p = expf(scores[j] - mx);
    sum += p;
    for (int64_t d = 0; d < hd; d++)
      o[d] += p * v[j * ld + d];
  }
  for (int64_t d = 0; d < hd; d++)
    o[d] /= sum;
}

hart_status cpu_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                 const float *v, const float *key_mask, int64_t G, int64_t n,
                                 int64_t H, int64_t KV, int64_t hd, float scale)
{
  int64_t per_kv = H / KV, ldq = H * hd, ldk = KV * hd;
  int failed = 0;

  if (KV <= 0 || H % KV != 0)
    return hart_fail(be->err, HART_ERR_INTERNAL, "attention_causal: %lld heads, %lld kv heads",
                     (long long)H, (long long)KV);
#pragma omp parallel
  {
    float *scores = malloc((size_t)(n > 0 ? n : 1) * sizeof *scores);
    if (scores == NULL) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for collapse(3) schedule(dynamic, 16)
    for (int64_t g = 0; g < G; g++)
      for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < n; i++) {
          int64_t kvh = h / per_kv;
          if (scores == NULL)
            continue;
          attend_row(o + (g * n + i) * ldq + h * hd, q + (g * n + i) * ldq + h * hd,
                     k + g * n * ldk + kvh * hd, v + g * n * ldk + kvh * hd,
                     key_mask ? key_mask + g * n : NULL, i, n, ldk, hd, scale, scores);
        }
    free(scores);
  }
  if (failed)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "attention_causal: out of memory");
  return HART_OK;
}
