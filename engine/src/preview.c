/* preview.c: the latent-to-RGB least-squares projection for cheap previews (see preview.h). */
#include "preview.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

/* Philox key and stage of the sample latents: fixed, so a model always gets the same fit. */
#define PREVIEW_SEED 0x70726576696577ull
#define PREVIEW_STAGE 0x20000u

/* Builds n sample latents [n, Cv, S, S] in backend memory `lat`. Scratch: idx (int32, S*S),
 * tok [S*S, Cv], grid [Cv, S, S], up [Cv, S, S], all backend memory. */
static hart_status make_latents(hart_vae *vae, hart_backend *be, int n, int64_t S, int64_t Cv,
                                float *lat, int32_t *idx, float *tok, float *grid, float *up)
{
  const hart_bw *cb = hart_vae_codebook(vae);
  int64_t V = cb->shape[0];
  int32_t *hidx = malloc((size_t)(S * S) * sizeof(int32_t));
  uint32_t stream = 0;
  hart_status st = HART_OK;

  if (hidx == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "preview: out of memory");
  for (int b = 0; b < n && st == HART_OK; b++) {
    float *lb = lat + (int64_t)b * Cv * S * S;
    for (int64_t pn = 1; pn <= S && st == HART_OK; pn = pn * 2 > S && pn < S ? S : pn * 2) {
      for (int64_t i = 0; i < pn * pn; i++)
        hidx[i] = (int32_t)(hart_philox_bits(PREVIEW_SEED, PREVIEW_STAGE, stream, (uint64_t)i) %
                            (uint32_t)V);
      stream++;
      /* codebook rows [pn*pn, Cv] -> [Cv, pn, pn] -> bicubic to S x S -> accumulate. */
      if ((st = be->ops->upload(be, idx, hidx, (size_t)(pn * pn) * sizeof(int32_t))) != HART_OK ||
          (st = be->ops->embed_rows(be, tok, cb, idx, pn * pn, Cv)) != HART_OK ||
          (st = be->ops->transpose(be, grid, tok, 1, pn * pn, Cv)) != HART_OK ||
          (st = be->ops->resize_bicubic(be, up, grid, Cv, pn, pn, S, S)) != HART_OK ||
          (st = be->ops->axpby(be, lb, 1.0f, lb, 1.0f, up, Cv * S * S)) != HART_OK)
        break;
    }
  }
  free(hidx);
  return st;
}

/* Solves the (m x m) symmetric positive definite system A x = y in place (Cholesky); y holds
 * 3 right-hand sides as columns [m][3]. Returns -1 if A is not positive definite. */
static int cholesky_solve(double *A, double *y, int m)
{
  for (int j = 0; j < m; j++) {
    double d = A[j * m + j];
    for (int k = 0; k < j; k++)
      d -= A[j * m + k] * A[j * m + k];
    if (!(d > 0.0))
      return -1;
    d = sqrt(d);
    A[j * m + j] = d;
    for (int i = j + 1; i < m; i++) {
      double s = A[i * m + j];
      for (int k = 0; k < j; k++)
        s -= A[i * m + k] * A[j * m + k];
      A[i * m + j] = s / d;
    }
  }
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < m; i++) { /* L z = y */
      double s = y[i * 3 + r];
      for (int k = 0; k < i; k++)
        s -= A[i * m + k] * y[k * 3 + r];
      y[i * 3 + r] = s / A[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) { /* L^T x = z */
      double s = y[i * 3 + r];
      for (int k = i + 1; k < m; k++)
        s -= A[k * m + i] * y[k * 3 + r];
      y[i * 3 + r] = s / A[i * m + i];
    }
  }
  return 0;
}

/* 1 / RMS of one latent [Cv][HW]. The decoder's GroupNorms make its output nearly invariant to
 * the latent's overall scale, which differs between the fit samples and a latent in mid
 * generation, so the projection works on latents normalised to unit RMS. */
