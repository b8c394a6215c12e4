/* hs-model-manifest.h: manifest.json of one model revision in the store: where it came from,
 * its files with sizes and SHA-256, and its state. */
#ifndef HS_MODEL_MANIFEST_H
#define HS_MODEL_MANIFEST_H

#include <gio/gio.h>

#include "hs-model-release.h"

G_BEGIN_DECLS

#define HS_MODEL_MANIFEST_NAME "manifest.json"

typedef enum {
  HS_MODEL_STATE_INCOMPLETE = 0, /* downloading or importing */
  HS_MODEL_STATE_READY = 1,      /* every file verified, converted, validated with the engine */
  HS_MODEL_STATE_BROKEN = 2,     /* verification or validation failed: see message */
} HsModelState;

typedef enum {
  HS_MODEL_FILE_PENDING = 0,   /* not (fully) present yet */
  HS_MODEL_FILE_COMPLETE = 1,  /* present, size and SHA-256 verified */
  HS_MODEL_FILE_CONVERTED = 2, /* a torch checkpoint replaced by `converted_to` (removed) */
} HsModelFileState;

typedef struct {
  char *path;
  guint64 size;
  char *sha256;  /* hex; NULL until known (non-LFS files are checked by git_oid first) */
  char *git_oid; /* git blob SHA-1 from the tree API, or NULL */
  HsModelFileState state;
  char *converted_from; /* for files written by the conversion */
  char *converted_to;   /* for checkpoints replaced by the conversion */
} HsModelFile;

typedef struct {
  char *repo_id;
  char *revision;           /* full commit hash, or "local-<hash>" for imports */
  char *requested_revision; /* what the release pinned (may be abbreviated) */
  HsModelPart part;
  char *source; /* "download:<base url>" or "import:<folder>" */
  HsModelState state;
  char *message;    /* why the entry is broken, or "" */
  GPtrArray *files; /* HsModelFile */
} HsModelManifest;

HsModelManifest *hs_model_manifest_new(const char *repo_id, const char *revision, HsModelPart part);
void hs_model_manifest_free(HsModelManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsModelManifest, hs_model_manifest_free)

HsModelFile *hs_model_manifest_add(HsModelManifest *manifest, const char *path, guint64 size);
HsModelFile *hs_model_manifest_find(const HsModelManifest *manifest, const char *path);
void hs_model_manifest_set_message(HsModelManifest *manifest, HsModelState state,
                                   const char *message);

/* Bytes of the files currently present (complete files, converted outputs included). */
guint64 hs_model_manifest_size_on_disk(const HsModelManifest *manifest);

const char *hs_model_state_name(HsModelState state);

/* Reads <dir>/manifest.json; a malformed manifest is an error naming the member. */
HsModelManifest *hs_model_manifest_load(const char *dir, GError **error);
/* Writes <dir>/manifest.json atomically. */
gboolean hs_model_manifest_save(const HsModelManifest *manifest, const char *dir, GError **error);

G_END_DECLS

#endif
