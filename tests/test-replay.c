/* test-replay.c: whole-generation parity with the golden runs, every random draw replayed
 * (golden README, "Replaying the random draws").
 *
 * HART_TEST_BACKEND=cuda runs the same cases on the CUDA backend (skipped without a GPU), with
 * budgets for its fp16 GEMM operands (the official autocast numerics) instead of the fp32 ones:
 * float tensors within 2e-2 of their max magnitude (200x the CPU's 1e-4: fp16 rounding of both
 * GEMM operands is ~3e-4 relative per product, a few products deep), with up to 0.1% outlier
 * elements (1% from the diffusion steps on: the k = 7 clamp flips isolated values, hart-spec
 * 2.7); up to 1% of kept-set rows may swap a boundary entry (logits move ~1e-3 relative);
 * non-smooth end to end: image PSNR >= 30 dB and >= 95% of PNG bytes within +-2; smooth
 * free-running runs: PSNR >= 15 dB (hart-spec 7.5: without teacher forcing only a similarity is
 * meaningful).
 *
 * - /replay/stages/<case>/<run>: teacher forcing (recorded f_hat and next_map fed forward), so
 *   every scale is checked on its own: x_in, hidden, the engine's own top-k sets and their
 *   logits, h, plus cond_BD, ctx_norm_out and lvl_table.
 * - /replay/e2e/<case>/run_smooth0: free-running replay, every tensor within 1e-4 of the golden
 *   value relative to that tensor's max, kept sets identical, PNG bytes (needs the VAE and
 *   diffusion parts).
 * - /replay/e2e/<case>/run_smooth1: free-running with a looser bound (see check_e2e).
 * - /replay/lent/<case>/run_smooth0: the same run with the KV cache lent to the diffusion and the
 *   decoder (as at the released shapes) gives the same tensors and image.
 * - /replay/repeat/<case>: one request run again and again (CUDA: as issued, recorded, replayed)
 *   gives the same image bit for bit. */
#include "test-util.h"

#include <math.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "generate.h"
#include "replay.h"

typedef struct {
  hart_dtype dt;
  int ndim;
  int64_t shape[4];
  int64_t n;
  void *data; /* float or int64 (I16 converted to int64) */
} dumped;

static void dumped_free(gpointer p)
{
  dumped *d = p;
  g_free(d->data);
  g_free(d);
}

static void collect(void *ud, const char *name, hart_dtype dt, int ndim, const int64_t *shape,
                    const void *data)
{
  GHashTable *h = ud;
  dumped *d = g_new0(dumped, 1);
  d->dt = dt;
  d->ndim = ndim;
  d->n = 1;
  for (int i = 0; i < ndim; i++) {
    d->shape[i] = shape[i];
    d->n *= shape[i];
  }
  if (dt == HART_DT_F32) {
    d->data = g_memdup2(data, (gsize)d->n * sizeof(float));
  } else {
    int64_t *v = g_new(int64_t, d->n);
    for (int64_t i = 0; i < d->n; i++)
      v[i] = dt == HART_DT_I16 ? ((const int16_t *)data)[i] : ((const int64_t *)data)[i];
    d->data = v;
  }
  g_hash_table_replace(h, g_strdup(name), d);
}

typedef struct {
  const char *casename, *run;
  int teacher;
} replay_case;

/* CPU tolerance -> the tolerance on the test backend (see the header comment). */
static double tol_for(double cpu_tol)
{
  return ht_backend_is_cuda() ? cpu_tol * 200.0 : cpu_tol;
}

static int64_t keep_rows_seen; /* kept-set rows compared in the current case */
/* CUDA: the fraction of elements allowed beyond tolerance (at least 4 elements). After the
 * diffusion's k = 7 clamp a flipped element moves the residual by up to ~0.27 (hart-spec 2.7), so
 * the e2e checks from diff.step*.x on allow 1%, and the image is judged by PSNR instead. */