static double inv_rms(const float *lat, int64_t n)
{
  double ss = 0.0;
  for (int64_t i = 0; i < n; i++)
    ss += (double)lat[i] * lat[i];
  return ss > 0.0 ? 1.0 / sqrt(ss / (double)n) : 1.0;
}

static double clamp1(double v)
{
  return v < -1.0 ? -1.0 : (v > 1.0 ? 1.0 : v);
}

hart_status hart_preview_fit_data(const float *lat_h, const float *tgt_h, int n, int64_t HW, int Cv,
                                  hart_preview_proj *proj, hart_error *err)
{
  int m = Cv + 1;
  double *A = calloc((size_t)m * m, sizeof(double)), *y = calloc((size_t)m * 3, sizeof(double));
  double x[HART_PREVIEW_MAX_CV + 1], tr = 0.0, se = 0.0;
  int64_t P = (int64_t)n * HW;

  if (A == NULL || y == NULL) {
    free(A);
    free(y);
    return hart_fail(err, HART_ERR_NO_MEMORY, "preview: out of memory");
  }
  for (int b = 0; b < n; b++) {
    double g = inv_rms(lat_h + (int64_t)b * Cv * HW, Cv * HW);
    for (int64_t p = 0; p < HW; p++) {
      for (int c = 0; c < Cv; c++)
        x[c] = g * lat_h[((int64_t)b * Cv + c) * HW + p];
      x[Cv] = 1.0;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j <= i; j++)
          A[i * m + j] += x[i] * x[j];
        for (int k = 0; k < 3; k++)
          y[i * 3 + k] += x[i] * tgt_h[((int64_t)b * 3 + k) * HW + p];
      }
    }
  }
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < i; j++)
      A[j * m + i] = A[i * m + j];
    tr += A[i * m + i];
  }
  /* A small ridge keeps the system well posed when channels are (nearly) collinear. */
  for (int i = 0; i < m; i++)
    A[i * m + i] += 1e-6 * tr / m + 1e-12;
  if (cholesky_solve(A, y, m) != 0) {
    free(A);
    free(y);
    return hart_fail(err, HART_ERR_INTERNAL, "preview: the least-squares system is singular");
  }
  memset(proj, 0, sizeof *proj);
  proj->Cv = Cv;
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < m; i++)
      proj->w[k][i] = y[i * 3 + k];
  /* Fit quality on the samples, in 8-bit units as the previews are shown. */
  for (int b = 0; b < n; b++) {
    double g = inv_rms(lat_h + (int64_t)b * Cv * HW, Cv * HW);
    for (int64_t p = 0; p < HW; p++)
      for (int k = 0; k < 3; k++) {
        double v = proj->w[k][Cv], d;
        for (int c = 0; c < Cv; c++)
          v += proj->w[k][c] * g * lat_h[((int64_t)b * Cv + c) * HW + p];
        d = (clamp1(v) - clamp1(tgt_h[((int64_t)b * 3 + k) * HW + p])) * 127.5;
        se += d * d;
      }
  }
  proj->fit_psnr_db = 10.0 * log10(255.0 * 255.0 / fmax(se / (double)(P * 3), 1e-12));
  free(A);
  free(y);
  return HART_OK;
}

