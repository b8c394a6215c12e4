/* hs-history-db.h: the synchronous history store (internal). One HsHistoryDb belongs to one
 * thread: HsHistory's worker in the app, the test or the crash writer directly. */
#pragma once

#include "hs-history.h"

G_BEGIN_DECLS

typedef struct _HsHistoryDb HsHistoryDb;

/* Opens (creating when needed) dir/history.db and dir/images/. A damaged database is moved aside
 * and a fresh one started; a newer one is opened read-only; either way *notice gets a sentence
 * for the user (g_free). Fails only when no database can be opened at all. */
HsHistoryDb *hs_history_db_open(const char *dir, char **notice, GError **error);
void hs_history_db_close(HsHistoryDb *db);

gboolean hs_history_db_is_read_only(HsHistoryDb *db);
const char *hs_history_db_images_dir(HsHistoryDb *db);

HsHistoryItem *hs_history_db_add(HsHistoryDb *db, const HsGenParams *params, const guint8 *rgb,
                                 int width, int height, GError **error);
GPtrArray *hs_history_db_list(HsHistoryDb *db, const char *query, gboolean favorites_only,
                              guint offset, guint limit, GError **error);
GBytes *hs_history_db_thumbnail(HsHistoryDb *db, gint64 id, GError **error);
gboolean hs_history_db_set_favorite(HsHistoryDb *db, gint64 id, gboolean favorite, GError **error);
gboolean hs_history_db_set_hidden(HsHistoryDb *db, gint64 id, gboolean hidden, GError **error);
gboolean hs_history_db_purge(HsHistoryDb *db, gint64 id, GError **error);
HsHistoryReconcileReport *hs_history_db_reconcile(HsHistoryDb *db, GError **error);
HsHistoryItem *hs_history_db_reindex(HsHistoryDb *db, const char *path, GError **error);

/* FTS5 query text for user words: each word quoted, prefix-matched, all required. NULL when the
 * words contain nothing searchable. */
char *hs_history_fts_query(const char *words);

G_END_DECLS
