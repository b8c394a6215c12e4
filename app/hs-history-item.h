/* hs-history-item.h: one image of the history, as the gallery sees it. */
#pragma once

#include "hs-png-meta.h"

G_BEGIN_DECLS

#define HS_TYPE_HISTORY_ITEM (hs_history_item_get_type())
G_DECLARE_FINAL_TYPE(HsHistoryItem, hs_history_item, HS, HISTORY_ITEM, GObject)

/* Takes ownership of params. image_path is absolute. */
HsHistoryItem *hs_history_item_new(gint64 id, HsGenParams *params, const char *image_path,
                                   gboolean favorite, gboolean missing);

gint64 hs_history_item_get_id(HsHistoryItem *self);
/* The settings (prompt, seed, model, timings, created time...); owned by the item. */
const HsGenParams *hs_history_item_get_params(HsHistoryItem *self);
const char *hs_history_item_get_prompt(HsHistoryItem *self);
guint64 hs_history_item_get_seed(HsHistoryItem *self);
gint64 hs_history_item_get_created_us(HsHistoryItem *self);
const char *hs_history_item_get_image_path(HsHistoryItem *self);
gboolean hs_history_item_get_favorite(HsHistoryItem *self);
/* TRUE when the image file was gone at the last reconcile. */
gboolean hs_history_item_get_missing(HsHistoryItem *self);

/* Used by HsHistory on the main thread once the database agrees (emits notify). */
void hs_history_item_set_favorite(HsHistoryItem *self, gboolean favorite);
void hs_history_item_set_missing(HsHistoryItem *self, gboolean missing);

G_END_DECLS
