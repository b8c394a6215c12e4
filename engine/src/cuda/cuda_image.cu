/* cuda_image.cu: image ops (NCHW): conv2d as im2col (fp16 columns, tiled over output rows so the
 * scratch stays bounded) + cuBLAS GEMM with fp32 accumulation; GroupNorm (+SiLU) in three small
 * passes; nearest x2, bicubic and area resampling with PyTorch's exact index/weight rules; and the
 * DDPM step with Philox normals (hart_philox_normal, shared with the CPU backend). */
#include "cuda_common.h"

#include <math.h>

extern "C" {
#include "../philox.h"
}

#define GRID_STRIDE(i, n)                                                                          \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t)gridDim.x * blockDim.x)

/* Bytes of fp16 im2col columns per chunk: bounds conv scratch at 1024x1024x160 (3 GB unchunked). */
#define CONV_COL_BUDGET ((size_t)64 << 20)

/* ---- conv2d ---- */

/* Per-plane kernels (im2col, bias, GroupNorm's apply, nearest x2) take the plane from blockIdx.y
 * and stride over its elements with 32-bit indices, so no element pays for a 64-bit division
 * (those made the decoder's element-wise passes several times slower than their memory traffic).
 * Their callers launch the planes in chunks of CU_MAX_GRID_Y, passing each chunk's first plane;
 * up to 1024 x 256 threads per plane, the rest by striding. */
static dim3 plane_grid(int64_t per_plane, int64_t planes)
{
  return cu_plane_grid(per_plane, planes, 1024);
}

/* One thread per (input channel = plane, output pixel of the chunk): its k*k column entries, row
 * ci*k*k + ky*k + kx of col [Kd, P], consecutive pixels in consecutive threads (coalesced). */
static __global__ void k_im2col(__half *col, const float *x, int64_t c0, int H, int W, int k,
                                int y0, int P)
{
  int pad = k / 2;
  int64_t ci = c0 + blockIdx.y;
  const float *xc = x + ci * H * W;
  __half *dst = col + ci * k * k * P;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < P; p += gridDim.x * blockDim.x) {
    int oy = y0 + p / W, ox = p - (p / W) * W;
    for (int ky = 0; ky < k; ky++) {
      int yy = oy + ky - pad;
      bool row_in = yy >= 0 && yy < H;
      for (int kx = 0; kx < k; kx++) {
        int xx = ox + kx - pad;
        float v = row_in && xx >= 0 && xx < W ? __ldg(xc + (int64_t)yy * W + xx) : 0.0f;
        dst[(int64_t)(ky * k + kx) * P + p] = __float2half_rn(v);
      }
    }
  }
}

/* y[plane, :] = b[plane % C] for planes p0 .. (one plane = one image channel of HW values). */
static __global__ void k_bias_planes(float *y, const float *b, int64_t p0, int64_t C, int HW)
{
  int64_t plane = p0 + blockIdx.y;
  float v = b[plane % C];
  float *yp = y + plane * HW;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < HW; i += gridDim.x * blockDim.x)
    yp[i] = v;
}

