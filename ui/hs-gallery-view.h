/* hs-gallery-view.h: the history gallery, a self-contained widget for the main window.
 *
 * A GtkGridView of thumbnails (loaded lazily, newest first) over an HsHistoryModel, a search bar
 * (Ctrl+F, FTS5 on the prompts), a favorites filter, a detail page with the full image and every
 * setting, and the actions: reuse prompt / seed / all settings (the "reuse" signal), copy prompt,
 * save a copy, delete with an undo toast, favorite. Dropping a PNG on it restores the settings
 * written in the file (Hart Studio's JSON or A1111 "parameters").
 *
 * Actions (group "gallery", usable from menus and buttons inside the widget): search, back,
 * open, reuse-prompt, reuse-seed, reuse-all, copy-prompt, save-copy, delete, toggle-favorite. */
#pragma once

#include <adwaita.h>

#include "hs-history-model.h"

G_BEGIN_DECLS

typedef enum {
  HS_GALLERY_REUSE_PROMPT = 1 << 0,
  HS_GALLERY_REUSE_SEED = 1 << 1,
  HS_GALLERY_REUSE_ALL = 0xff, /* prompt, seed, cfg, smooth, system prompt */
} HsGalleryReuse;

#define HS_TYPE_GALLERY_VIEW (hs_gallery_view_get_type())
G_DECLARE_FINAL_TYPE(HsGalleryView, hs_gallery_view, HS, GALLERY_VIEW, GtkWidget)

HsGalleryView *hs_gallery_view_new(HsHistory *history);

HsHistory *hs_gallery_view_get_history(HsGalleryView *self);
HsHistoryModel *hs_gallery_view_get_model(HsGalleryView *self);
/* The item selected in the grid (or shown in the detail page), or NULL. */
HsHistoryItem *hs_gallery_view_get_selected(HsGalleryView *self);
void hs_gallery_view_select(HsGalleryView *self, guint position);
/* Opens the search bar and focuses the entry (the window may bind its own Ctrl+F to this). */
void hs_gallery_view_start_search(HsGalleryView *self);
/* Shows a toast: in the nearest toast overlay around the gallery (the window's), else in the
 * gallery's own. */
void hs_gallery_view_add_toast(HsGalleryView *self, AdwToast *toast);
/* Reads the settings of a PNG (off the main thread) and emits ::reuse with
 * HS_GALLERY_REUSE_ALL, or shows why it could not. The window's own drop target can call this. */
void hs_gallery_view_restore_from_file(HsGalleryView *self, GFile *file);

G_END_DECLS
