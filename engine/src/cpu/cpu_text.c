/* cpu_text.c: the Qwen2 encoder's rotary embedding (in place) and causal, key-masked,
 * grouped-query attention. fp32, OpenMP across queries. */
#include "cpu_ops.h"

#include <cblas.h>
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

/* Row i of the scores s[0, n) (q_i . k_j * scale for all j) becomes softmax weights over the
 * visible keys (j <= i, mask[j] != 0), zero elsewhere; a row with no visible key becomes
 * uniform over all n keys. */
static void softmax_causal_row(float *s, const float *mask, int64_t i, int64_t n)
{
  float mx = -INFINITY, sum = 0.0f;
  int64_t seen = 0;

  for (int64_t j = 0; j <= i; j++)
    if (mask == NULL || mask[j] != 0.0f) {
      mx = s[j] > mx ? s[j] : mx;
      seen++;
    }
  if (seen == 0) {
    for (int64_t j = 0; j < n; j++)
      s[j] = 1.0f / (float)n;
    return;
  }
  for (int64_t j = 0; j < n; j++) {
    float p = j <= i && (mask == NULL || mask[j] != 0.0f) ? expf(s[j] - mx) : 0.0f;
    s[j] = p;
    sum += p;
  }
  for (int64_t j = 0; j <= i; j++)
    s[j] /= sum;
}

hart_status cpu_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                 const float *v, const float *key_mask, int64_t G, int64_t n,
                                 int64_t H, int64_t KV, int64_t hd, float scale)
{
  int64_t ldq = H * hd, ldk = KV * hd;
  float *s;

  if (KV <= 0 || H % KV != 0)
    return hart_fail(be->err, HART_ERR_INTERNAL, "attention_causal: %lld heads, %lld kv heads",
                     (long long)H, (long long)KV);
  if (n == 0)
    return HART_OK;
  s = malloc((size_t)n * (size_t)n * sizeof *s);
  if (s == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "attention_causal: out of memory for %lld keys",
                     (long long)n);
  /* Per (group, head): S = Q K^T * scale and O = P V as two GEMMs on the strided head columns
   * (the masked upper triangle is computed and discarded: GEMMs beat a triangular loop). */
  for (int64_t g = 0; g < G; g++)
    for (int64_t h = 0; h < H; h++) {
      int64_t kvh = h / (H / KV);
      const float *qh = q + g * n * ldq + h * hd, *kh = k + g * n * ldk + kvh * hd;
      const float *vh = v + g * n * ldk + kvh * hd;
      const float *mask = key_mask ? key_mask + g * n : NULL;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)n, (blasint)hd,
                  scale, qh, (blasint)ldq, kh, (blasint)ldk, 0.0f, s, (blasint)n);
      /* Serial: the rows are cheap next to the GEMMs, and an OpenMP team between OpenBLAS
       * calls only adds thread hand-offs. */
      for (int64_t i = 0; i < n; i++)
        softmax_causal_row(s + i * n, mask, i, n);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)hd, (blasint)n,
                  1.0f, s, (blasint)n, vh, (blasint)ldk, 0.0f, o + g * n * ldq + h * hd,
                  (blasint)ldq);
    }
  free(s);
  return HART_OK;
}
