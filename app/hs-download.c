/* hs-download.c: resumable, verified file transfers (see hs-download.h for the contract). */
#include "hs-download.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_SIZE (256 * 1024)
#define SLEEP_SLICE_US 10000

void hs_download_policy_init(HsDownloadPolicy *policy)
{
  policy->max_failures = 4;
  policy->backoff_initial_ms = 1000;
  policy->backoff_max_ms = 30000;
}

typedef struct {
  const char *url;
  const char *dest;
  char *part;
  char *etag_path;
  guint64 size;
  const char *sha256;
  const char *git_oid;
  GChecksum *sum256;
  GChecksum *sum1; /* git blob SHA-1, only when a git oid is expected */
  guint64 have;    /* bytes in the .part file, all of them hashed */
  int fd;
  HsDownloadProgressFunc progress;
  gpointer user_data;
  HsDownloadStats *stats;
} Transfer;

typedef enum {
  ATTEMPT_DONE,      /* the .part file holds `size` bytes */
  ATTEMPT_RETRY,     /* transient failure: back off, then resume */
  ATTEMPT_RETRY_NOW, /* the .part file was reset: start again without waiting */
  ATTEMPT_FAIL,      /* permanent failure or cancellation: error set */
} AttemptResult;

static void set_errno_error(GError **error, const char *what, const char *path, int errsv)
{
  g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv), "%s %s: %s", what, path,
              g_strerror(errsv));
}

static void checksums_reset(Transfer *t)
{
  g_clear_pointer(&t->sum256, g_checksum_free);
  g_clear_pointer(&t->sum1, g_checksum_free);
  t->sum256 = g_checksum_new(G_CHECKSUM_SHA256);
  if (t->git_oid != NULL) {
    /* git hashes "blob <size>\0" followed by the content. */
    g_autofree char *header = g_strdup_printf("blob %" G_GUINT64_FORMAT, t->size);
    t->sum1 = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(t->sum1, (const guchar *)header, (gssize)strlen(header) + 1);
  }
}

static void checksums_update(Transfer *t, const guchar *buf, gsize n)
{
  g_checksum_update(t->sum256, buf, (gssize)n);
  if (t->sum1 != NULL)
    g_checksum_update(t->sum1, buf, (gssize)n);
}

static char *read_etag(Transfer *t)
{
  char *etag = NULL;
  if (!g_file_get_contents(t->etag_path, &etag, NULL, NULL))
    return NULL;
  return g_strstrip(etag);
}

/* Throws away the partial content: the next request starts from byte 0. */
static gboolean part_reset(Transfer *t, GError **error)
{
  if (ftruncate(t->fd, 0) != 0 || lseek(t->fd, 0, SEEK_SET) != 0) {
    set_errno_error(error, "cannot truncate", t->part, errno);
    return FALSE;
  }
  g_unlink(t->etag_path);
  t->have = 0;
  checksums_reset(t);
  t->stats->restarts++;
  return TRUE;
}

/* Opens (or creates) the .part file and hashes what it already holds, so that the final digest
 * covers the whole file even across restarts of the app. */
static gboolean part_open(Transfer *t, GCancellable *cancellable, GError **error)
{
  guchar *buf;
  gssize n;

  t->fd = g_open(t->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (t->fd < 0) {
    set_errno_error(error, "cannot open", t->part, errno);
    return FALSE;
  }
  checksums_reset(t);
  t->have = 0;
  buf = g_malloc(CHUNK_SIZE);
  while ((n = read(t->fd, buf, CHUNK_SIZE)) != 0) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      set_errno_error(error, "cannot read", t->part, errno);
      g_free(buf);
      return FALSE;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
      g_free(buf);
      return FALSE;
    }
    checksums_update(t, buf, (gsize)n);
    t->have += (guint64)n;
    if (t->progress != NULL)
      t->progress(t->have, t->size, TRUE, t->user_data);
  }
  g_free(buf);
  t->stats->bytes_rehashed += t->have;
  if (t->have > t->size) {
    /* Longer than the file can be: nothing in it can be trusted. */
    t->stats->restarts--; /* part_reset counts it; this is not a server-caused restart */
    return part_reset(t, error);
  }
  return TRUE;
}

