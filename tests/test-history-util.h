/* test-history-util.h: helpers for the history store tests: temp folders, images, and
 * synchronous wrappers that run the main loop until an async call completes. */
#pragma once

#include "hs-history.h"

/* A new empty folder under the system temp dir (g_free); th_rm_rf removes it again. */
char *th_tmpdir(void);
void th_rm_rf(const char *path);

/* A deterministic RGB8 test pattern for a seed (g_free). */
guint8 *th_pattern(int width, int height, guint64 seed);
/* Decodes a PNG fully with libpng (RGB8; g_free) or returns NULL. */
guint8 *th_png_pixels(const char *path, int *width, int *height);
/* The bytes of a file (g_bytes_unref), or NULL. */
GBytes *th_file_bytes(const char *path);
guint th_count_files(const char *dir, const char *prefix);

HsGenParams *th_params(const char *prompt, guint64 seed);

gboolean th_open(HsHistory *h, GError **error);
HsHistoryItem *th_add(HsHistory *h, const char *prompt, guint64 seed, int width, int height,
                      GError **error);
GPtrArray *th_list(HsHistory *h, const char *query, gboolean favorites_only, GError **error);
GBytes *th_thumbnail(HsHistory *h, gint64 id, GError **error);
gboolean th_favorite(HsHistory *h, HsHistoryItem *item, gboolean favorite, GError **error);
gboolean th_delete(HsHistory *h, HsHistoryItem *item, GError **error);
gboolean th_undo(HsHistory *h, HsHistoryItem *item, GError **error);
gboolean th_purge(HsHistory *h, HsHistoryItem *item, GError **error);
HsHistoryReconcileReport *th_reconcile(HsHistory *h, GError **error);
HsHistoryItem *th_reindex(HsHistory *h, const char *path, GError **error);

/* Iterates the default main context until *done or a 10 s timeout (fails the test). */
void th_wait_for(gboolean *done);