hart_status cu_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                      const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                      int k)
{
  cu_priv *p = cu_p(be);
  int64_t Kd = Cin * k * k, HW = H * W, rows;
  size_t row_bytes;
  __half *col;
  float beta = 0.0f, alpha = 1.0f;

  if (N == 0 || Cout == 0 || HW == 0)
    return HART_OK;
  if (k < 1 || k % 2 == 0 || w->numel != Cout * Kd)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA conv2d: kernel %d with %lld weights for %lldx%lldx%dx%d", k,
                     (long long)w->numel, (long long)Cout, (long long)Cin, k, k);
  if (w->aux == NULL)
    return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA conv2d: weight not uploaded as CONV");
  /* Half of INT32_MAX: the per-plane kernels' 32-bit loop indices must not overflow when they
   * step past the end. */
  if (HW > INT32_MAX / 2 || Kd > INT32_MAX || Cout > INT32_MAX)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA conv2d: shape too large");
  if (b != NULL) {
    if (b->data == NULL)
      return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA conv2d: bias not a vector");
    for (int64_t p0 = 0; p0 < N * Cout; p0 += CU_MAX_GRID_Y) {
      k_bias_planes<<<plane_grid(HW, N * Cout - p0), CU_PLANE_THREADS, 0, p->stream>>>(
          y, b->data, p0, Cout, (int)HW);
      CU_LAUNCHED(be, "k_bias_planes");
    }
    beta = 1.0f;
  }
  row_bytes = (size_t)Kd * (size_t)W * sizeof(__half);
  rows = (int64_t)(CONV_COL_BUDGET / row_bytes);
  if (rows < 1)
    rows = 1;
  if (rows > H)
    rows = H;
  /* half_a, the GEMM activations' buffer: no other fp16 operand is live during a convolution,
   * and sharing it keeps the decoder's 64 MB tiles from adding a buffer of their own. */
  col = (__half *)cu_scratch_get(be, &p->half_a, row_bytes * (size_t)rows);
  if (col == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  for (int64_t n = 0; n < N; n++) {
    for (int64_t y0 = 0; y0 < H; y0 += rows) {
      int64_t nr = H - y0 < rows ? H - y0 : rows, P = nr * W;
      for (int64_t c0 = 0; c0 < Cin; c0 += CU_MAX_GRID_Y) {
        k_im2col<<<plane_grid(P, Cin - c0), CU_PLANE_THREADS, 0, p->stream>>>(
            col, x + n * Cin * HW, c0, (int)H, (int)W, k, (int)y0, (int)P);
        CU_LAUNCHED(be, "k_im2col");
      }
      /* Column-major: Y[P, Cout] (ld HW) = col[P, Kd] (ld P) . W^T[Kd, Cout] (ld Kd). */
      CUBLAS_CHECK(be, cublasGemmEx(p->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)P, (int)Cout, (int)Kd,
                                    &alpha, col, CUDA_R_16F, (int)P, w->aux, CUDA_R_16F, (int)Kd,
                                    &beta, y + n * Cout * HW + y0 * W, CUDA_R_32F, (int)HW,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
  return HART_OK;
}

/* ---- GroupNorm ---- */

static __global__ void k_gn_partial(double *part, const float *x, int64_t E, int S)
{
  __shared__ double sh_s[32], sh_q[32];
  int64_t grp = blockIdx.x, chunk = (E + S - 1) / S;
  int64_t a = blockIdx.y * chunk, e = a + chunk < E ? a + chunk : E;
  const float *xg = x + grp * E;
  double s = 0.0, q = 0.0;
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  for (int64_t i = a + threadIdx.x; i < e; i += blockDim.x) {
    double v = xg[i];
    s += v;
    q += v * v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    s += __shfl_xor_sync(0xffffffffu, s, o);
    q += __shfl_xor_sync(0xffffffffu, q, o);
  }
  if (lane == 0) {
    sh_s[wid] = s;
    sh_q[wid] = q;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < (int)(blockDim.x >> 5); i++) {
      s += sh_s[i];
      q += sh_q[i];
    }
    part[(grp * S + blockIdx.y) * 2] = s;
    part[(grp * S + blockIdx.y) * 2 + 1] = q;
  }
}

static __global__ void k_gn_stats(float *stats, const double *part, int64_t NG, int S, int64_t E,
                                  float eps)
{
  GRID_STRIDE(g, NG)
  {
    double s = 0.0, q = 0.0, mean, var;
    for (int i = 0; i < S; i++) {
      s += part[(g * S + i) * 2];
      q += part[(g * S + i) * 2 + 1];
    }
    mean = s / (double)E;
    var = q / (double)E - mean * mean;
    if (var < 0.0)
      var = 0.0;
    stats[g * 2] = (float)mean;
    stats[g * 2 + 1] = (float)(1.0 / sqrt(var + (double)eps));
  }
}

/* One block row per (n, c) plane: its group's mean and 1/std, then (x - mean) * rstd * w + b
 * (+ SiLU) over the plane, in the CPU's order of operations. */
static __global__ void k_gn_apply(float *y, const float *x, const float *stats, const float *w,
                                  const float *b, int64_t p0, int64_t C, int HW, int64_t cpg,
                                  int silu)
{
  int64_t plane = p0 + blockIdx.y, n = plane / C, c = plane - n * C;
  int64_t g = n * (C / cpg) + c / cpg;
  float mean = stats[g * 2], rstd = stats[g * 2 + 1];
  const float *xp = x + plane * HW;
  float *yp = y + plane * HW;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < HW; i += gridDim.x * blockDim.x) {
    float v = (xp[i] - mean) * rstd;
    if (w)
      v *= w[c];
    if (b)
      v += b[c];
    if (silu)
      v = v / (1.0f + expf(-v));
    yp[i] = v;
  }
}

hart_status cu_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                         const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups, float eps,
                         int silu)
{
  cu_priv *p = cu_p(be);
  int64_t cpg, E, NG;
  int S;
  unsigned char *work;
  double *part;
  float *stats;

  if (N * C * HW == 0)
    return HART_OK;
  if (groups <= 0 || C % groups != 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "CUDA groupnorm: %lld channels in %d groups", (long long)C, groups);
  if ((w && w->data == NULL) || (b && b->data == NULL))
    return hart_fail(be->err, HART_ERR_INTERNAL, "CUDA groupnorm: weight not a vector");
  if (N > 65535 || HW > INT32_MAX / 2)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA groupnorm: shape too large");
  cpg = C / groups;
  E = cpg * HW;
  NG = N * groups;
  S = (int)((E + 16383) / 16384);
  if (S > 64)
    S = 64;
  if (S < 1)
    S = 1;
  work = (unsigned char *)cu_scratch_get(
      be, &p->work, (size_t)NG * S * 2 * sizeof(double) + 256 + (size_t)NG * 2 * sizeof(float));
  if (work == NULL)
    return be->err ? be->err->code : HART_ERR_DEVICE_MEMORY;
  part = (double *)work;
  stats = (float *)(work + (((size_t)NG * S * 2 * sizeof(double) + 255) & ~(size_t)255));
  if (NG > 0x7fffffff)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA groupnorm: too many groups");
  k_gn_partial<<<dim3((unsigned)NG, (unsigned)S), 256, 0, p->stream>>>(part, x, E, S);
  CU_LAUNCHED(be, "k_gn_partial");
  k_gn_stats<<<cu_blocks(NG, 128), 128, 0, p->stream>>>(stats, part, NG, S, E, eps);
  CU_LAUNCHED(be, "k_gn_stats");
  for (int64_t p0 = 0; p0 < N * C; p0 += CU_MAX_GRID_Y) {
    k_gn_apply<<<plane_grid(HW, N * C - p0), CU_PLANE_THREADS, 0, p->stream>>>(
        y, x, stats, w ? w->data : NULL, b ? b->data : NULL, p0, C, (int)HW, cpg, silu);
    CU_LAUNCHED(be, "k_gn_apply");
  }
  return HART_OK;
}

