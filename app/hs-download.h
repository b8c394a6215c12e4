/* hs-download.h: one resumable, verified file transfer over HTTP(S) with libsoup 3.
 *
 * The content goes to `<dest>.part` (the server's ETag beside it in `<dest>.part.etag`); a later
 * call resumes with `Range: bytes=N-` and `If-Range`, after re-hashing what is already there. A
 * 416, a 200 answer to a range request or a changed ETag restart the file from zero. The SHA-256
 * (and, for small git files, the git blob SHA-1) is computed while streaming; only a file whose
 * size and hash match is renamed to `dest`. Transient failures (connection errors, 5xx, 408,
 * 429, short bodies) are retried with exponential backoff; cancellation leaves the .part file
 * for the next start. Synchronous: run it on a worker thread. */
#ifndef HS_DOWNLOAD_H
#define HS_DOWNLOAD_H

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct {
  guint max_failures;       /* consecutive failed attempts without progress before giving up */
  guint backoff_initial_ms; /* first retry delay; doubled per consecutive failure */
  guint backoff_max_ms;
} HsDownloadPolicy;

/* 4 failures, 1 s first delay, 30 s cap. */
void hs_download_policy_init(HsDownloadPolicy *policy);

/* What happened during one hs_download_file() call (for progress views, logs and tests). */
typedef struct {
  guint requests; /* HTTP requests sent */
  guint resumes;  /* requests that continued a .part file with a Range header */
  guint restarts; /* times a .part file was discarded (416, ETag change, bad hash) */
  guint failures; /* failed attempts that were retried */
  guint64 bytes_received;
  guint64 bytes_rehashed; /* bytes of an existing .part hashed before resuming */
  char sha256[65];        /* hex digest of the final file */
} HsDownloadStats;

/* Called from the downloading thread after every chunk: bytes of this file present so far.
 * rehashing is TRUE while an existing .part file is being hashed before the transfer resumes
 * (a visible "Verifying…" step: several seconds for a multi-GB file). */
typedef void (*HsDownloadProgressFunc)(guint64 file_done, guint64 file_total, gboolean rehashing,
                                       gpointer user_data);

/* Downloads url to dest. expected_sha256 (hex, required unless expected_git_oid is given) and
 * expected_size come from the pinned release or the tree API. On success dest exists, its
 * .part files are gone and stats->sha256 holds its digest. On G_IO_ERROR_CANCELLED the .part
 * file stays. A size or hash mismatch fails with G_IO_ERROR_INVALID_DATA after one clean
 * re-download, and leaves nothing behind. */
gboolean hs_download_file(SoupSession *session, const char *url, const char *dest,
                          guint64 expected_size, const char *expected_sha256,
                          const char *expected_git_oid, const HsDownloadPolicy *policy,
                          HsDownloadProgressFunc progress, gpointer user_data,
                          HsDownloadStats *stats, GCancellable *cancellable, GError **error);

/* SHA-256 of a file as lowercase hex (newly allocated), read in chunks; checks cancellation. */
char *hs_file_sha256(const char *path, GCancellable *cancellable, GError **error);

G_END_DECLS

#endif