static double cuda_outlier_frac = 0.001;

typedef struct {
  hart_backend *be;
  hart_model *m;
  hart_gen *g;
  hart_replay_case *rc;
  GHashTable *dumps;
  uint8_t *rgb;
  hart_status st;
  hart_error err;
} run_state;

/* The case's prompt context, guidance and smoothing as a request (nothing else set). */
static void case_request(const run_state *s, hart_gen_request *r)
{
  memset(r, 0, sizeof *r);
  r->context = s->rc->context;
  r->context_mask = s->rc->context_mask;
  r->position_ids = s->rc->position_ids;
  r->cfg = s->rc->cfg;
  r->smooth = s->rc->smooth;
}

/* lend: give the KV cache room to be lent to the diffusion sampler and the decoder (as the
 * released shapes do by themselves). */
static gboolean run_case_kv(const replay_case *c, run_state *s, gboolean lend)
{
  char *rel = g_strdup_printf("golden/%s", c->casename);
  char *dir = ht_shared_path(rel);
  hart_gen_request r;
  hart_gen_times times;

  memset(s, 0, sizeof *s);
  if (!ht_require_shared(rel)) {
    g_free(rel);
    g_free(dir);
    return FALSE;
  }
  if (ht_backend_new(&s->err, &s->be) != HART_OK) {
    char *m = g_strdup_printf("backend unavailable: %s", s->err.msg);
    g_test_skip(m);
    g_free(m);
    g_free(rel);
    g_free(dir);
    return FALSE;
  }
  if (hart_model_load(s->be, dir, &s->m, &s->err) != HART_OK)
    g_error("model %s: %s", dir, s->err.msg);
  if (hart_replay_case_load(dir, c->run, c->teacher, &s->rc, &s->err) != HART_OK)
    g_error("replay %s/%s: %s", dir, c->run, s->err.msg);
  g_assert_cmpint(hart_gen_new_kv(s->m, s->rc->B, lend ? hart_gen_lend_bytes(s->m, s->rc->B) : 0,
                                  &s->g, &s->err),
                  ==, HART_OK);
  s->dumps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, dumped_free);
  s->rgb = g_malloc0((gsize)(s->rc->B * 3) * (gsize)hart_model_image_size(s->m) *
                     (gsize)hart_model_image_size(s->m));
  case_request(s, &r);
  r.replay = &s->rc->rp;
  r.dump = collect;
  r.dump_ud = s->dumps;
  r.rgb = s->rgb;
  s->st = hart_gen_run(s->g, &r, &times, &s->err);
  g_test_message("%s/%s: status %d (%s), %.3f s", c->casename, c->run, s->st, s->err.msg,
                 times.t_total);
  g_free(rel);
  g_free(dir);
  return TRUE;
}

static gboolean run_case(const replay_case *c, run_state *s)
{
  return run_case_kv(c, s, FALSE);
}

static void run_free(run_state *s)
{
  g_hash_table_destroy(s->dumps);
  g_free(s->rgb);
  hart_gen_free(s->g);
  hart_replay_case_free(s->rc);
  hart_model_free(s->m);
  s->be->ops->destroy(s->be);
}

