/* cpu_attn.c: the KV cache, rotary embedding + cache append, and attention over the cache. fp32.
 *
 * The cache is one calloc'ed block: layer l's K at (2l)*per floats, its V at (2l+1)*per, with
 * per = G*H*capacity*hd, each [G, H, capacity, hd] (the layout the model code used before the
 * backend owned the cache, so results are bit-identical to that). fp32, because the CPU backend is
 * the fp32 reference path.
 *
 * Attention has no mask (hart-spec §3.5): every new query sees every cached key. Scores are
 * computed block by block of queries with OpenBLAS so that the score buffer stays small
 * (ATTN_QBLOCK x L floats) even at the last 64x64 scale with ~10k cached keys. */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 64 query rows x ~10k keys of scores stay in the L2/L3 caches between the two products. */
#define ATTN_QBLOCK 64

/* x[0..hd) <- x / max(|x|, 1e-12) * mul: F.normalize(dim=-1) followed by the head multiplier. */
static void l2_normalize(float *x, int64_t hd, float mul)
{
  float ss = 0.0f, nrm;
  for (int64_t d = 0; d < hd; d++)
    ss += x[d] * x[d];
  nrm = sqrtf(ss);
  if (nrm < 1e-12f)
    nrm = 1e-12f;
  for (int64_t d = 0; d < hd; d++)
    x[d] = x[d] / nrm * mul;
}

/* Rotate-half RoPE over the whole head (§2.4): out = x*cos + rotate_half(x)*sin. */
static void rope_rotate(float *dst, const float *x, const float *c, const float *s, int64_t hd)
{
  int64_t h2 = hd / 2;
  for (int64_t d = 0; d < h2; d++)
    dst[d] = x[d] * c[d] + (-x[d + h2]) * s[d];
  for (int64_t d = h2; d < hd; d++)
    dst[d] = x[d] * c[d] + x[d - h2] * s[d];
}

hart_kv_cache *cpu_kv_cache_new(hart_backend *be, int64_t layers, int64_t G, int64_t H, int64_t hd,
                                int64_t capacity)
{
  hart_kv_cache *kv;
  int64_t n = layers * 2 * G * H * capacity * hd;

  if (layers < 1 || G < 1 || H < 1 || hd < 1 || capacity < 1) {
    hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "kv_cache_new: bad shape");
    return NULL;
  }
  kv = calloc(1, sizeof *kv);
  if (kv == NULL || (kv->mem = calloc((size_t)n, sizeof(float))) == NULL) {
    free(kv);
    hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory for the KV cache (%lld floats)",
              (long long)n);
    return NULL;
  }
  kv->layers = layers;
  kv->G = G;
  kv->H = H;
  kv->hd = hd;
  kv->capacity = capacity;
  kv->elem_size = sizeof(float);
  kv->bytes = (size_t)n * sizeof(float);
  return kv;
}

void cpu_kv_cache_free(hart_backend *be, hart_kv_cache *kv)
{
  (void)be;
  if (kv == NULL)
    return;
  free(kv->mem);
  free(kv);
}

/* K (which 0) or V (which 1) of one layer. */
static float *kv_plane(const hart_kv_cache *kv, int64_t layer, int which)
{
  int64_t per = kv->G * kv->H * kv->capacity * kv->hd;
  return (float *)kv->mem + (2 * layer + which) * per;
}

hart_status cpu_kv_cache_read(hart_backend *be, const hart_kv_cache *kv, int64_t layer, int64_t L,
                              float *k_host, float *v_host)
{
  int64_t hd = kv->hd;
  if (layer < 0 || layer >= kv->layers || L < 0 || L > kv->capacity)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "kv_cache_read: layer %lld, L %lld",
                     (long long)layer, (long long)L);
  for (int which = 0; which < 2; which++) {
    float *dst = which ? v_host : k_host;
    const float *src = kv_plane(kv, layer, which);
    if (dst == NULL)
      continue;
    for (int64_t gh = 0; gh < kv->G * kv->H; gh++)
      memcpy(dst + gh * L * hd, src + gh * kv->capacity * hd, (size_t)(L * hd) * sizeof(float));
  }
  return HART_OK;
}

hart_status cpu_rope_append(hart_backend *be, const hart_rope_args *a)
{
  int64_t G = a->G, n = a->n, H = a->H, hd = a->hd, C = H * hd;
  const hart_kv_cache *kv = a->kv;
  float *k_cache, *v_cache;
  int64_t Lmax;

  if (hd > 1024 || hd % 2)
    return hart_fail(be->err, HART_ERR_UNSUPPORTED, "rope_append: head dim %lld not supported",
                     (long long)hd);
  if (kv == NULL || kv->G != G || kv->H != H || kv->hd != hd || a->layer < 0 ||
      a->layer >= kv->layers)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "rope_append: the cache does not match (layer %lld)", (long long)a->layer);
  Lmax = kv->capacity;
  if (a->L0 < 0 || a->L0 + n > Lmax)
    return hart_fail(be->err, HART_ERR_INTERNAL, "rope_append: cache overflow (%lld + %lld > %lld)",
                     (long long)a->L0, (long long)n, (long long)Lmax);
  k_cache = kv_plane(kv, a->layer, 0);
  v_cache = kv_plane(kv, a->layer, 1);