static gboolean write_all(Transfer *t, const guchar *buf, gsize n, GError **error)
{
  while (n > 0) {
    ssize_t w = write(t->fd, buf, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      set_errno_error(error, "cannot write", t->part, errno);
      return FALSE;
    }
    buf += w;
    n -= (gsize)w;
  }
  return TRUE;
}

static gboolean status_is_transient(guint status)
{
  return status >= 500 || status == SOUP_STATUS_REQUEST_TIMEOUT || status == 429;
}

static SoupMessage *build_request(Transfer *t)
{
  SoupMessage *msg = soup_message_new(SOUP_METHOD_GET, t->url);
  SoupMessageHeaders *h;
  g_autofree char *etag = NULL;

  if (msg == NULL)
    return NULL;
  h = soup_message_get_request_headers(msg);
  /* Content must arrive byte for byte as hashed upstream. */
  soup_message_headers_replace(h, "Accept-Encoding", "identity");
  if (t->have > 0) {
    soup_message_headers_set_range(h, (goffset)t->have, -1);
    etag = read_etag(t);
    /* If-Range: a server whose file changed answers 200 with the new content instead. */
    if (etag != NULL && etag[0] != '\0')
      soup_message_headers_replace(h, "If-Range", etag);
    t->stats->resumes++;
  }
  return msg;
}

/* Checks the response status and headers against the .part state. */
static AttemptResult check_response(Transfer *t, SoupMessage *msg, GError **error)
{
  SoupMessageHeaders *h = soup_message_get_response_headers(msg);
  guint status = soup_message_get_status(msg);
  const char *etag = soup_message_headers_get_one(h, "ETag");
  g_autofree char *old_etag = read_etag(t);
  goffset start = 0, end = 0, total = -1;
  goffset length = soup_message_headers_get_content_length(h);

  if (status == SOUP_STATUS_PARTIAL_CONTENT) {
    if (t->have == 0 || !soup_message_headers_get_content_range(h, &start, &end, &total) ||
        (guint64)start != t->have) {
      g_debug("%s: unexpected range answer; restarting", t->url);
      return part_reset(t, error) ? ATTEMPT_RETRY_NOW : ATTEMPT_FAIL;
    }
    if (total >= 0 && (guint64)total != t->size) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: the server's file has %" G_GINT64_FORMAT
                  " bytes, expected %" G_GUINT64_FORMAT "; refused",
                  t->url, (gint64)total, t->size);
      return ATTEMPT_FAIL;
    }
    if (old_etag != NULL && etag != NULL && strcmp(old_etag, etag) != 0) {
      g_debug("%s: ETag changed (%s -> %s); restarting", t->url, old_etag, etag);
      return part_reset(t, error) ? ATTEMPT_RETRY_NOW : ATTEMPT_FAIL;
    }
  } else if (status == SOUP_STATUS_OK) {
    if (t->have > 0 && !part_reset(t, error))
      return ATTEMPT_FAIL;
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
        (guint64)length != t->size) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: the server's file has %" G_GINT64_FORMAT
                  " bytes, expected %" G_GUINT64_FORMAT "; refused",
                  t->url, (gint64)length, t->size);
      return ATTEMPT_FAIL;
    }
  } else if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE) {
    g_debug("%s: 416 for bytes %" G_GUINT64_FORMAT "-; restarting", t->url, t->have);
    return part_reset(t, error) ? ATTEMPT_RETRY_NOW : ATTEMPT_FAIL;
  } else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: HTTP %u %s", t->url, status,
                soup_message_get_reason_phrase(msg));
    return status_is_transient(status) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
  }
  if (etag != NULL)
    g_file_set_contents(t->etag_path, etag, -1, NULL);
  return ATTEMPT_DONE;
}