/* Compares one float tensor (relative to the golden max magnitude); returns the error. */
static double cmp_f32(run_state *s, const char *name, int64_t rows_limit, double tol)
{
  dumped *d = g_hash_table_lookup(s->dumps, name);
  const hart_tensor *t = hart_tensor_set_get(s->rc->run, name);
  float *want;
  int64_t n;
  double e;
  if (d == NULL)
    g_error("the engine did not produce %s", name);
  g_assert_nonnull(t);
  want = ht_tensor_f32(s->rc->run, name, &n);
  if (rows_limit > 0 && rows_limit < n)
    n = rows_limit; /* only the leading rows are comparable (e.g. diffusion's cond half) */
  g_assert_cmpint(d->n, >=, n);
  tol = tol_for(tol);
  e = ht_max_rel_err(d->data, want, n);
  g_test_message("%s: max rel err %.3g (tol %.1g)", name, e, tol);
  if (!(e <= tol) && ht_backend_is_cuda()) {
    /* Isolated outliers allowed on CUDA (cuda_outlier_frac of the elements, at least 4). */
    double ref = 0.0;
    int64_t out = 0, allowed = MAX((int64_t)(cuda_outlier_frac * (double)n), 4);
    for (int64_t i = 0; i < n; i++)
      if (isfinite(want[i]))
        ref = fmax(ref, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
      out += !(fabs((double)((float *)d->data)[i] - want[i]) <= tol * (ref > 0 ? ref : 1));
    g_test_message("%s: %lld of %lld elements beyond tol (allowed %lld)", name, (long long)out,
                   (long long)n, (long long)allowed);
    if (out <= allowed)
      e = tol;
  }
  if (!(e <= tol))
    g_error("%s: max rel err %.3g exceeds %.1g", name, e, tol);
  g_free(want);
  return e;
}

static int64_t boundary_swaps;
/* Free-running (not teacher-forced) CUDA runs carry fp16 differences from scale to scale, so
 * their own kept sets may drift further than a threshold swap; replay uses the recorded sets
 * anyway and the image budget judges the result. Stage tests keep the strict check. */
static gboolean keep_strict = TRUE;
static int64_t keep_drift_rows;

/* Whether two ascending kept sets of K ids differ only near their thresholds: every id kept by
 * the reference alone has a reference logit within tol*ref of the reference's k-th largest, and
 * every id kept by the engine alone an engine logit within tol*ref of the engine's k-th largest
 * (ref = the row's largest reference magnitude). */
static gboolean is_boundary_swap(const int64_t *ek, const float *el, const int64_t *gk,
                                 const float *gl, int64_t K, double tol)
{
  double gthr = INFINITY, ethr = INFINITY, ref = 0.0;
  int64_t i = 0, j = 0;
  for (int64_t t = 0; t < K; t++) {
    gthr = fmin(gthr, gl[t]);
    ethr = fmin(ethr, el[t]);
    ref = fmax(ref, fabs(gl[t]));
  }
  tol *= ref > 0 ? ref : 1;
  while (i < K || j < K) {
    if (i < K && j < K && ek[i] == gk[j]) {
      i++;
      j++;
    } else if (j >= K || (i < K && ek[i] < gk[j])) {
      if (!(el[i] - ethr <= tol)) /* kept by the engine only */
        return FALSE;
      i++;
    } else {
      if (!(gl[j] - gthr <= tol)) /* kept by the reference only */
        return FALSE;
      j++;
    }
  }
  return TRUE;
}

/* The engine's own top-k sets vs the recorded ones: returns the number of rows that differ and
 * checks the mixed logits on the rows that agree. */
static int cmp_keep(run_state *s, int si, double tol)
{
  char nk[64], nl[64];
  dumped *dk, *dl;
  int64_t *want_k, rows, K, bad = 0;
  float *want_l;
  double ref = 0.0, maxerr = 0.0;

  snprintf(nk, sizeof nk, "s%02d.keep_idx", si);
  snprintf(nl, sizeof nl, "s%02d.keep_logit", si);
  dk = g_hash_table_lookup(s->dumps, nk);
  dl = g_hash_table_lookup(s->dumps, nl);
  g_assert_nonnull(dk);
  g_assert_nonnull(dl);
  want_k = g_new(int64_t, dk->n);
  {
    hart_error err = { 0 };
    g_assert_cmpint(hart_tensor_to_i64(hart_tensor_set_get(s->rc->run, nk), want_k, &err), ==,
                    HART_OK);
  }
  want_l = ht_tensor_f32(s->rc->run, nl, NULL);
  K = dk->shape[2];
  rows = dk->n / K;
  keep_rows_seen += rows;
  tol = tol_for(tol);
  for (int64_t r = 0; r < rows; r++) {
    int same = memcmp((int64_t *)dk->data + r * K, want_k + r * K, (size_t)K * 8) == 0;
    if (!same && ht_backend_is_cuda()) {
      /* fp16 GEMM operands move logits by ~1e-3 of their size while the gap between the k-th and
       * (k+1)-th largest is often smaller (golden README), so on CUDA a kept set may differ, but
       * only by swaps at the threshold: such a row is accepted, anything else is not. */
      if (is_boundary_swap((int64_t *)dk->data + r * K, (float *)dl->data + r * K, want_k + r * K,
                           want_l + r * K, K, tol))
        boundary_swaps++;
      else if (keep_strict)
        g_error("%s row %lld: the kept set differs beyond a swap at the threshold", nk,
                (long long)r);
      else
        keep_drift_rows++;
      continue;
    }
    if (!same) {
      bad++;
      continue;
    }
    for (int64_t j = 0; j < K; j++) {
      double w = want_l[r * K + j], gv = ((float *)dl->data)[r * K + j];
      ref = fmax(ref, fabs(w));
      maxerr = fmax(maxerr, fabs(w - gv));
    }
  }
  g_test_message("%s: %lld of %lld rows differ; keep_logit max rel err %.3g; %lld boundary swaps "
                 "so far",
                 nk, (long long)bad, (long long)rows, maxerr / (ref > 0 ? ref : 1),
                 (long long)boundary_swaps);
  if (!(maxerr <= tol * (ref > 0 ? ref : 1)))
    g_error("%s: max rel err %.3g exceeds %.1g", nl, maxerr / ref, tol);
  g_free(want_k);
  g_free(want_l);
  return (int)bad;
}

static void check_stages(run_state *s, const replay_case *c, double tol_h, int max_keep_rows)
{
  int SN = s->rc->n_scales, bad = 0;
  char name[64];
  keep_rows_seen = 0;
  cmp_f32(s, "ctx_norm_out", 0, 1e-4);
  cmp_f32(s, "cond_BD", 0, 1e-4);
  cmp_f32(s, "lvl_table", 0, 1e-4);
  for (int si = 0; si < SN; si++) {
    snprintf(name, sizeof name, "s%02d.x_in", si);
    if (hart_tensor_set_get(s->rc->run, name))
      cmp_f32(s, name, 0, 1e-4);
    snprintf(name, sizeof name, "s%02d.hidden", si);
    cmp_f32(s, name, 0, 1e-4);
    bad += cmp_keep(s, si, 1e-4);
    if (si < SN - 1) {
      snprintf(name, sizeof name, "s%02d.h", si);
      cmp_f32(s, name, 0, tol_h);
      if (!c->teacher) {
        snprintf(name, sizeof name, "s%02d.fhat", si);
        cmp_f32(s, name, 0, tol_h);
        snprintf(name, sizeof name, "s%02d.next_map", si);
        cmp_f32(s, name, 0, tol_h);
      }
    }
  }
  if (ht_backend_is_cuda())
    max_keep_rows += (int)(keep_rows_seen / 100);
  g_test_message("%s/%s: %d kept-set rows differ in total (allowed %d)", c->casename, c->run, bad,
                 max_keep_rows);
  g_assert_cmpint(bad, <=, max_keep_rows);
}

static void test_stages(gconstpointer data)
{
  const replay_case *c = data;
  run_state s;
  int smooth = g_str_has_suffix(c->run, "1");
  if (!run_case(c, &s))
    return;
  /* With teacher forcing every scale starts from the recorded state. Non-smooth h are codebook
   * rows (exact once idx is replayed); the smooth h go through a Gumbel softmax with logits
   * scaled by (1+ratio)/tau (up to ~40x), so float rounding of the logits (1e-6 relative) shows
   * as ~1e-4 there: the README measures 6e-4 on h_tokens under OpenBLAS with teacher forcing. */
  if (s.st != HART_OK && !(s.m->vae == NULL && s.st == HART_ERR_UNSUPPORTED))
    g_error("replay failed: %s", s.err.msg);
  check_stages(&s, c, smooth ? 1e-3 : 1e-4, smooth ? 3 : 0);
  run_free(&s);
}

static int read_png(const char *path, int *w, int *h, uint8_t **rgb)
{
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path))
    return 0;
  img.format = PNG_FORMAT_RGB;
  *rgb = g_malloc(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, NULL, *rgb, 0, NULL)) {
    g_free(*rgb);
    return 0;
  }
  *w = (int)img.width;
  *h = (int)img.height;
  return 1;
}

