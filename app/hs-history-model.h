/* hs-history-model.h: the history as a GListModel of HsHistoryItem, newest first, for the
 * gallery. It loads through HsHistory (off the main thread) and follows its signals, so new
 * images appear as they finish and deleted ones disappear at once. */
#pragma once

#include <gio/gio.h>

#include "hs-history.h"

G_BEGIN_DECLS

#define HS_TYPE_HISTORY_MODEL (hs_history_model_get_type())
G_DECLARE_FINAL_TYPE(HsHistoryModel, hs_history_model, HS, HISTORY_MODEL, GObject)

HsHistoryModel *hs_history_model_new(HsHistory *history);

HsHistory *hs_history_model_get_history(HsHistoryModel *self);
/* Words to search for in the prompts (FTS5); NULL or "" shows everything. Reloads. */
void hs_history_model_set_query(HsHistoryModel *self, const char *query);
const char *hs_history_model_get_query(HsHistoryModel *self);
void hs_history_model_set_favorites_only(HsHistoryModel *self, gboolean favorites_only);
gboolean hs_history_model_get_favorites_only(HsHistoryModel *self);
/* Reloads from the database; the "loading" property is TRUE meanwhile. */
void hs_history_model_reload(HsHistoryModel *self);
gboolean hs_history_model_get_loading(HsHistoryModel *self);

G_END_DECLS