/* Streams the body into the .part file, hashing as it goes. */
static AttemptResult read_body(Transfer *t, GInputStream *in, GCancellable *cancellable,
                               GError **error)
{
  guchar *buf = g_malloc(CHUNK_SIZE);
  AttemptResult result = ATTEMPT_DONE;

  for (;;) {
    GError *local = NULL;
    gssize n = g_input_stream_read(in, buf, CHUNK_SIZE, cancellable, &local);
    if (n < 0) {
      result =
          g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? ATTEMPT_FAIL : ATTEMPT_RETRY;
      g_propagate_prefixed_error(error, local, "%s: ", t->url);
      break;
    }
    if (n == 0)
      break;
    if (t->have + (guint64)n > t->size) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: more than the expected %" G_GUINT64_FORMAT " bytes; refused", t->url,
                  t->size);
      part_reset(t, NULL);
      result = ATTEMPT_FAIL;
      break;
    }
    if (!write_all(t, buf, (gsize)n, error)) {
      result = ATTEMPT_FAIL;
      break;
    }
    checksums_update(t, buf, (gsize)n);
    t->have += (guint64)n;
    t->stats->bytes_received += (guint64)n;
    if (t->progress != NULL)
      t->progress(t->have, t->size, FALSE, t->user_data);
  }
  g_free(buf);
  if (result == ATTEMPT_DONE && t->have < t->size) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                "%s: connection closed after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                t->url, t->have, t->size);
    result = ATTEMPT_RETRY;
  }
  return result;
}

static AttemptResult attempt(Transfer *t, SoupSession *session, GCancellable *cancellable,
                             GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in = NULL;
  GError *local = NULL;
  AttemptResult result;

  if (t->have == t->size)
    return ATTEMPT_DONE;
  msg = build_request(t);
  if (msg == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid URL %s", t->url);
    return ATTEMPT_FAIL;
  }
  t->stats->requests++;
  in = soup_session_send(session, msg, cancellable, &local);
  if (in == NULL) {
    result =
        g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? ATTEMPT_FAIL : ATTEMPT_RETRY;
    g_propagate_prefixed_error(error, local, "%s: ", t->url);
    return result;
  }
  result = check_response(t, msg, error);
  if (result == ATTEMPT_DONE)
    result = read_body(t, in, cancellable, error);
  /* Closing an unfinished body drops the connection, which is what a restart wants. */
  g_input_stream_close(in, NULL, NULL);
  return result;
}

/* Waits delay_ms, waking early on cancellation. */
static gboolean backoff_sleep(guint delay_ms, GCancellable *cancellable, GError **error)
{
  gint64 end = g_get_monotonic_time() + (gint64)delay_ms * 1000;
  while (g_get_monotonic_time() < end) {
    if (g_cancellable_set_error_if_cancelled(cancellable, error))
      return FALSE;
    g_usleep(SLEEP_SLICE_US);
  }
  return !g_cancellable_set_error_if_cancelled(cancellable, error);
}

/* Compares the digests; on a match records the SHA-256 in the stats. */
static gboolean digests_match(Transfer *t, GError **error)
{
  const char *got256 = g_checksum_get_string(t->sum256);
  if (t->sha256 != NULL && g_ascii_strcasecmp(got256, t->sha256) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "%s: SHA-256 mismatch (expected %s, got %s); file refused", t->url, t->sha256,
                got256);
    return FALSE;
  }
  if (t->sum1 != NULL && g_ascii_strcasecmp(g_checksum_get_string(t->sum1), t->git_oid) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "%s: git object id mismatch (expected %s, got %s); file refused", t->url,
                t->git_oid, g_checksum_get_string(t->sum1));
    return FALSE;
  }
  g_strlcpy(t->stats->sha256, got256, sizeof t->stats->sha256);
  return TRUE;
}

static gboolean finish(Transfer *t, GError **error)
{
  if (fsync(t->fd) != 0) {
    set_errno_error(error, "cannot sync", t->part, errno);
    return FALSE;
  }
  if (g_rename(t->part, t->dest) != 0) {
    set_errno_error(error, "cannot rename", t->part, errno);
    return FALSE;
  }
  g_unlink(t->etag_path);
  return TRUE;
}

/* The retry loop: attempts until the file is complete and verified, a permanent failure, or
 * max_failures consecutive attempts without progress. */
