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

/* The scratch bound; HART_CONV_SCRATCH_BYTES in the environment overrides it (tests use a tiny
 * value to exercise many bands on small images). */
static size_t conv_scratch_bytes(void)
{
  const char *e = getenv("HART_CONV_SCRATCH_BYTES");
  long long v = e ? atoll(e) : 0;
  return v > 0 ? (size_t)v : CONV_SCRATCH_BYTES;
}

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

/* ---- 3x3 convolution by Winograd F(2x2, 3x3) ----
 * Y = A^T [ (G g G^T) . (B^T d B) ] A over 4x4 input tiles with stride 2: the 16 element-wise
 * products become 16 GEMMs [Cout, Cin] x [Cin, tiles], 2.25x fewer multiply-adds than im2col.
 * Rounding: the transforms add a few fp32 operations per value (relative error ~1e-6, far below
 * the 1e-4 parity tolerance). Tiles are processed in bands of tile rows so the transformed input
 * and output stay under CONV_SCRATCH_BYTES together. */

/* U[k][co][ci] = (G g G^T)[k] for every 3x3 kernel g = w[co][ci]. */
static void wino_weights(float *U, const float *w, int64_t Cout, int64_t Cin)
{
  int64_t plane = Cout * Cin;
#pragma omp parallel for
  for (int64_t i = 0; i < plane; i++) {
    const float *g = w + i * 9;
    float t[4][3], u[4][4];
    for (int c = 0; c < 3; c++) {
      t[0][c] = g[c];
      t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
      t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
      t[3][c] = g[6 + c];
    }
    for (int r = 0; r < 4; r++) {
      u[r][0] = t[r][0];
      u[r][1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
      u[r][2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
      u[r][3] = t[r][2];
    }
    for (int k = 0; k < 16; k++)
      U[k * plane + i] = u[k / 4][k % 4];
  }
}

/* Tiles are transformed in groups of WINO_CHUNK along a row so the row-wise arithmetic runs on
 * short contiguous arrays the compiler vectorises. */
#define WINO_CHUNK 64

/* V[k][ci][t] = (B^T d B)[k] for the tiles of tile rows ty0 .. ty0+nty-1 (t = (ty-ty0)*TW+tx).
 * Tile (ty, tx) reads input rows 2ty-1 .. 2ty+2 and columns 2tx-1 .. 2tx+2 (zero outside). */
static void wino_input(float *V, const float *x, int64_t Cin, int64_t H, int64_t W, int64_t TW,
                       int64_t ty0, int64_t nty)
{
  int64_t T = nty * TW, plane = Cin * T;
#pragma omp parallel for collapse(2)
  for (int64_t ci = 0; ci < Cin; ci++)
    for (int64_t ty = 0; ty < nty; ty++) {
      const float *xc = x + ci * H * W;
      float *vb = V + ci * T + ty * TW;
      for (int64_t tx0 = 0; tx0 < TW; tx0 += WINO_CHUNK) {
        int64_t nt = TW - tx0 < WINO_CHUNK ? TW - tx0 : WINO_CHUNK, span = 2 * nt + 2;
        float d[4][2 * WINO_CHUNK + 2], rw[4][2 * WINO_CHUNK + 2];
        /* The 4 input rows of this group, columns 2*tx0-1 .. 2*(tx0+nt), zero padded. */
        for (int r = 0; r < 4; r++) {
          int64_t rr = 2 * (ty0 + ty) - 1 + r;
          for (int64_t j = 0; j < span; j++) {
            int64_t cc = 2 * tx0 - 1 + j;
            d[r][j] = rr >= 0 && rr < H && cc >= 0 && cc < W ? xc[rr * W + cc] : 0.0f;
          }
        }
        /* B^T d: combinations of rows. */
#pragma omp simd
        for (int64_t j = 0; j < span; j++) {
          rw[0][j] = d[0][j] - d[2][j];
          rw[1][j] = d[1][j] + d[2][j];
          rw[2][j] = d[2][j] - d[1][j];
          rw[3][j] = d[1][j] - d[3][j];
        }
        /* (B^T d) B: combinations of columns within each tile. */
        for (int r = 0; r < 4; r++) {
          float *v0 = vb + (4 * r) * plane + tx0, *v1 = v0 + plane, *v2 = v1 + plane,
                *v3 = v2 + plane;
          const float *q = rw[r];
#pragma omp simd
          for (int64_t t = 0; t < nt; t++) {
            v0[t] = q[2 * t] - q[2 * t + 2];
            v1[t] = q[2 * t + 1] + q[2 * t + 2];
            v2[t] = q[2 * t + 2] - q[2 * t + 1];
            v3[t] = q[2 * t + 1] - q[2 * t + 3];
          }
        }
      }
    }
}

/* y[co][2ty+i][2tx+j] = bias + (A^T m A)[i][j], m[k] = M[k][co][t]. */
static void wino_output(float *y, const float *M, const hart_bw *b, int64_t Cout, int64_t H,
                        int64_t W, int64_t TW, int64_t ty0, int64_t nty)
{
  int64_t T = nty * TW, plane = Cout * T;
#pragma omp parallel for collapse(2)
  for (int64_t co = 0; co < Cout; co++)
    for (int64_t ty = 0; ty < nty; ty++) {
      float bv = b ? b->data[co] : 0.0f;
      float *yc = y + co * H * W;
      const float *mb = M + co * T + ty * TW;
      int64_t oy = 2 * (ty0 + ty);
      for (int64_t tx0 = 0; tx0 < TW; tx0 += WINO_CHUNK) {
        int64_t nt = TW - tx0 < WINO_CHUNK ? TW - tx0 : WINO_CHUNK;
        float t[2][4][WINO_CHUNK], out[2][2 * WINO_CHUNK];
        /* A^T m: combinations of the 4 rows of each tile, for each of its 4 columns. */
        for (int c = 0; c < 4; c++) {
          const float *m0 = mb + c * plane + tx0, *m1 = m0 + 4 * plane, *m2 = m1 + 4 * plane,
                      *m3 = m2 + 4 * plane;
#pragma omp simd
          for (int64_t i = 0; i < nt; i++) {
            t[0][c][i] = m0[i] + m1[i] + m2[i];
            t[1][c][i] = m1[i] - m2[i] - m3[i];
          }
        }
        /* (A^T m) A: the two output columns of each tile. */
        for (int r = 0; r < 2; r++) {
#pragma omp simd
          for (int64_t i = 0; i < nt; i++) {
            out[r][2 * i] = bv + (t[r][0][i] + t[r][1][i] + t[r][2][i]);
            out[r][2 * i + 1] = bv + (t[r][1][i] - t[r][2][i] - t[r][3][i]);
          }
        }
        for (int r = 0; r < 2 && oy + r < H; r++) {
          int64_t ox = 2 * tx0, n_out = 2 * nt;
          if (ox + n_out > W)
            n_out = W - ox;
          memcpy(yc + (oy + r) * W + ox, out[r], (size_t)n_out * sizeof(float));
        }
      }
    }
}

static hart_status conv3x3_winograd(hart_backend *be, float *y, const float *x, const hart_bw *w,
                                    const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W,
                                    int64_t Cout)
{
  int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, band;
  size_t per_row = (size_t)16 * (size_t)(Cin + Cout) * (size_t)TW * sizeof(float);
  float *U, *V, *M;

  band = (int64_t)(conv_scratch_bytes() / per_row);
  if (band < 1)
    band = 1;
  if (band > TH)
    band = TH;
  U = malloc((size_t)16 * (size_t)(Cout * Cin) * sizeof(float));
  V = malloc((size_t)16 * (size_t)(Cin * band * TW) * sizeof(float));
  M = malloc((size_t)16 * (size_t)(Cout * band * TW) * sizeof(float));
  if (U == NULL || V == NULL || M == NULL) {
    free(U);
    free(V);
    free(M);
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "conv2d: out of memory for a Winograd band");
  }
  wino_weights(U, w->data, Cout, Cin);
  for (int64_t n = 0; n < N; n++)
    for (int64_t ty0 = 0; ty0 < TH; ty0 += band) {
      int64_t nty = TH - ty0 < band ? TH - ty0 : band, T = nty * TW;
      wino_input(V, x + n * Cin * H * W, Cin, H, W, TW, ty0, nty);
      for (int k = 0; k < 16; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Cout, (blasint)T,
                    (blasint)Cin, 1.0f, U + k * Cout * Cin, (blasint)Cin, V + k * Cin * T,
                    (blasint)T, 0.0f, M + k * Cout * T, (blasint)T);
      wino_output(y + n * Cout * H * W, M, b, Cout, H, W, TW, ty0, nty);
    }
  free(U);
  free(V);
  free(M);
  return HART_OK;
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
  if (k == 3 && getenv("HART_CONV_IM2COL") == NULL)
    return conv3x3_winograd(be, y, x, w, b, N, Cin, H, W, Cout);
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
  tile_rows = (int64_t)(conv_scratch_bytes() / ((size_t)Kdim * (size_t)W * sizeof(float)));
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
