/* cpu_image.c: convolution, upsampling, bicubic/area resizing and GroupNorm on NCHW tensors.
 *
 * The resampling ops follow PyTorch's CPU kernels (the golden data's reference) operation by
 * operation: hart-spec §3.6. Convolutions go through OpenBLAS sgemm on im2col tiles. */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on the im2col scratch of one conv2d call. At 1024x1024x160 channels one output
 * row needs 160*9*1024*4 bytes = 5.9 MB, so tiles of ~11 rows keep the scratch under 64 MB while
 * each GEMM still has N = rows*W >= 10k columns (large enough for OpenBLAS to run at full speed).
 */
#define CONV_SCRATCH_BYTES ((size_t)64 << 20)

/* ---- GroupNorm ---- */

hart_status cpu_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                          const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups, float eps,
                          int silu)
{
  int64_t cpg;

  if (groups <= 0 || C % groups != 0)
    return hart_fail(be->err, HART_ERR_INTERNAL, "groupnorm: %lld channels, %d groups",
                     (long long)C, groups);
  cpg = C / groups;
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < groups; g++) {
      const float *xg = x + (n * C + g * cpg) * HW;
      float *yg = y + (n * C + g * cpg) * HW;
      int64_t cnt = cpg * HW;
      /* Moments in double: the group spans up to 5*1024*1024 values and a float running sum
       * would lose ~1e-4 of the mean; PyTorch uses a cascaded (pairwise) sum to the same end. */
      double s = 0.0, ss = 0.0, mean, var;
      float rstd;
      for (int64_t i = 0; i < cnt; i++)
        s += xg[i];
      mean = s / (double)cnt;
      for (int64_t i = 0; i < cnt; i++) {
        double d = xg[i] - mean;
        ss += d * d;
      }
      var = ss / (double)cnt; /* biased */
      rstd = (float)(1.0 / sqrt(var + (double)eps));
      for (int64_t c = 0; c < cpg; c++) {
        int64_t ch = g * cpg + c;
        float scale = rstd * (w ? w->data[ch] : 1.0f);
        float shift = (b ? b->data[ch] : 0.0f) - (float)mean * scale;
        const float *xc = xg + c * HW;
        float *yc = yg + c * HW;
        if (silu) {
          for (int64_t i = 0; i < HW; i++) {
            float v = xc[i] * scale + shift;
            yc[i] = v / (1.0f + expf(-v));
          }
        } else {
          for (int64_t i = 0; i < HW; i++)
            yc[i] = xc[i] * scale + shift;
        }
      }
    }
  return HART_OK;
}

/* ---- convolution ---- */

/* col[(ci*k + ky)*k + kx][r*W + c] = x[ci][r0 + r + ky - p][c + kx - p] (0 outside). */
static void im2col_rows(float *col, const float *x, int64_t Cin, int64_t H, int64_t W, int k,
                        int64_t r0, int64_t rows)
{
  int p = k / 2;
  int64_t kk = (int64_t)k * k;

#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t ci = 0; ci < Cin; ci++)
    for (int64_t t = 0; t < kk; t++) {
      int ky = (int)(t / k), kx = (int)(t % k);
      float *dst = col + (ci * kk + t) * rows * W;
      const float *src = x + ci * H * W;
      int64_t c_lo = kx < p ? p - kx : 0;       /* first column with a valid source */
      int64_t c_hi = W - (kx > p ? kx - p : 0); /* one past the last */
      for (int64_t r = 0; r < rows; r++) {
        int64_t sr = r0 + r + ky - p;
        float *d = dst + r * W;
        if (sr < 0 || sr >= H || c_hi <= c_lo) {
          memset(d, 0, (size_t)W * sizeof(float));
          continue;
        }
        if (c_lo > 0)
          memset(d, 0, (size_t)c_lo * sizeof(float));
        memcpy(d + c_lo, src + sr * W + c_lo + kx - p, (size_t)(c_hi - c_lo) * sizeof(float));
        if (c_hi < W)
          memset(d + c_hi, 0, (size_t)(W - c_hi) * sizeof(float));
      }
    }
}

hart_status cpu_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                       const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                       int k)
{
  int64_t HW = H * W, Kdim = Cin * k * k, tile_rows;
  float *col = NULL;

  if (k < 1 || k % 2 == 0 || w->numel != Cout * Kdim)
    return hart_fail(be->err, HART_ERR_INTERNAL,
                     "conv2d: kernel of %lld values for Cout %lld, Cin %lld, k %d",
                     (long long)w->numel, (long long)Cout, (long long)Cin, k);
  if (N == 0 || HW == 0 || Cout == 0)
    return HART_OK;
  /* The bias goes into y first so the GEMM accumulates on top of it (beta = 1). */
  for (int64_t n = 0; n < N; n++) {
#pragma omp parallel for
    for (int64_t co = 0; co < Cout; co++) {
      float bv = b ? b->data[co] : 0.0f;
      float *yc = y + (n * Cout + co) * HW;
      for (int64_t i = 0; i < HW; i++)
        yc[i] = bv;
    }
  }
  if (k == 1) {
    /* A 1x1 convolution is a plain matrix product over the pixels. */
    for (int64_t n = 0; n < N; n++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Cout, (blasint)HW,
                  (blasint)Cin, 1.0f, w->data, (blasint)Cin, x + n * Cin * HW, (blasint)HW, 1.0f,
                  y + n * Cout * HW, (blasint)HW);
    return HART_OK;
  }
  tile_rows = (int64_t)(CONV_SCRATCH_BYTES / ((size_t)Kdim * (size_t)W * sizeof(float)));
  if (tile_rows < 1)
    tile_rows = 1;
  if (tile_rows > H)
    tile_rows = H;
  col = malloc((size_t)Kdim * (size_t)tile_rows * (size_t)W * sizeof(float));
  if (col == NULL)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "conv2d: out of memory for a %lld-row tile",
                     (long long)tile_rows);
  for (int64_t n = 0; n < N; n++)
    for (int64_t r0 = 0; r0 < H; r0 += tile_rows) {
      int64_t rows = H - r0 < tile_rows ? H - r0 : tile_rows;
      im2col_rows(col, x + n * Cin * HW, Cin, H, W, k, r0, rows);
      /* y[:, r0*W .. (r0+rows)*W) += Wmat[Cout, Kdim] . col[Kdim, rows*W] (ldc = HW). */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Cout, (blasint)(rows * W),
                  (blasint)Kdim, 1.0f, w->data, (blasint)Kdim, col, (blasint)(rows * W), 1.0f,
                  y + n * Cout * HW + r0 * W, (blasint)HW);
    }
  free(col);
  return HART_OK;
}