static void check_pngs(run_state *s, const replay_case *c, double min_equal, int max_off)
{
  int S = hart_model_image_size(s->m);
  for (int64_t b = 0; b < s->rc->B; b++) {
    char *rel = g_strdup_printf("golden/%s/%s_b%lld.png", c->casename, c->run, (long long)b);
    char *path = ht_shared_path(rel);
    uint8_t *want = NULL, *got = s->rgb + b * S * S * 3;
    int w = 0, h = 0, worst = 0;
    int64_t equal = 0, near = 0, n;
    g_assert_true(read_png(path, &w, &h, &want));
    g_assert_cmpint(w, ==, S);
    g_assert_cmpint(h, ==, S);
    n = (int64_t)S * S * 3;
    for (int64_t i = 0; i < n; i++) {
      int d = abs((int)got[i] - (int)want[i]);
      equal += d == 0;
      near += d <= 2;
      worst = MAX(worst, d);
    }
    g_test_message("%s: %.4f%% of bytes equal, %.4f%% within 2, max diff %d", rel,
                   100.0 * equal / n, 100.0 * near / n, worst);
    if (ht_backend_is_cuda() && max_off <= 1) {
      g_assert_cmpfloat((double)near / n, >=, 0.95);
    } else {
      g_assert_cmpfloat((double)equal / n, >=, min_equal);
      g_assert_cmpint(worst, <=, max_off);
    }
    g_free(want);
    g_free(rel);
    g_free(path);
  }
}