static gboolean run_transfer(Transfer *t, SoupSession *session, const HsDownloadPolicy *policy,
                             GCancellable *cancellable, GError **error)
{
  guint failures = 0, mismatches = 0;
  guint delay = policy->backoff_initial_ms;

  for (;;) {
    GError *local = NULL;
    guint64 before = t->have;
    AttemptResult r = attempt(t, session, cancellable, &local);

    if (r == ATTEMPT_DONE) {
      g_assert(t->have == t->size);
      if (digests_match(t, &local))
        return finish(t, error);
      /* Corruption in transit is possible once; a second mismatch means the file is wrong. */
      if (++mismatches > 1 || !part_reset(t, NULL)) {
        g_unlink(t->part);
        g_unlink(t->etag_path);
        g_propagate_error(error, local);
        return FALSE;
      }
      g_debug("%s; downloading it again", local->message);
      g_clear_error(&local);
      continue;
    }
    if (r == ATTEMPT_FAIL) {
      g_propagate_error(error, local);
      return FALSE;
    }
    if (t->have > before && r == ATTEMPT_RETRY) {
      failures = 0; /* progress was made: this is a new run of failures */
      delay = policy->backoff_initial_ms;
    }
    if (++failures > policy->max_failures) {
      g_propagate_prefixed_error(error, local, "giving up after %u failed attempts: ", failures);
      return FALSE;
    }
    t->stats->failures++;
    g_debug("retrying (%u): %s", failures, local ? local->message : "restart");
    g_clear_error(&local);
    if (r == ATTEMPT_RETRY) {
      if (!backoff_sleep(delay, cancellable, error))
        return FALSE;
      delay = MIN(delay * 2, policy->backoff_max_ms);
    }
  }
}

gboolean hs_download_file(SoupSession *session, const char *url, const char *dest,
                          guint64 expected_size, const char *expected_sha256,
                          const char *expected_git_oid, const HsDownloadPolicy *policy,
                          HsDownloadProgressFunc progress, gpointer user_data,
                          HsDownloadStats *stats, GCancellable *cancellable, GError **error)
{
  Transfer t = { 0 };
  HsDownloadStats local_stats = { 0 };
  HsDownloadPolicy default_policy;
  g_autofree char *dir = g_path_get_dirname(dest);
  gboolean ok;

  g_return_val_if_fail(expected_sha256 != NULL || expected_git_oid != NULL, FALSE);
  if (policy == NULL) {
    hs_download_policy_init(&default_policy);
    policy = &default_policy;
  }
  if (stats == NULL)
    stats = &local_stats;
  memset(stats, 0, sizeof *stats);
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    set_errno_error(error, "cannot create", dir, errno);
    return FALSE;
  }
  t.url = url;
  t.dest = dest;
  t.part = g_strconcat(dest, ".part", NULL);
  t.etag_path = g_strconcat(dest, ".part.etag", NULL);
  t.size = expected_size;
  t.sha256 = expected_sha256;
  t.git_oid = expected_git_oid;
  t.progress = progress;
  t.user_data = user_data;
  t.stats = stats;
  t.fd = -1;

  ok = part_open(&t, cancellable, error);
  if (ok && progress != NULL)
    progress(t.have, t.size, FALSE, user_data);
  if (ok)
    ok = run_transfer(&t, session, policy, cancellable, error);
  if (t.fd >= 0)
    close(t.fd);
  g_clear_pointer(&t.sum256, g_checksum_free);
  g_clear_pointer(&t.sum1, g_checksum_free);
  g_free(t.part);
  g_free(t.etag_path);
  return ok;
}

char *hs_file_sha256(const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  guchar *buf;
  gssize n;
  int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
  char *hex = NULL;

  if (fd < 0) {
    set_errno_error(error, "cannot open", path, errno);
    return NULL;
  }
  buf = g_malloc(CHUNK_SIZE);
  for (;;) {
    n = read(fd, buf, CHUNK_SIZE);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_errno_error(error, "cannot read", path, errno);
      break;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, error))
      break;
    if (n == 0) {
      hex = g_strdup(g_checksum_get_string(sum));
      break;
    }
    g_checksum_update(sum, buf, n);
  }
  g_free(buf);
  close(fd);
  return hex;
}
