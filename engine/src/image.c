/* image.c: decoder output to bytes, PNG writing. */
#include "image.h"

void hart_image_to_rgb8(const float *img, int H, int W, uint8_t *rgb)
{
}

hart_status hart_png_write(const char *path, const uint8_t *rgb, int width, int height,
                           const char *const *text, hart_error *err)
{
  return hart_fail(err, HART_ERR_UNSUPPORTED, "PNG writing: not implemented yet");
}
