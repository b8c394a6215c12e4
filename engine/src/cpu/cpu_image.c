/* cpu_image.c: convolution, upsampling, bicubic/area resizing and GroupNorm on NCHW tensors. */
#include "cpu_ops.h"

hart_status cpu_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                          const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups,
                          float eps, int silu)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu groupnorm: not implemented yet");
}

hart_status cpu_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                       const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W,
                       int64_t Cout, int k)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu conv2d: not implemented yet");
}

hart_status cpu_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                           int64_t W)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu upsample2x: not implemented yet");
}

hart_status cpu_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC,
                               int64_t hin, int64_t win, int64_t hout, int64_t wout)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu resize_bicubic: not implemented yet");
}

hart_status cpu_resize_area(hart_backend *be, float *y, const float *x, int64_t NC, int64_t hin,
                            int64_t win, int64_t hout, int64_t wout)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu resize_area: not implemented yet");
}
