/* hs-hub.h: the parts of the Hugging Face hub HTTP API the model store uses: resolving a
 * revision to a commit, listing a revision's files with sizes and hashes, and file URLs.
 *
 * Everything here is synchronous and meant to run on a worker thread with its own SoupSession.
 * Paths coming from the server are untrusted: hs_hub_path_is_safe() is applied to every one. */
#ifndef HS_HUB_H
#define HS_HUB_H

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define HS_HUB_DEFAULT_URL "https://huggingface.co"
#define HS_HUB_URL_ENV "HART_STUDIO_HUB_URL"

/* One file of a repository revision as the tree API lists it. */
typedef struct {
  char *path;    /* relative, '/'-separated, checked with hs_hub_path_is_safe() */
  guint64 size;  /* bytes of the real content (lfs.size for LFS files) */
  char *sha256;  /* lowercase hex of the content (lfs.oid) or NULL for non-LFS files */
  char *git_oid; /* git blob SHA-1 of the content (oid), NULL if absent */
} HsHubFile;

void hs_hub_file_free(HsHubFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsHubFile, hs_hub_file_free)

/* The hub base URL: $HART_STUDIO_HUB_URL, else the GSettings key `download-base-url` of
 * io.github.hartstudio.HartStudio when that schema and key are installed and non-empty, else
 * https://huggingface.co. No trailing slash. */
char *hs_hub_base_url(void);

/* A new session for hub transfers: proxy from the default GProxyResolver (environment/GNOME),
 * a user agent, and an I/O timeout in seconds (0 = libsoup default). */
SoupSession *hs_hub_session_new(guint timeout_s);

/* TRUE when path is a relative path of plain components: no "..", no ".", no empty component,
 * no leading '/', no backslash or control characters, at most 255 bytes per component. */
gboolean hs_hub_path_is_safe(const char *path);

/* TRUE when a repository id is `owner/name` of [A-Za-z0-9._-] (no "..") or a revision is
 * [A-Za-z0-9._-]; used before either becomes a folder name or part of a URL. */
gboolean hs_hub_repo_id_is_valid(const char *repo_id);
gboolean hs_hub_revision_is_valid(const char *revision);

/* `<base>/<repo>/resolve/<revision>/<path>` with the path escaped per component. */
char *hs_hub_file_url(const char *base, const char *repo_id, const char *revision,
                      const char *path);

/* GET <base>/api/models/<repo>/revision/<revision> and return its "sha" (the full commit
 * hash). An abbreviated commit hash the endpoint refuses is looked up in main's history
 * (/api/models/<repo>/commits/main). When the endpoint is missing (404) the revision itself is
 * returned: mirrors that only serve files still work with a pinned full hash. */
char *hs_hub_resolve_revision(SoupSession *session, const char *base, const char *repo_id,
                              const char *revision, GCancellable *cancellable, GError **error);

/* GET <base>/api/models/<repo>/tree/<revision>?recursive=true and parse it into HsHubFile
 * entries (directories skipped). A malformed entry or an unsafe path fails the whole listing
 * with a message naming it. */
GPtrArray *hs_hub_list_files(SoupSession *session, const char *base, const char *repo_id,
                             const char *revision, GCancellable *cancellable, GError **error);

/* Parses a tree API JSON document (exposed for tests). */
GPtrArray *hs_hub_parse_tree(const char *json, gsize len, const char *what, GError **error);

G_END_DECLS

#endif
