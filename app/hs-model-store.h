/* hs-model-store.h: the model store: one folder per model revision under
 * $XDG_DATA_HOME/hart-studio/models (`<owner>--<name>/<revision>/`), each with a manifest.json
 * of its files, sizes, SHA-256 and state. Downloads the pinned release from the hub (resumable,
 * verified), imports existing folders, converts PyTorch checkpoints once, verifies and deletes.
 *
 * The *_sync functions block and are meant for worker threads and the command-line tool; the
 * async download runs them on a GTask thread and emits ::progress on the main context of the
 * thread that created the store (coalesced: the latest progress wins). */
#ifndef HS_MODEL_STORE_H
#define HS_MODEL_STORE_H

#include <gio/gio.h>

#include "hs-download.h"
#include "hs-model-manifest.h"
#include "hs-model-release.h"

G_BEGIN_DECLS

#define HS_TYPE_MODEL_STORE (hs_model_store_get_type())
G_DECLARE_FINAL_TYPE(HsModelStore, hs_model_store, HS, MODEL_STORE, GObject)

typedef enum {
  HS_MODEL_PHASE_PREPARING = 0,   /* resolving revisions, listing files, checking space */
  HS_MODEL_PHASE_DOWNLOADING = 1, /* includes re-hashing a .part file before resuming */
  HS_MODEL_PHASE_COPYING = 2,     /* import */
  HS_MODEL_PHASE_VERIFYING = 3,
  HS_MODEL_PHASE_CONVERTING = 4,
  HS_MODEL_PHASE_VALIDATING = 5,
  HS_MODEL_PHASE_DONE = 6,
} HsModelPhase;

typedef struct {
  HsModelPhase phase;
  const char *repo_id; /* component being worked on (may be NULL) */
  const char *path;    /* file being worked on (may be NULL) */
  guint file_index;    /* 1-based over the whole job */
  guint n_files;
  guint64 bytes_done; /* over the whole job */
  guint64 bytes_total;
  double bytes_per_second; /* smoothed transfer rate, 0 when unknown */
  double eta_seconds;      /* remaining time at that rate, < 0 when unknown */
} HsModelProgress;

typedef void (*HsModelProgressFunc)(const HsModelProgress *progress, gpointer user_data);

/* One installed model revision. */
typedef struct {
  char *dir;
  HsModelManifest *manifest;
} HsModelEntry;

void hs_model_entry_free(HsModelEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsModelEntry, hs_model_entry_free)

/* $XDG_DATA_HOME/hart-studio/models (newly allocated). */
char *hs_model_store_default_root(void);

/* root NULL = hs_model_store_default_root(). */
HsModelStore *hs_model_store_new(const char *root);
const char *hs_model_store_get_root(HsModelStore *store);

/* Tuning (tests use short delays and timeouts): retry policy, I/O timeout in seconds. */
void hs_model_store_set_policy(HsModelStore *store, const HsDownloadPolicy *policy);
void hs_model_store_set_timeout(HsModelStore *store, guint timeout_s);
/* Pretend the disk has this many free bytes (-1: ask the file system). For tests. */
void hs_model_store_set_free_space_override(HsModelStore *store, gint64 free_bytes);

/* <root>/<owner>--<name>/<revision> (newly allocated; NULL for an invalid id or revision). */
char *hs_model_store_entry_dir(HsModelStore *store, const char *repo_id, const char *revision);

/* Every entry with a readable manifest, sorted by folder. */
GPtrArray *hs_model_store_list(HsModelStore *store);

/* Downloads every component of release that is not already ready. base_url NULL = the
 * configured hub (hs_hub_base_url()). */
gboolean hs_model_store_download_sync(HsModelStore *store, const HsModelRelease *release,
                                      const char *base_url, HsModelProgressFunc progress,
                                      gpointer user_data, GCancellable *cancellable,
                                      GError **error);

void hs_model_store_download_async(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean hs_model_store_download_finish(HsModelStore *store, GAsyncResult *result, GError **error);

/* The store's own download, for UIs: it belongs to the store (normally one per application),
 * not to a window, so closing the window that started it leaves it running; ::progress reports
 * it and ::download-finished (const GError *error, NULL on success; G_IO_ERROR_CANCELLED after
 * hs_model_store_cancel_download) ends it, with notify::downloading. Starting while one runs
 * does nothing. A cancelled download keeps its .part files and resumes on the next start. */
void hs_model_store_start_download(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url);
void hs_model_store_cancel_download(HsModelStore *store);
gboolean hs_model_store_get_downloading(HsModelStore *store);
/* The last progress reported for the store's download (phase PREPARING before any). */
const HsModelProgress *hs_model_store_get_last_progress(HsModelStore *store);

/* Imports a HART folder (llm/ + tokenizer/) or a Qwen2 folder: validates it first, copies (or
 * hard-links) the needed files into the store hashing them, converts checkpoints and validates
 * again. Returns the new entry's folder. Broken folders are refused with a message naming the
 * file and problem. */
char *hs_model_store_import_sync(HsModelStore *store, const char *src_dir,
                                 HsModelProgressFunc progress, gpointer user_data,
                                 GCancellable *cancellable, GError **error);

/* Re-hashes every file of an entry against its manifest and validates it; records the outcome
 * (ready or broken with a message) in the manifest. */
gboolean hs_model_store_verify_sync(HsModelStore *store, const char *entry_dir,
                                    HsModelProgressFunc progress, gpointer user_data,
                                    GCancellable *cancellable, GError **error);

/* Removes an entry (only folders inside the store root). */
gboolean hs_model_store_delete(HsModelStore *store, const char *entry_dir, GError **error);

/* The ready folders to open the engine with: for each part the entry of the release's pinned
 * revision if ready, else a ready imported one. FALSE when either part is missing. */
gboolean hs_model_store_find_ready(HsModelStore *store, const HsModelRelease *release,
                                   char **hart_dir, char **text_dir);

G_END_DECLS

#endif