#pragma omp parallel for collapse(2)
  for (int64_t g = 0; g < G; g++)
    for (int64_t t = 0; t < n; t++) {
      const float *row = a->qkv + (g * n + t) * 3 * C;
      const float *c = a->cos ? a->cos + (g * n + t) * hd : NULL;
      const float *s = a->sin ? a->sin + (g * n + t) * hd : NULL;
      float tmp[1024];
      for (int64_t h = 0; h < H; h++) {
        float *qd = a->q + ((g * H + h) * n + t) * hd;
        float *kd = k_cache + ((g * H + h) * Lmax + a->L0 + t) * hd;
        float *vd = v_cache + ((g * H + h) * Lmax + a->L0 + t) * hd;
        const float *qs = row + h * hd, *ks = row + C + h * hd, *vs = row + 2 * C + h * hd;

        memcpy(vd, vs, (size_t)hd * sizeof(float));
        memcpy(tmp, qs, (size_t)hd * sizeof(float));
        if (a->l2_scale)
          l2_normalize(tmp, hd, a->l2_scale[h]);
        if (c)
          rope_rotate(qd, tmp, c, s, hd);
        else
          memcpy(qd, tmp, (size_t)hd * sizeof(float));
        memcpy(tmp, ks, (size_t)hd * sizeof(float));
        if (a->l2_scale)
          l2_normalize(tmp, hd, 1.0f);
        if (c)
          rope_rotate(kd, tmp, c, s, hd);
        else
          memcpy(kd, tmp, (size_t)hd * sizeof(float));
      }
    }
  return HART_OK;
}

/* exp(x) for x <= 0 (scores minus their row maximum), written so the compiler vectorises it:
 * Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial), about 1 ulp; below
 * -87 the result is flushed to 2^-126-ish, negligible next to the row's maximum term 1. */
static inline float exp_nonpos(float x)
{
  float k, r, y;
  int32_t bits;
  x = x < -87.0f ? -87.0f : x;
  k = floorf(x * 1.44269504088896341f + 0.5f);
  r = x - k * 0.693359375f + k * 2.12194440e-4f;
  y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) *
           r +
       1.6666665459e-1f) *
          r +
      5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  bits = ((int32_t)k + 127) << 23;
  {
    union {
      int32_t i;
      float f;
    } u;
    u.i = bits;
    return y * u.f;
  }
}

/* Row-wise softmax in place over L entries, fp32 with the max subtracted. Cloned for AVX-512
 * and AVX2 (chosen at load time) so the exp loop runs on full-width vectors. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
softmax_rows(float *S, int64_t rows, int64_t L)
{
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    float *s = S + r * L, m = -INFINITY, sum = 0.0f, inv;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < L; j++)
      m = s[j] > m ? s[j] : m;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < L; j++) {
      s[j] = exp_nonpos(s[j] - m);
      sum += s[j];
    }
    inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < L; j++)
      s[j] *= inv;
  }
}

hart_status cpu_attention(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                          int64_t layer, int64_t n, int64_t L, float scale)
{
  int64_t G = kv->G, H = kv->H, hd = kv->hd, Lmax = kv->capacity;
  int64_t C = H * hd, qb = n < ATTN_QBLOCK ? n : ATTN_QBLOCK;
  const float *k_cache, *v_cache;
  float *S;

  if (n == 0)
    return HART_OK;
  if (layer < 0 || layer >= kv->layers)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "attention: no layer %lld in the cache",
                     (long long)layer);
  if (L <= 0 || L > Lmax)
    return hart_fail(be->err, HART_ERR_INTERNAL, "attention: bad cache length %lld", (long long)L);
  k_cache = kv_plane(kv, layer, 0);
  v_cache = kv_plane(kv, layer, 1);
  S = cpu_attn_scratch(be, (size_t)qb * (size_t)L);
  if (S == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "attention: out of memory");
  for (int64_t g = 0; g < G; g++)
    for (int64_t h = 0; h < H; h++) {
      const float *K = k_cache + (g * H + h) * Lmax * hd;
      const float *V = v_cache + (g * H + h) * Lmax * hd;
      for (int64_t t0 = 0; t0 < n; t0 += qb) {
        int64_t m = n - t0 < qb ? n - t0 : qb;
        const float *Q = q + ((g * H + h) * n + t0) * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)L, (blasint)hd,
                    scale, Q, (blasint)hd, K, (blasint)hd, 0.0f, S, (blasint)L);
        softmax_rows(S, m, L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)m, (blasint)hd, (blasint)L,
                    1.0f, S, (blasint)L, V, (blasint)hd, 0.0f, o + (g * n + t0) * C + h * hd,
                    (blasint)C);
      }
    }
  return HART_OK;
}