static void test_e2e(gconstpointer data)
{
  const replay_case *c = data;
  run_state s;
  int smooth = g_str_has_suffix(c->run, "1");
  if (!run_case(c, &s))
    return;
  if (s.m->vae == NULL || s.m->diff == NULL) {
    g_test_skip("the VAE/diffusion parts are not built in yet");
    run_free(&s);
    return;
  }
  if (s.st != HART_OK)
    g_error("replay failed: %s", s.err.msg);
  if (!smooth) {
    int64_t N = s.rc->B * hart_model_image_size(s.m) / hart_vae_upscale(s.m->vae);
    char name[64];
    N = N * hart_model_image_size(s.m) / hart_vae_upscale(s.m->vae);
    keep_strict = !ht_backend_is_cuda();
    check_stages(&s, c, 1e-4, 0);
    keep_strict = TRUE;
    g_test_message("%s/%s: %lld rows drifted beyond a threshold swap (free-running, reported)",
                   c->casename, c->run, (long long)keep_drift_rows);
    snprintf(name, sizeof name, "s%02d.h_tokens", s.rc->n_scales - 1);
    cmp_f32(&s, name, 0, 1e-4);
    cmp_f32(&s, "diff.z", 0, 1e-4);
    cuda_outlier_frac = 0.01;
    for (int k = 0; k < s.rc->n_steps; k++) {
      snprintf(name, sizeof name, "diff.step%d.x", k);
      cmp_f32(&s, name, N * s.m->vae_cfg.z_channels, 1e-4);
    }
    cmp_f32(&s, "diff.final_sample", N * s.m->vae_cfg.z_channels, 1e-4);
    cmp_f32(&s, "fhat_final", 0, 1e-4);
    if (ht_backend_is_cuda()) {
      float *want = ht_tensor_f32(s.rc->run, "image", NULL);
      dumped *d = g_hash_table_lookup(s.dumps, "image");
      double se = 0.0, psnr;
      g_assert_nonnull(d);
      for (int64_t i = 0; i < d->n; i++) {
        double df = (double)((float *)d->data)[i] - want[i];
        se += df * df;
      }
      psnr = 10.0 * log10(1.0 / (se / (double)d->n + 1e-20));
      g_test_message("image: PSNR %.2f dB (CUDA budget >= 30)", psnr);
      g_assert_cmpfloat(psnr, >=, 30.0);
      g_free(want);
    } else {
      cmp_f32(&s, "image", 0, 1e-4);
    }
    cuda_outlier_frac = 0.001;
    check_pngs(&s, c, 0.999, 1);
  } else {
    /* more_smooth free-running replay is ill-conditioned (README "Determinism and error
     * budget"): the Gumbel softmax amplifies logit rounding ~10x per scale, so a float32
     * reimplementation with another summation order (OpenBLAS) differs from the reference by
     * 9e-4 (tiny, image 2.8e-4) up to 0.27 on h_tokens and 0.047 on the image (small). We check
     * the image (values in [0, 1]) to 0.1 absolute and that most PNG bytes are within 1: a
     * wrong stage (e.g. a wrong phi or ratio) moves the image by far more. */
    float *want = ht_tensor_f32(s.rc->run, "image", NULL);
    dumped *d = g_hash_table_lookup(s.dumps, "image");
    double e;
    g_assert_nonnull(d);
    e = ht_max_abs_err(d->data, want, d->n);
    g_test_message("image: max abs err %.3g (tol 0.1)", e);
    if (ht_backend_is_cuda()) {
      double se = 0.0, psnr;
      for (int64_t i = 0; i < d->n; i++) {
        double df = (double)((float *)d->data)[i] - want[i];
        se += df * df;
      }
      psnr = 10.0 * log10(1.0 / (se / (double)d->n + 1e-20));
      g_test_message("image: PSNR %.2f dB (CUDA budget >= 15)", psnr);
      g_assert_cmpfloat(psnr, >=, 15.0);
    } else {
      g_assert_cmpfloat(e, <=, 0.1);
      check_pngs(&s, c, 0.5, 40);
    }
    g_free(want);
  }
  run_free(&s);
}