hart_status hart_preview_fit(hart_vae *vae, hart_backend *be, int n_latents, int S,
                             hart_preview_proj *proj, hart_error *err)
{
  const hart_bw *cb = hart_vae_codebook(vae);
  int64_t Cv = cb->shape[1], f = hart_vae_upscale(vae), n, s, HW, H;
  float *lat = NULL, *tok = NULL, *grid = NULL, *up = NULL, *img = NULL, *tgt = NULL;
  float *lat_h = NULL, *tgt_h = NULL;
  int32_t *idx = NULL;
  hart_status st;

  n = n_latents > 0 ? n_latents : HART_PREVIEW_FIT_LATENTS;
  s = S > 0 ? S : HART_PREVIEW_FIT_SIZE;
  HW = s * s;
  H = s * f;
  if (Cv > HART_PREVIEW_MAX_CV)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "preview: %lld latent channels", (long long)Cv);
  lat = be->ops->alloc(be, (size_t)(n * Cv * HW) * sizeof(float));
  tok = be->ops->alloc(be, (size_t)(Cv * HW) * sizeof(float));
  grid = be->ops->alloc(be, (size_t)(Cv * HW) * sizeof(float));
  up = be->ops->alloc(be, (size_t)(Cv * HW) * sizeof(float));
  idx = be->ops->alloc(be, (size_t)HW * sizeof(int32_t));
  img = be->ops->alloc(be, (size_t)(n * 3 * H * H) * sizeof(float));
  tgt = be->ops->alloc(be, (size_t)(n * 3 * HW) * sizeof(float));
  lat_h = malloc((size_t)(n * Cv * HW) * sizeof(float));
  tgt_h = malloc((size_t)(n * 3 * HW) * sizeof(float));
  if (!lat || !tok || !grid || !up || !idx || !img || !tgt || !lat_h || !tgt_h) {
    st = hart_fail(err, HART_ERR_NO_MEMORY, "preview: out of memory for the fit");
    goto done;
  }
  if ((st = make_latents(vae, be, (int)n, s, Cv, lat, idx, tok, grid, up)) != HART_OK ||
      (st = hart_vae_decode(vae, img, lat, n, s)) != HART_OK ||
      (st = be->ops->resize_area(be, tgt, img, n * 3, H, H, s, s)) != HART_OK ||
      (st = be->ops->download(be, lat_h, lat, (size_t)(n * Cv * HW) * sizeof(float))) != HART_OK ||
      (st = be->ops->download(be, tgt_h, tgt, (size_t)(n * 3 * HW) * sizeof(float))) != HART_OK) {
    if (err != be->err && be->err)
      *err = *be->err;
    goto done;
  }
  st = hart_preview_fit_data(lat_h, tgt_h, (int)n, HW, (int)Cv, proj, err);
done:
  be->ops->free(be, lat);
  be->ops->free(be, tok);
  be->ops->free(be, grid);
  be->ops->free(be, up);
  be->ops->free(be, idx);
  be->ops->free(be, img);
  be->ops->free(be, tgt);
  free(lat_h);
  free(tgt_h);
  return st;
}

void hart_preview_rgb_host(const hart_preview_proj *proj, const float *latent, int64_t S,
                           uint8_t *rgb_out)
{
  int Cv = proj->Cv;
  int64_t HW = S * S;
  double g = inv_rms(latent, Cv * HW);
  for (int64_t p = 0; p < HW; p++)
    for (int k = 0; k < 3; k++) {
      double v = proj->w[k][Cv];
      float f;
      for (int c = 0; c < Cv; c++)
        v += proj->w[k][c] * g * latent[c * HW + p];
      /* The image convention of image.c: ((clamp(v) + 1) * 0.5) * 255 truncated. */
      f = (float)clamp1(v);
      f = ((f + 1.0f) * 0.5f) * 255.0f;
      rgb_out[p * 3 + k] = f >= 0.0f ? (uint8_t)f : 0;
    }
}

hart_status hart_preview_rgb(const hart_preview_proj *proj, hart_backend *be, const float *latent,
                             int64_t b, int64_t S, uint8_t *rgb_out, hart_error *err)
{
  int64_t n = (int64_t)proj->Cv * S * S;
  float *host = malloc((size_t)n * sizeof(float));
  hart_status st;
  if (host == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "preview: out of memory");
  st = be->ops->download(be, host, latent + b * n, (size_t)n * sizeof(float));
  if (st == HART_OK)
    hart_preview_rgb_host(proj, host, S, rgb_out);
  else if (err != be->err && be->err)
    *err = *be->err;
  free(host);
  return st;
}
