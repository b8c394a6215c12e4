/* test-text-ops.c: the backend ops added for the Qwen2 encoder (rope_inplace, attention_causal)
 * against direct double-precision evaluations of their definitions in backend.h, including pad
 * keys, pad queries before any real token (no visible key: uniform weights over all keys) and
 * grouped-query heads. Runs on the CPU backend, and on CUDA when it is available. */
#include "test-util.h"

#include <math.h>
#include <string.h>

#include "backend.h"

static float frand(guint32 *s)
{
  *s = *s * 1664525u + 1013904223u;
  return (float)(*s >> 8) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* o for one (g, i, h) by the definition. */
static void ref_attention(double *o, const float *q, const float *k, const float *v,
                          const float *mask, int64_t g, int64_t i, int64_t h, int64_t n, int64_t H,
                          int64_t KV, int64_t hd, double scale)
{
  int64_t kvh = h / (H / KV), seen = 0;
  double mx = -INFINITY, sum = 0.0, w[64];

  g_assert_cmpint(n, <=, 64);
  for (int64_t d = 0; d < hd; d++)
    o[d] = 0.0;
  for (int64_t j = 0; j <= i; j++) {
    double dot = 0.0;
    if (mask[g * n + j] == 0.0f)
      continue;
    for (int64_t d = 0; d < hd; d++)
      dot += (double)q[(g * n + i) * H * hd + h * hd + d] *
             (double)k[(g * n + j) * KV * hd + kvh * hd + d];
    w[j] = dot * scale;
    mx = fmax(mx, w[j]);
    seen++;
  }
  for (int64_t j = 0; j < n; j++) {
    double p;
    if (seen == 0)
      p = 1.0 / (double)n;
    else if (j <= i && mask[g * n + j] != 0.0f)
      p = exp(w[j] - mx);
    else
      continue;
    sum += p;
    for (int64_t d = 0; d < hd; d++)
      o[d] += p * (double)v[(g * n + j) * KV * hd + kvh * hd + d];
  }
  for (int64_t d = 0; d < hd; d++)
    o[d] /= sum;
}

static void check_ops(hart_backend *be)
{
  enum { G = 2, n = 13, H = 6, KV = 2, hd = 8 };
  static float q[G * n * H * hd], k[G * n * KV * hd], v[G * n * KV * hd], o[G * n * H * hd];
  static float cs[n * hd], sn[n * hd], mask[G * n], x[G * n * H * hd], ref[G * n * H * hd];
  float *dq, *dk, *dv, *dout, *dm, *dc, *ds;
  guint32 seed = 12345;
  double err = 0.0, scale = 1.0 / sqrt(hd);

  for (size_t i = 0; i < G_N_ELEMENTS(q); i++)
    q[i] = frand(&seed);
  for (size_t i = 0; i < G_N_ELEMENTS(k); i++) {
    k[i] = frand(&seed);
    v[i] = frand(&seed);
  }
  /* Group 0: two leading pads (queries 0 and 1 see nothing), a pad in the middle, pads at the
   * end. Group 1: no pads. */
  for (int64_t j = 0; j < n; j++) {
    mask[j] = (j >= 2 && j != 6 && j < 10) ? 1.0f : 0.0f;
    mask[n + j] = 1.0f;
  }
  for (int64_t t = 0; t < n; t++)
    for (int64_t d = 0; d < hd; d++) {
      double a = (double)t / pow(1e4, (double)(2 * (d % (hd / 2))) / hd);
      cs[t * hd + d] = (float)cos(a);
      sn[t * hd + d] = (float)sin(a);
    }

#define UP(dst, src)                                                                               \
  do {                                                                                             \
    dst = be->ops->alloc(be, sizeof src);                                                          \
    g_assert_nonnull(dst);                                                                         \
    g_assert_cmpint(be->ops->upload(be, dst, src, sizeof src), ==, HART_OK);                       \
  } while (0)
  UP(dq, q);
  UP(dk, k);
  UP(dv, v);
  UP(dm, mask);
  UP(dc, cs);
  UP(ds, sn);
  dout = be->ops->alloc(be, sizeof o);
  g_assert_cmpint(
      be->ops->attention_causal(be, dout, dq, dk, dv, dm, G, n, H, KV, hd, (float)scale), ==,
      HART_OK);
  g_assert_cmpint(be->ops->download(be, o, dout, sizeof o), ==, HART_OK);
  g_assert_cmpint(be->ops->sync(be), ==, HART_OK);
  for (int64_t g = 0; g < G; g++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t h = 0; h < H; h++) {
        double r[hd];
        ref_attention(r, q, k, v, mask, g, i, h, n, H, KV, hd, scale);
        for (int64_t d = 0; d < hd; d++)
          err = fmax(err, fabs(r[d] - o[(g * n + i) * H * hd + h * hd + d]));
      }
  g_test_message("%s attention_causal: max abs err %.3g", be->name, err);
  g_assert_cmpfloat(err, <=, 1e-5);

  /* rope_inplace on q viewed as [G, n, H, hd]. */
  for (int64_t r = 0; r < G * n; r++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t d = 0; d < hd; d++) {
        int64_t t = r % n, half = hd / 2, base = (r * H + h) * hd;
        double rot = d < half ? -(double)q[base + d + half] : (double)q[base + d - half];
        ref[base + d] = (float)((double)q[base + d] * cs[t * hd + d] + rot * sn[t * hd + d]);
      }
  g_assert_cmpint(be->ops->rope_inplace(be, dq, dc, ds, G, n, H, hd), ==, HART_OK);
  g_assert_cmpint(be->ops->download(be, x, dq, sizeof x), ==, HART_OK);
  g_assert_cmpint(be->ops->sync(be), ==, HART_OK);
  err = ht_max_abs_err(x, ref, G_N_ELEMENTS(x));
  g_test_message("%s rope_inplace: max abs err %.3g", be->name, err);
  g_assert_cmpfloat(err, <=, 1e-6);
  be->ops->free(be, dq);
  be->ops->free(be, dk);
  be->ops->free(be, dv);
  be->ops->free(be, dm);
  be->ops->free(be, dc);
  be->ops->free(be, ds);
  be->ops->free(be, dout);
}

static void test_cpu(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  g_assert_cmpint(hart_backend_cpu_new(2, &err, &be), ==, HART_OK);
  be->err = &err;
  check_ops(be);
  be->ops->destroy(be);
}

static void test_cuda(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  if (hart_backend_cuda_new(0, &err, &be) != HART_OK) {
    g_test_skip(err.msg);
    return;
  }
  be->err = &err;
  if (be->ops->rope_inplace == NULL || be->ops->attention_causal == NULL)
    g_test_skip("the CUDA backend has no text encoder ops yet");
  else
    check_ops(be);
  be->ops->destroy(be);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/text-ops/cpu", test_cpu);
  g_test_add_func("/text-ops/cuda", test_cuda);
  return g_test_run();
}
