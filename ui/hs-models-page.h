/* hs-models-page.h: the Models page of Preferences (installed models with sizes and state,
 * Verify, Delete, Import Existing Folder…, and the download with its progress) and the first-run
 * view (an AdwStatusPage "Download HART" with the same download view and the import button).
 *
 * Embedding: the application owns one HsModelStore (hs_model_store_new(NULL)) for its lifetime;
 *   - Preferences: adw_preferences_window_add(win, ADW_PREFERENCES_PAGE(
 *       hs_models_page_new(store, hs_model_release_default(), NULL)));
 *   - first run (no ready model, hs_model_store_find_ready() FALSE): put
 *       hs_models_first_run_new(store, hs_model_release_default(), NULL) in the window's content
 *     and swap it for the canvas on HsModelsFirstRun::ready (its arguments: the HART and text
 *     model folders to open the engine with, also to be written to the model-dir and
 *     text-model-dir GSettings keys).
 * Closing a window never stops the download: the store owns it (it pauses when the application
 * quits and the store is finalized after hs_model_store_cancel_download()). */
#ifndef HS_MODELS_PAGE_H
#define HS_MODELS_PAGE_H

#include <adwaita.h>

#include "hs-model-store.h"

G_BEGIN_DECLS

#define HS_TYPE_MODELS_PAGE (hs_models_page_get_type())
G_DECLARE_FINAL_TYPE(HsModelsPage, hs_models_page, HS, MODELS_PAGE, AdwPreferencesPage)

GtkWidget *hs_models_page_new(HsModelStore *store, const HsModelRelease *release,
                              const char *base_url);
/* Re-reads the store (after changes made elsewhere). */
void hs_models_page_refresh(HsModelsPage *page);
/* Number of installed entries the page lists (as of its last refresh). */
guint hs_models_page_get_n_entries(HsModelsPage *page);
/* What the file chooser does once a folder is picked (public for tests). */
void hs_models_page_import(HsModelsPage *page, const char *folder);

#define HS_TYPE_MODELS_FIRST_RUN (hs_models_first_run_get_type())
G_DECLARE_FINAL_TYPE(HsModelsFirstRun, hs_models_first_run, HS, MODELS_FIRST_RUN, GtkWidget)

GtkWidget *hs_models_first_run_new(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url);
GtkWidget *hs_models_first_run_get_download_view(HsModelsFirstRun *self);

G_END_DECLS

#endif
