/* hs-model-release.h: what Hart Studio downloads: the pinned Hugging Face repositories of a
 * release, which of their files the engine needs, and the sizes/hashes known in advance. */
#ifndef HS_MODEL_RELEASE_H
#define HS_MODEL_RELEASE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HS_MODEL_PART_HART = 0, /* a folder with llm/ and tokenizer/ */
  HS_MODEL_PART_TEXT = 1, /* a Qwen2 folder (config.json, safetensors, tokenizer.json) */
} HsModelPart;

const char *hs_model_part_name(HsModelPart part); /* "hart" / "text" */
gboolean hs_model_part_from_name(const char *name, HsModelPart *part);

/* A file whose size and SHA-256 are shipped with the app: a tree listing that disagrees is an
 * upstream change and is refused rather than silently used. */
typedef struct {
  const char *path;
  guint64 size;
  const char *sha256;
} HsPinnedFile;

typedef struct {
  HsModelPart part;
  const char *repo_id;
  const char *revision; /* a commit (full or abbreviated) or a tag; resolved to the full hash */
  const HsPinnedFile *pinned;
  guint n_pinned;
} HsModelComponent;

typedef struct {
  const char *name;
  HsModelComponent components[2];
  guint n_components;
} HsModelRelease;

/* The release Hart Studio is built for: mit-han-lab/hart-0.7b-1024px and
 * mit-han-lab/Qwen2-VL-1.5B-Instruct at pinned revisions. */
const HsModelRelease *hs_model_release_default(void);

/* Whether the engine needs a file of the component's tree listing (`listed` holds every listed
 * path, for rules like "skip the non-EMA weights when the EMA checkpoint is there"). */
gboolean hs_model_component_wants(const HsModelComponent *component, const char *path,
                                  GHashTable *listed);

/* The pinned entry for path, or NULL. */
const HsPinnedFile *hs_model_component_pinned(const HsModelComponent *component, const char *path);

/* Folder name of a repository in the store: "owner--name" (caller checked the id). */
char *hs_model_repo_dirname(const char *repo_id);

G_END_DECLS

#endif
