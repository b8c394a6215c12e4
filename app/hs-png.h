/* hs-png.h: PNG files with text metadata (libpng). */
#pragma once

#include <glib.h>

#include "hs-image.h"

G_BEGIN_DECLS

/* One text chunk. ASCII text goes into tEXt (what A1111 readers expect); other text into an
 * uncompressed iTXt chunk, which carries UTF-8. */
typedef struct {
  const char *key;
  const char *text;
} HsPngText;

/* Encodes image as an 8-bit RGB PNG with the given text chunks (n_texts may be 0). */
GBytes *hs_png_encode(const HsImage *image, const HsPngText *texts, gsize n_texts, GError **error);
/* Encodes and writes atomically (a temporary file renamed over path). */
gboolean hs_png_save(const char *path, const HsImage *image, const HsPngText *texts, gsize n_texts,
                     GError **error);

/* Reads a PNG: the image (optional) and every tEXt/zTXt/iTXt chunk as key -> UTF-8 text. */
GHashTable *hs_png_load(const char *path, HsImage **image, GError **error);

G_END_DECLS