/* The generation lends its dead KV cache to the diffusion condition, the sampler and the decoder
 * at the released shapes; the golden models are too small for that, so the cache is enlarged
 * here. Every dumped tensor must be the same as without lending: bit for bit on the CPU, and on
 * CUDA (fp16 cache memory reused as fp32 scratch) within 1e-6 of its max (the same kernels on the
 * same shapes: expected 0, reported). */
static void test_lent(gconstpointer data)
{
  const replay_case *c = data;
  run_state a, b;
  GHashTableIter it;
  gpointer key, val;
  int n = 0;
  if (!run_case(c, &a))
    return;
  if (a.m->vae == NULL || a.m->diff == NULL) {
    g_test_skip("the VAE/diffusion parts are not built in");
    run_free(&a);
    return;
  }
  /* the golden models' caches are too small for some of it (tiny: the sampler's workspace fits) */
  g_test_message("own cache lends %d", hart_gen_kv_lends(a.g));
  g_assert_cmpint(hart_gen_kv_lends(a.g), !=, 7);
  g_assert_true(run_case_kv(c, &b, TRUE));
  g_assert_cmpint(hart_gen_kv_lends(b.g), ==, 7);
  if (a.st != HART_OK || b.st != HART_OK)
    g_error("replay failed: %s / %s", a.err.msg, b.err.msg);
  g_hash_table_iter_init(&it, a.dumps);
  while (g_hash_table_iter_next(&it, &key, &val)) {
    dumped *da = val, *db = g_hash_table_lookup(b.dumps, key);
    size_t bytes = (size_t)da->n * (da->dt == HART_DT_F32 ? sizeof(float) : sizeof(int64_t));
    g_assert_nonnull(db);
    g_assert_cmpint(db->n, ==, da->n);
    if (memcmp(da->data, db->data, bytes) != 0) {
      double e = da->dt == HART_DT_F32 ? ht_max_rel_err(db->data, da->data, da->n) : INFINITY;
      g_test_message("%s: lent vs own differ, max rel err %.3g", (const char *)key, e);
      if (!ht_backend_is_cuda() || !(e <= 1e-6))
        g_error("%s: lending the KV cache changed the result (max rel err %.3g)", (const char *)key,
                e);
    }
    n++;
  }
  g_assert_cmpmem(
      a.rgb,
      (gsize)(a.rc->B * 3) * (gsize)hart_model_image_size(a.m) * (gsize)hart_model_image_size(a.m),
      b.rgb,
      (gsize)(b.rc->B * 3) * (gsize)hart_model_image_size(b.m) * (gsize)hart_model_image_size(b.m));
  g_test_message("%s/%s: %d dumped tensors and the image compared", c->casename, c->run, n);
  run_free(&a);
  run_free(&b);
}

