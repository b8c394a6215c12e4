/* image.h: turning decoder output into bytes, PNG files, and cheap previews. */
#ifndef HART_IMAGE_H
#define HART_IMAGE_H

#include <stdint.h>

#include "error.h"

/* img [3, H, W] in [-1, 1] (host, fp32) -> rgb [H, W, 3]: u8 = trunc(((clamp(y)+1)*0.5)*255),
 * truncation as the reference does. */
void hart_image_to_rgb8(const float *img, int H, int W, uint8_t *rgb);

/* Writes an RGB8 PNG atomically (temp file + fsync + rename). text: NULL-terminated key/value
 * pairs for tEXt/iTXt chunks (may be NULL). */
hart_status hart_png_write(const char *path, const uint8_t *rgb, int width, int height,
                           const char *const *text, hart_error *err);

#endif
