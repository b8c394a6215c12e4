/* hs-fake-hub.h: a Hugging Face hub look-alike on 127.0.0.1 for the model store tests: a
 * SoupServer on its own thread serving the revision and tree APIs and resolve URLs with Range,
 * If-Range and ETags, plus injectable failures. */
#ifndef HS_FAKE_HUB_H
#define HS_FAKE_HUB_H

#include <glib.h>

typedef enum {
  HS_FAULT_NONE = 0,
  HS_FAULT_DROP,  /* send the headers and half of the body, then close the connection */
  HS_FAULT_500,   /* answer 500 Internal Server Error */
  HS_FAULT_416,   /* answer a range request with 416 */
  HS_FAULT_SLOW,  /* send the body in 16 KiB pieces with a 2 ms pause after each */
  HS_FAULT_STALL, /* send half of the body, then go silent for 2.5 s and close */
} HsFault;

typedef struct _HsFakeHub HsFakeHub;

HsFakeHub *hs_fake_hub_new(void);
void hs_fake_hub_free(HsFakeHub *hub);
const char *hs_fake_hub_url(HsFakeHub *hub); /* "http://127.0.0.1:PORT" */

/* A repository whose revision `abbrev` (or "main") resolves to the 40-hex `full`. */
void hs_fake_hub_add_repo(HsFakeHub *hub, const char *repo, const char *abbrev, const char *full);
/* strict: the revision API refuses the abbreviation (404), as the real hub may; the client
 * then finds the commit through /api/models/<repo>/commits/main. */
void hs_fake_hub_set_strict_revisions(HsFakeHub *hub, const char *repo, gboolean strict);
/* A file with content; lfs: listed with lfs.oid/lfs.size (else with its git blob id). */
void hs_fake_hub_add_file(HsFakeHub *hub, const char *repo, const char *path, GBytes *content,
                          gboolean lfs);
/* The same, reading the content from disk; FALSE when it is missing. */
gboolean hs_fake_hub_add_file_from(HsFakeHub *hub, const char *repo, const char *path,
                                   const char *disk_path, gboolean lfs);
/* The listing advertises this SHA-256 / size instead of the true ones. */
void hs_fake_hub_set_listed_sha256(HsFakeHub *hub, const char *repo, const char *path,
                                   const char *sha256);
void hs_fake_hub_set_listed_size(HsFakeHub *hub, const char *repo, const char *path, guint64 size);
/* Queues faults for the next requests of a file, one per request. */
void hs_fake_hub_push_fault(HsFakeHub *hub, const char *repo, const char *path, HsFault fault);
/* Changes the file's ETag (as if the file had been replaced upstream); ignore_if_range makes the
 * server answer 206 regardless of If-Range, like a careless mirror. */
void hs_fake_hub_set_etag(HsFakeHub *hub, const char *repo, const char *path, const char *etag,
                          gboolean ignore_if_range);

typedef struct {
  guint requests;       /* GET requests for the file */
  guint range_requests; /* of which with a Range header */
  guint64 last_range_start;
  guint full_answers; /* 200 answers with the whole body */
} HsFakeHubCounts;

HsFakeHubCounts hs_fake_hub_counts(HsFakeHub *hub, const char *repo, const char *path);
/* All requests the server received (API and files). */
guint hs_fake_hub_total_requests(HsFakeHub *hub);

/* The SHA-256 hex of a file's content (newly allocated). */
char *hs_fake_hub_sha256(HsFakeHub *hub, const char *repo, const char *path);

/* The fake release of the model store tests, built from $HART_SHARED: HS_FAKE_HART_REPO
 * (shared/golden/tiny: llm/config.json, llm/ema_model.bin, llm/model.safetensors,
 * tokenizer/config.json, tokenizer/model.safetensors, plus README.md and .gitattributes) at
 * revision "a1b2c3d" = HS_FAKE_HART_FULL, and HS_FAKE_TEXT_REPO (shared/text/qwen2-tiny with
 * shared/text/tokenizer.json, tokenizer_config.json, README.md) at "main" = HS_FAKE_TEXT_FULL.
 * NULL when the shared data is missing. */
#define HS_FAKE_HART_REPO "test-org/hart-tiny"
#define HS_FAKE_HART_FULL "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
#define HS_FAKE_TEXT_REPO "test-org/qwen2-tiny"
#define HS_FAKE_TEXT_FULL "c0ffee0123456789abcdef0123456789abcdef01"
HsFakeHub *hs_fake_hub_new_release(void);

#endif