/* One free-running request (no replayed draws, no dumps) on g, its image into rgb. */
static void run_free_request(run_state *s, hart_gen *g, uint8_t *rgb)
{
  hart_gen_request r;
  hart_gen_times times;
  case_request(s, &r);
  r.seed = 7;
  r.rgb = rgb;
  if (hart_gen_run(g, &r, &times, &s->err) != HART_OK)
    g_error("run: %s", s->err.msg);
}

/* The same request again and again on one generation object gives the same image, bit for bit:
 * on CUDA the first run issues every op, the second records each scale's blocks as a graph and
 * the third replays the recordings; a second object on the same backend (new keys, the first
 * one's recordings dropped when it is freed) too. A stale pointer in a recording, or a recording
 * replayed where other work was meant, changes the picture. */
static void test_repeat(gconstpointer data)
{
  const replay_case *c = data;
  run_state s;
  hart_gen *g2 = NULL;
  gsize bytes;
  uint8_t *first, *again;

  if (!run_case(c, &s))
    return;
  if (s.st != HART_OK)
    g_error("replay failed: %s", s.err.msg);
  bytes =
      (gsize)(s.rc->B * 3) * (gsize)hart_model_image_size(s.m) * (gsize)hart_model_image_size(s.m);
  first = g_malloc0(bytes);
  again = g_malloc0(bytes);
  /* s.g has run once (the golden replay); these runs are its second to fourth. */
  run_free_request(&s, s.g, first);
  for (int i = 0; i < 2; i++) {
    memset(again, 0, bytes);
    run_free_request(&s, s.g, again);
    g_assert_cmpmem(first, bytes, again, bytes);
  }
  g_assert_cmpint(hart_gen_new(s.m, s.rc->B, &g2, &s.err), ==, HART_OK);
  for (int i = 0; i < 3; i++) {
    memset(again, 0, bytes);
    run_free_request(&s, g2, again);
    g_assert_cmpmem(first, bytes, again, bytes);
  }
  hart_gen_free(g2);
  memset(again, 0, bytes);
  run_free_request(&s, s.g, again);
  g_assert_cmpmem(first, bytes, again, bytes);
  g_test_message("%s: the same image from 8 runs on two generation objects (%s)", c->casename,
                 s.be->name);
  g_free(first);
  g_free(again);
  run_free(&s);
}

/* `hart replay CASE RUN --out DIR` writes run.safetensors with the required names (values equal
 * to the golden ones, as the in-process tests check) and one PNG per batch row. */
