/* hs-gallery-view-private.h: shared between the gallery's source files. */
#pragma once

#include "hs-gallery-view.h"

G_BEGIN_DECLS

struct _HsGalleryView {
  GtkWidget parent_instance;

  HsHistory *history;
  HsHistoryModel *model;
  GtkSingleSelection *selection;
  GHashTable *thumbnails; /* item id (gint64*) -> GdkTexture */
  GCancellable *detail_load;
  GCancellable *cancellable; /* everything else, cancelled in dispose */

  /* template children */
  AdwToastOverlay *toast_overlay;
  GtkStack *pages;
  GtkToggleButton *search_button;
  GtkToggleButton *favorites_button;
  GtkLabel *count_label;
  GtkSearchBar *search_bar;
  GtkSearchEntry *search_entry;
  GtkStack *browse_stack;
  GtkGridView *grid_view;
  GtkPicture *detail_picture;
  GtkLabel *detail_prompt;
  GtkListBox *detail_list;
  GtkButton *detail_favorite;
  AdwToast *last_toast; /* weak: for the tests */
};

/* hs-gallery-cell.c: the factory of the grid's cells (thumbnail, favorite star). */
GtkListItemFactory *hs_gallery_cell_factory_new(HsGalleryView *self);
/* The cached thumbnail of an item, or NULL; loads it and calls back when missing. */
GdkTexture *hs_gallery_view_lookup_thumbnail(HsGalleryView *self, gint64 id);
void hs_gallery_view_store_thumbnail(HsGalleryView *self, gint64 id, GdkTexture *texture);

/* hs-gallery-detail.c: the detail page. */
void hs_gallery_detail_show(HsGalleryView *self, HsHistoryItem *item);
void hs_gallery_detail_clear(HsGalleryView *self);

G_END_DECLS
