/* hs-history.h: the history store. Every finished image is kept as a PNG file plus a row in
 * SQLite ($XDG_DATA_HOME/hart-studio/history.db, the PNGs beside it in images/).
 *
 * All database and file work runs on one worker thread that owns the sqlite3 connection; the
 * async functions return through GTask in the caller's thread-default main context. Signals are
 * emitted there too, after the database has committed the change.
 *
 * Crash safety: a PNG is written to a temp file in images/, fsynced, renamed into place and the
 * folder fsynced before its row is committed (synchronous=FULL), so a row never points at a
 * half-written file. hs_history_reconcile_async() cleans up after a crash.
 *
 * Damaged or newer databases are never destroyed: a damaged one is moved aside and a new one
 * started; a newer one is opened read-only. hs_history_get_notice() says what happened. */
#pragma once

#include <gio/gio.h>

#include "hs-history-item.h"
#include "hs-png-meta.h"

G_BEGIN_DECLS

#define HS_HISTORY_ERROR (hs_history_error_quark())
GQuark hs_history_error_quark(void);

typedef enum {
  HS_HISTORY_ERROR_IO,        /* a file or folder could not be written (permissions, disk full) */
  HS_HISTORY_ERROR_DATABASE,  /* SQLite failed; the message holds sqlite3_errmsg() */
  HS_HISTORY_ERROR_READ_ONLY, /* the history is open read-only (newer version, read-only disk) */
  HS_HISTORY_ERROR_NOT_FOUND, /* no such item (deleted meanwhile) */
  HS_HISTORY_ERROR_INVALID,   /* bad argument: an image of the wrong size, a file outside images/ */
} HsHistoryError;

/* What hs_history_reconcile_async() found and did. */
typedef struct {
  guint temp_files_removed; /* leftovers of writes interrupted by a crash */
  guint rows_missing;       /* rows whose file is gone (now flagged `missing`) */
  guint rows_found_again;   /* rows flagged missing whose file is back */
  guint hidden_purged;      /* deletes that were pending when the app stopped */
  GStrv orphan_pngs;        /* PNGs in images/ without a row: offer hs_history_reindex_async() */
} HsHistoryReconcileReport;

void hs_history_reconcile_report_free(HsHistoryReconcileReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsHistoryReconcileReport, hs_history_reconcile_report_free)

#define HS_TYPE_HISTORY (hs_history_get_type())
G_DECLARE_FINAL_TYPE(HsHistory, hs_history, HS, HISTORY, GObject)

/* g_get_user_data_dir()/hart-studio (newly allocated). */
char *hs_history_default_dir(void);

/* A store in `dir` (created when needed; NULL = the default). Nothing is opened yet: the worker
 * opens the database with the first request; hs_history_open_async() reports how that went. */
HsHistory *hs_history_new(const char *dir);

const char *hs_history_get_dir(HsHistory *self);
/* Valid after the open completed (any request completes it). */
gboolean hs_history_get_read_only(HsHistory *self);
/* A sentence for the user when the database was moved aside or is read-only, else NULL. */
const char *hs_history_get_notice(HsHistory *self);

void hs_history_open_async(HsHistory *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean hs_history_open_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* Saves rgb (width * height * 3 bytes) as a PNG with params embedded, then adds its row. params
 * is copied; its created_us is set when 0. Emits ::item-added. */
void hs_history_add_async(HsHistory *self, const HsGenParams *params, GBytes *rgb, int width,
                          int height, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
HsHistoryItem *hs_history_add_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* Items newest first. query: words to find in the prompt (FTS5, prefix match on each word, all
 * words required), NULL or "" for all. limit 0 = no limit. Returns a GPtrArray of
 * HsHistoryItem. */
void hs_history_list_async(HsHistory *self, const char *query, gboolean favorites_only,
                           guint offset, guint limit, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *hs_history_list_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* The thumbnail PNG of an item (at most 256 pixels a side). */
void hs_history_thumbnail_async(HsHistory *self, gint64 id, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
GBytes *hs_history_thumbnail_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* Sets the item's favorite flag in the database, then on `item` (notify::favorite). */
void hs_history_set_favorite_async(HsHistory *self, HsHistoryItem *item, gboolean favorite,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean hs_history_set_favorite_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* Delete, in two phases so the UI can offer undo: delete hides the row (::item-removed);
 * undo_delete shows it again (::item-restored); purge removes the PNG file and then the row.
 * A hidden row left by a crash is purged by the next reconcile. */
void hs_history_delete_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
gboolean hs_history_delete_finish(HsHistory *self, GAsyncResult *result, GError **error);
void hs_history_undo_delete_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean hs_history_undo_delete_finish(HsHistory *self, GAsyncResult *result, GError **error);
void hs_history_purge_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean hs_history_purge_finish(HsHistory *self, GAsyncResult *result, GError **error);

/* See HsHistoryReconcileReport. Read-only: only reports. */
void hs_history_reconcile_async(HsHistory *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
HsHistoryReconcileReport *hs_history_reconcile_finish(HsHistory *self, GAsyncResult *result,
                                                      GError **error);

/* Adds a row for a PNG already in images/ (an orphan from reconcile), from its embedded settings.
 * Emits ::item-added. */
void hs_history_reindex_async(HsHistory *self, const char *path, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
HsHistoryItem *hs_history_reindex_finish(HsHistory *self, GAsyncResult *result, GError **error);

G_END_DECLS