/* ---- resampling ---- */

hart_status cpu_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                           int64_t W)
{
#pragma omp parallel for
  for (int64_t c = 0; c < NC; c++) {
    const float *xc = x + c * H * W;
    float *yc = y + c * 4 * H * W;
    for (int64_t r = 0; r < 2 * H; r++) {
      const float *src = xc + (r >> 1) * W;
      float *dst = yc + r * 2 * W;
      for (int64_t q = 0; q < W; q++)
        dst[2 * q] = dst[2 * q + 1] = src[q];
    }
  }
  return HART_OK;
}

/* PyTorch's cubic convolution weights (A = -0.75) for fraction t, in fp32 as
 * get_cubic_upsample_coefficients computes them. */
static void cubic_weights(float t, float wts[4])
{
  const float A = -0.75f;
  float x1 = t + 1.0f, x2 = 1.0f - t, x3 = x2 + 1.0f;
  wts[0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
  wts[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
  wts[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
  wts[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

/* Per output index: the four clamped source taps and their weights (align_corners false; the
 * source coordinate is not clamped at 0 for cubic). */
static void cubic_taps(int64_t in, int64_t out, int64_t *idx, float *wts)
{
  float scale = (float)in / (float)out;
  for (int64_t o = 0; o < out; o++) {
    float src = scale * ((float)o + 0.5f) - 0.5f;
    float fl = floorf(src);
    int64_t i0 = (int64_t)fl;
    cubic_weights(src - fl, wts + 4 * o);
    for (int m = 0; m < 4; m++) {
      int64_t i = i0 - 1 + m;
      idx[4 * o + m] = i < 0 ? 0 : (i > in - 1 ? in - 1 : i);
    }
  }
}

hart_status cpu_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                               int64_t win, int64_t hout, int64_t wout)
{
  int64_t *ix = malloc((size_t)(4 * (hout + wout)) * sizeof(int64_t));
  float *wt = malloc((size_t)(4 * (hout + wout)) * sizeof(float));
  int64_t *iy;
  float *wy;

  if (ix == NULL || wt == NULL) {
    free(ix);
    free(wt);
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "resize_bicubic: out of memory");
  }
  iy = ix + 4 * wout;
  wy = wt + 4 * wout;
  cubic_taps(win, wout, ix, wt);
  cubic_taps(hin, hout, iy, wy);
#pragma omp parallel for collapse(2)
  for (int64_t c = 0; c < NC; c++)
    for (int64_t oy = 0; oy < hout; oy++) {
      const float *xc = x + c * hin * win;
      float *yr = y + (c * hout + oy) * wout;
      for (int64_t ox = 0; ox < wout; ox++) {
        const int64_t *tx = ix + 4 * ox;
        const float *wx = wt + 4 * ox;
        float out = 0.0f;
        /* Horizontal first on each of the 4 source rows, then vertical, accumulated in the
         * order PyTorch's separable loop uses (t0*w0, += t1*w1, ...). */
        for (int m = 0; m < 4; m++) {
          const float *row = xc + iy[4 * oy + m] * win;
          float r = row[tx[0]] * wx[0];
          r += row[tx[1]] * wx[1];
          r += row[tx[2]] * wx[2];
          r += row[tx[3]] * wx[3];
          if (m == 0)
            out = r * wy[4 * oy];
          else
            out += r * wy[4 * oy + m];
        }
        yr[ox] = out;
      }
    }
  free(ix);
  free(wt);
  return HART_OK;
}

hart_status cpu_resize_area(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                            int64_t win, int64_t hout, int64_t wout)
{
#pragma omp parallel for collapse(2)
  for (int64_t c = 0; c < NC; c++)
    for (int64_t oy = 0; oy < hout; oy++) {
      /* Window [floor(i*in/out), ceil((i+1)*in/out)) in exact integer arithmetic. */
      int64_t y0 = oy * hin / hout, y1 = ((oy + 1) * hin + hout - 1) / hout;
      const float *xc = x + c * hin * win;
      for (int64_t ox = 0; ox < wout; ox++) {
        int64_t x0 = ox * win / wout, x1 = ((ox + 1) * win + wout - 1) / wout;
        float sum = 0.0f;
        for (int64_t r = y0; r < y1; r++)
          for (int64_t q = x0; q < x1; q++)
            sum += xc[r * win + q];
        y[(c * hout + oy) * wout + ox] = sum / (float)(y1 - y0) / (float)(x1 - x0);
      }
    }
  return HART_OK;
}

hart_status cpu_clamp(hart_backend *be, float *y, const float *x, int64_t n, float lo, float hi)
{
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
  return HART_OK;
}
