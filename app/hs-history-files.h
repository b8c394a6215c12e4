/* hs-history-files.h: the file side of the history store (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Temp files in images/ start with this; reconcile removes them. */
#define HS_HISTORY_TEMP_PREFIX ".tmp-"
#define HS_HISTORY_THUMB_SIDE 256

/* Writes data to dir/name crash-safely: temp file in dir, write, fsync, rename, fsync dir. On
 * failure nothing is left behind and error names the file and the reason (ENOSPC, EACCES...). */
gboolean hs_history_write_atomic(const char *dir, const char *name, GBytes *data, GError **error);

/* fsync() of a folder, so a rename or unlink in it is durable. */
gboolean hs_history_sync_dir(const char *dir, GError **error);

/* Removes the temp files in dir; returns how many. */
guint hs_history_remove_temp_files(const char *dir);

/* Decodes a whole PNG (RGB8) with libpng; refuses images over max_pixels. */
guint8 *hs_history_png_decode(const char *path, guint max_pixels, int *width, int *height,
                              GError **error);

/* A box-filtered copy of rgb fitting in side x side, as PNG bytes. */
GBytes *hs_history_make_thumbnail(const guint8 *rgb, int width, int height, int side,
                                  GError **error);

G_END_DECLS