static void test_cli(void)
{
  static const char *required[] = { "cond_BD",      "lvl_table",         "s00.hidden",
                                    "s00.keep_idx", "s00.keep_logit",    "s00.h",
                                    "s00.fhat",     "s00.next_map",      "diff.z",
                                    "diff.step0.x", "diff.final_sample", "fhat_final",
                                    "image" };
  const char *cli = g_getenv("HART_CLI");
  char *dir, *tmp, *out_st, *stdout_s = NULL, *stderr_s = NULL;
  int status = 0;
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  float *got, *want;
  int64_t n;
  hart_tensor_set *gold;

  if (cli == NULL || !ht_require_shared("golden/tiny")) {
    if (cli == NULL)
      g_test_skip("HART_CLI not set");
    return;
  }
  dir = ht_shared_path("golden/tiny");
  tmp = g_dir_make_tmp("hart-replay-XXXXXX", NULL);
  {
    const char *argv[] = { cli, "replay", dir, "run_smooth0", "--out", tmp, NULL };
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_s,
                               &stderr_s, &status, NULL));
  }
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("hart replay failed: %s", stderr_s);
  out_st = g_build_filename(tmp, "run.safetensors", NULL);
  g_assert_cmpint(hart_tensor_set_open_safetensors(out_st, &set, &err), ==, HART_OK);
  for (size_t i = 0; i < G_N_ELEMENTS(required); i++)
    if (hart_tensor_set_get(set, required[i]) == NULL)
      g_error("run.safetensors lacks %s", required[i]);
  gold = ht_open_st("golden/tiny/run_smooth0.safetensors");
  got = ht_tensor_f32(set, "image", &n);
  want = ht_tensor_f32(gold, "image", NULL);
  ht_assert_close("image (CLI)", got, want, n, 1e-4);
  for (int b = 0; b < 2; b++) {
    char *name = g_strdup_printf("image_b%d.png", b), *p = g_build_filename(tmp, name, NULL);
    g_assert_true(g_file_test(p, G_FILE_TEST_IS_REGULAR));
    g_unlink(p);
    g_free(p);
    g_free(name);
  }
  g_free(got);
  g_free(want);
  hart_tensor_set_free(gold);
  hart_tensor_set_free(set);
  g_unlink(out_st);
  g_rmdir(tmp);
  g_free(out_st);
  g_free(tmp);
  g_free(dir);
  g_free(stdout_s);
  g_free(stderr_s);
}

int main(int argc, char **argv)
{
  static const replay_case stages[] = {
    { "tiny", "run_smooth0", 1 },  { "tiny", "run_smooth1", 1 },     { "small", "run_smooth0", 1 },
    { "small", "run_smooth1", 1 }, { "tiny-aln", "run_smooth0", 1 },
  };
  static const replay_case e2e[] = {
    { "tiny", "run_smooth0", 0 }, { "small", "run_smooth0", 0 }, { "tiny-aln", "run_smooth0", 0 },
    { "tiny", "run_smooth1", 0 }, { "small", "run_smooth1", 0 },
  };
  g_test_init(&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(stages); i++) {
    char *p = g_strdup_printf("/replay/stages/%s/%s", stages[i].casename, stages[i].run);
    g_test_add_data_func(p, &stages[i], test_stages);
    g_free(p);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(e2e); i++) {
    char *p = g_strdup_printf("/replay/e2e/%s/%s", e2e[i].casename, e2e[i].run);
    g_test_add_data_func(p, &e2e[i], test_e2e);
    g_free(p);
  }
  for (size_t i = 0; i < 2; i++) {
    char *p = g_strdup_printf("/replay/lent/%s/%s", e2e[i].casename, e2e[i].run);
    g_test_add_data_func(p, &e2e[i], test_lent);
    g_free(p);
  }
  for (size_t i = 0; i < 2; i++) {
    char *p = g_strdup_printf("/replay/repeat/%s", e2e[i].casename);
    g_test_add_data_func(p, &e2e[i], test_repeat);
    g_free(p);
  }
  g_test_add_func("/replay/cli/tiny", test_cli);
  return g_test_run();
}
