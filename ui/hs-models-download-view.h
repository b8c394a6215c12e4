/* hs-models-download-view.h: the progress view of the store's download: a progress bar, a line
 * "1.2 GB of 11.5 GB · 35 MB/s · about 4 min left · file 3 of 13", and a Download / Cancel
 * button. It only observes HsModelStore, which owns the download, so the download outlives any
 * window showing it. */
#ifndef HS_MODELS_DOWNLOAD_VIEW_H
#define HS_MODELS_DOWNLOAD_VIEW_H

#include <gtk/gtk.h>

#include "hs-model-store.h"

G_BEGIN_DECLS

#define HS_TYPE_MODELS_DOWNLOAD_VIEW (hs_models_download_view_get_type())
G_DECLARE_FINAL_TYPE(HsModelsDownloadView, hs_models_download_view, HS, MODELS_DOWNLOAD_VIEW,
                     GtkWidget)

/* release must outlive the view (the pinned release is static); base_url NULL = configured. */
GtkWidget *hs_models_download_view_new(HsModelStore *store, const HsModelRelease *release,
                                       const char *base_url);

/* For tests and the embedding window. */
GtkWidget *hs_models_download_view_get_button(HsModelsDownloadView *view);
GtkProgressBar *hs_models_download_view_get_progress_bar(HsModelsDownloadView *view);
const char *hs_models_download_view_get_status(HsModelsDownloadView *view);

/* "1.2 GB of 11.5 GB · 35.0 MB/s · about 4 min left · file 3 of 13" (newly allocated). */
char *hs_models_format_progress(const HsModelProgress *progress);

G_END_DECLS

#endif