/* ---- resampling ---- */

/* Nearest x2, one block row per plane: output (oy, ox) reads input (oy/2, ox/2). */
static __global__ void k_upsample2x(float *y, const float *x, int64_t p0, int H, int W)
{
  int64_t plane = p0 + blockIdx.y;
  const float *xp = x + plane * H * W;
  float *yp = y + plane * 4 * H * W;
  int W2 = 2 * W, n = 4 * H * W;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    int oy = i / W2, ox = i - oy * W2;
    yp[i] = xp[(oy >> 1) * W + (ox >> 1)];
  }
}

hart_status cu_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                          int64_t W)
{
  if (NC * H * W == 0)
    return HART_OK;
  if (H * W > INT32_MAX / 8)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA upsample2x: plane too large");
  for (int64_t p0 = 0; p0 < NC; p0 += CU_MAX_GRID_Y) {
    k_upsample2x<<<plane_grid(4 * H * W, NC - p0), CU_PLANE_THREADS, 0, cu_p(be)->stream>>>(
        y, x, p0, (int)H, (int)W);
    CU_LAUNCHED(be, "k_upsample2x");
  }
  return HART_OK;
}

/* PyTorch's cubic convolution weights (A = -0.75) for the fraction t. */
static __device__ void cubic_w(float t, float w[4])
{
  const float A = -0.75f;
  float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
  w[0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
  w[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
  w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
  w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static __device__ __forceinline__ int64_t clampi(int64_t v, int64_t hi)
{
  return v < 0 ? 0 : (v > hi ? hi : v);
}

static __global__ void k_bicubic(float *y, const float *x, int64_t NC, int64_t hin, int64_t win,
                                 int64_t hout, int64_t wout, float sh, float sw)
{
  GRID_STRIDE(i, NC * hout * wout)
  {
    int64_t ox = i % wout, oy = (i / wout) % hout, nc = i / (hout * wout);
    /* No FMA contraction: the source coordinate must floor exactly as on the CPU. */
    float sy = __fsub_rn(__fmul_rn(sh, (float)oy + 0.5f), 0.5f);
    float sx = __fsub_rn(__fmul_rn(sw, (float)ox + 0.5f), 0.5f);
    float fy = floorf(sy), fx = floorf(sx);
    int64_t iy = (int64_t)fy, ix = (int64_t)fx;
    float wy[4], wx[4], out = 0.0f;
    const float *xp = x + nc * hin * win;
    cubic_w(sy - fy, wy);
    cubic_w(sx - fx, wx);
    for (int m = 0; m < 4; m++) {
      const float *row = xp + clampi(iy - 1 + m, hin - 1) * win;
      float r = __fmul_rn(row[clampi(ix - 1, win - 1)], wx[0]);
      r = __fadd_rn(r, __fmul_rn(row[clampi(ix, win - 1)], wx[1]));
      r = __fadd_rn(r, __fmul_rn(row[clampi(ix + 1, win - 1)], wx[2]));
      r = __fadd_rn(r, __fmul_rn(row[clampi(ix + 2, win - 1)], wx[3]));
      out = m == 0 ? __fmul_rn(r, wy[0]) : __fadd_rn(out, __fmul_rn(r, wy[m]));
    }
    y[i] = out;
  }
}

hart_status cu_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                              int64_t win, int64_t hout, int64_t wout)
{
  if (NC * hout * wout == 0)
    return HART_OK;
  if (hin <= 0 || win <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA resize_bicubic: empty input");
  k_bicubic<<<cu_blocks(NC * hout * wout, 256), 256, 0, cu_p(be)->stream>>>(
      y, x, NC, hin, win, hout, wout, (float)hin / (float)hout, (float)win / (float)wout);
  CU_LAUNCHED(be, "k_bicubic");
  return HART_OK;
}

static __global__ void k_area(float *y, const float *x, int64_t NC, int64_t hin, int64_t win,
                              int64_t hout, int64_t wout)
{
  GRID_STRIDE(i, NC * hout * wout)
  {
    int64_t ox = i % wout, oy = (i / wout) % hout, nc = i / (hout * wout);
    int64_t y0 = oy * hin / hout, y1 = ((oy + 1) * hin + hout - 1) / hout;
    int64_t x0 = ox * win / wout, x1 = ((ox + 1) * win + wout - 1) / wout;
    const float *xp = x + nc * hin * win;
    float s = 0.0f;
    for (int64_t yy = y0; yy < y1; yy++)
      for (int64_t xx = x0; xx < x1; xx++)
        s = __fadd_rn(s, xp[yy * win + xx]);
    y[i] = __fdiv_rn(__fdiv_rn(s, (float)(y1 - y0)), (float)(x1 - x0));
  }
}

hart_status cu_resize_area(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                           int64_t win, int64_t hout, int64_t wout)
{
  if (NC * hout * wout == 0)
    return HART_OK;
  if (hin <= 0 || win <= 0)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA resize_area: empty input");
  k_area<<<cu_blocks(NC * hout * wout, 256), 256, 0, cu_p(be)->stream>>>(y, x, NC, hin, win, hout,
                                                                         wout);
  CU_LAUNCHED(be, "k_area");
  return HART_OK;
}

/* ---- DDPM step ---- */

static __global__ void k_ddpm(hart_ddpm_args a)
{
  int64_t Cv = a.Cv;
  GRID_STRIDE(i, a.N * Cv)
  {
    int64_t r = i / Cv, c = i % Cv;
    const float *oc = a.out + r * 2 * Cv, *ou = a.out + (a.N + r) * 2 * Cv;
    float eps = (1.0f + a.cfg) * oc[c] - a.cfg * ou[c];
    float v = oc[Cv + c], x = a.x[i];
    float x0 = fminf(fmaxf(a.A * x - a.Bm * eps, -1.0f), 1.0f);
    float mean = a.P1 * x0 + a.P2 * x;
    float f = (v + 1.0f) / 2.0f;
    float logv = f * a.LB + (1.0f - f) * a.LP;
    if (a.add_noise) {
      float z =
          a.noise ? a.noise[i] : hart_philox_normal(a.seed, a.stage, 2u + a.step, (uint64_t)i);
      mean += expf(0.5f * logv) * z;
    }
    a.x[i] = mean;
  }
}

hart_status cu_ddpm_step(hart_backend *be, const hart_ddpm_args *a)
{
  if (a->N * a->Cv == 0)
    return HART_OK;
  k_ddpm<<<cu_blocks(a->N * a->Cv, 256), 256, 0, cu_p(be)->stream>>>(*a);
  CU_LAUNCHED(be, "k_ddpm");
  return HART_OK;
}
